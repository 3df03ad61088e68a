// Package jsonpath is a Go port of the JSONPath dialect of Python's
// jsonpath-ng (jsonpath_ng.parse, version 1.8, not the ext dialect), which
// Dify's json_process plugin uses: its grammar and operator precedence,
// its matching rules (Slice's coercion of non-lists, Index on strings and
// mappings, '*' on mappings only, descendants, where, wherenot, union,
// `this` and `parent`), the path of each match and updates through it,
// and its error messages.
//
// Documents are pyjson values with mutable containers: *pyjson.Object and
// *pyjson.List (see pyjson.Mutable).
package jsonpath

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// token types besides the literal characters (whose type is the
// character itself).
const (
	tokID       = "ID"
	tokNumber   = "NUMBER"
	tokDoubleDt = "DOUBLEDOT"
	tokNamedOp  = "NAMED_OPERATOR"
	tokWhere    = "WHERE"
	tokWhereNot = "WHERENOT"
)

type token struct {
	typ       string
	text      string // ID, NAMED_OPERATOR and literals
	num       int    // NUMBER
	line, col int
	// pos is PLY's lexpos: where the token starts, or for a quoted one
	// where its closing quote is.
	pos int
}

// value is the token's value as PLY prints it in parse errors.
func (t token) value() string {
	if t.typ == tokNumber {
		return strconv.Itoa(t.num)
	}
	return t.text
}

const literals = "*.[]()$,:|&~"

var (
	idRE     = regexp.MustCompile(`^(?:[a-zA-Z_@\x{4E00}-\x{9FA5}\x{1F600}-\x{1F64F}])(?:[a-zA-Z0-9_@\-\x{4E00}-\x{9FA5}\x{1F600}-\x{1F64F}])*`)
	numberRE = regexp.MustCompile(`^-?[0-9]+`)
)

// lexer yields the tokens of a path one at a time, so that a lexing error
// past a parse error is not reported, as with PLY.
type lexer struct {
	s           string
	pos         int
	line        int
	lastNewline int
}

// LexError is jsonpath-ng's JsonPathLexerError.
type LexError struct{ msg string }

func (e *LexError) Error() string { return e.msg }

// next returns the next token, or nil at the end.
func (l *lexer) next() (*token, error) {
	for l.pos < len(l.s) {
		c := l.s[l.pos]
		switch {
		case c == ' ' || c == '\t':
			l.pos++
			continue
		case c == '\n':
			l.line++
			l.lastNewline = l.pos
			l.pos++
			continue
		}
		rest := l.s[l.pos:]
		t := &token{line: l.line, col: l.pos - l.lastNewline, pos: l.pos}
		switch m := idRE.FindString(rest); {
		case m != "":
			t.typ, t.text = tokID, m
			switch m {
			case "where":
				t.typ = tokWhere
			case "wherenot":
				t.typ = tokWhereNot
			}
			l.pos += len(m)
			return t, nil
		}
		if m := numberRE.FindString(rest); m != "" {
			n, err := strconv.Atoi(m)
			if err != nil {
				return nil, &LexError{fmt.Sprintf("Error on line %d, col %d: number too large: %s ", l.line, t.col, m)}
			}
			t.typ, t.num = tokNumber, n
			l.pos += len(m)
			return t, nil
		}
		switch c {
		case '\'', '"', '`':
			return l.quoted(t, c)
		}
		if strings.HasPrefix(rest, "..") {
			t.typ, t.text = tokDoubleDt, ".."
			l.pos += 2
			return t, nil
		}
		if strings.IndexByte(literals, c) >= 0 {
			t.typ, t.text = string(c), string(c)
			l.pos++
			return t, nil
		}
		r, _ := utf8.DecodeRuneInString(rest)
		return nil, &LexError{fmt.Sprintf("Error on line %d, col %d: Unexpected character: %c ", l.line, t.col, r)}
	}
	return nil, nil
}

// quoted reads a quoted field ('…' or "…", an ID) or a named operator
// (`…`), with backslash escapes.
func (l *lexer) quoted(t *token, q byte) (*token, error) {
	what := map[byte]string{'\'': "singlequoted field", '"': "doublequoted field", '`': "backquoted operator"}[q]
	var b strings.Builder
	i := l.pos + 1
	for i < len(l.s) {
		switch c := l.s[i]; c {
		case q:
			l.pos = i + 1
			t.pos, t.col = i, i-l.lastNewline
			t.typ, t.text = tokID, b.String()
			if q == '`' {
				t.typ = tokNamedOp
			}
			return t, nil
		case '\\':
			r, size := utf8.DecodeRuneInString(l.s[i+1:])
			if size == 0 || r == '\n' {
				return nil, &LexError{fmt.Sprintf("Error on line %d, col %d while lexing %s: Unexpected character: \\ ", l.line, i-l.lastNewline, what)}
			}
			b.WriteRune(r)
			i += 1 + size
		default:
			b.WriteByte(c)
			i++
		}
	}
	return nil, &LexError{"Unexpected EOF in string literal or identifier"}
}
