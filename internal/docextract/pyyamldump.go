package docextract

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/run"
)

// dumpYAML writes docs as PyYAML's dump_all(docs, allow_unicode=True,
// sort_keys=False) does with its defaults: block style, indent 2, lines
// folded at spaces past column 80, sequences in mappings not indented,
// "---" before every document but the first, "..." after a plain scalar
// at the root. Strings are plain where PyYAML's analysis allows it and
// the plain form would read back as a string, else single-quoted, else
// (special characters) double-quoted. Keys longer than 128 characters,
// which PyYAML writes as "? " complex keys, are written as simple keys.
func dumpYAML(docs []any) string {
	e := &yemitter{}
	for i, d := range docs {
		if i > 0 {
			e.put("---")
			if isCollection(d) {
				e.newline()
			} else {
				e.put(" ")
			}
		}
		e.openEnded = false
		e.node(d, 0, true)
		e.newline()
	}
	if e.openEnded {
		e.put("...\n")
	}
	return e.b.String()
}

func isCollection(v any) bool {
	switch x := v.(type) {
	case []any:
		return len(x) > 0
	case *ymap:
		return len(x.keys) > 0
	}
	return false
}

type yemitter struct {
	b         strings.Builder
	column    int
	openEnded bool
}

func (e *yemitter) put(s string) {
	e.b.WriteString(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		e.column = utf8.RuneCountInString(s[i+1:])
	} else {
		e.column += utf8.RuneCountInString(s)
	}
}

func (e *yemitter) newline() { e.put("\n") }

func (e *yemitter) indent(n int) {
	e.newline()
	e.put(strings.Repeat(" ", n))
}

// node writes v where the cursor is; indent is the indent of v's
// continuation lines and nested items.
func (e *yemitter) node(v any, indent int, root bool) {
	switch x := v.(type) {
	case *ymap:
		if len(x.keys) == 0 {
			e.put("{}")
			return
		}
		for i, k := range x.keys {
			if i > 0 {
				e.indent(indent)
			}
			e.scalar(k, indent+2, true, false)
			e.put(":")
			switch val := x.vals[i].(type) {
			case *ymap:
				if len(val.keys) > 0 {
					e.indent(indent + 2)
					e.node(val, indent+2, false)
					continue
				}
			case []any:
				if len(val) > 0 {
					e.indent(indent)
					e.node(val, indent, false)
					continue
				}
			}
			e.put(" ")
			e.node(x.vals[i], indent+2, false)
		}
	case []any:
		if len(x) == 0 {
			e.put("[]")
			return
		}
		for i, item := range x {
			if i > 0 {
				e.indent(indent)
			}
			e.put("- ")
			e.node(item, indent+2, false)
		}
	default:
		if root {
			indent = 2
		}
		e.scalar(v, indent, false, root)
	}
}

// scalar writes a scalar; key is set for a mapping key (not folded).
func (e *yemitter) scalar(v any, indent int, key, root bool) {
	switch x := v.(type) {
	case nil:
		e.put("null")
	case bool:
		e.put(strconv.FormatBool(x))
	case int64:
		e.put(strconv.FormatInt(x, 10))
	case float64:
		e.put(yamlFloat(x))
	case string:
		e.str(x, indent, key, root)
	default:
		e.str(py.Str(x), indent, key, root)
	}
	if root {
		switch x := v.(type) {
		case string:
			e.openEnded = x != "" && e.plainOK(x, key)
		default:
			e.openEnded = true
		}
	}
}

func yamlFloat(f float64) string {
	s := strings.ToLower(py.Float(f))
	switch s {
	case "nan":
		return ".nan"
	case "inf":
		return ".inf"
	case "-inf":
		return "-.inf"
	}
	if !strings.Contains(s, ".") && strings.Contains(s, "e") {
		s = strings.Replace(s, "e", ".0e", 1)
	}
	return s
}

func (e *yemitter) plainOK(s string, key bool) bool {
	a := analyze(s)
	if !a.blockPlain || key && a.multiline {
		return false
	}
	v, err := run.ResolvePlainYAML(s)
	if err != nil {
		return false
	}
	r, ok := v.(string)
	return ok && r == s
}

func (e *yemitter) str(s string, indent int, key, root bool) {
	a := analyze(s)
	switch {
	case e.plainOK(s, key):
		e.folded(s, indent, !key, false)
	case a.singleQuoted && !(key && a.multiline):
		e.put("'")
		e.folded(s, indent, !key, true)
		e.put("'")
	default:
		e.doubleQuoted(s)
	}
}

func isBreak(r rune) bool { return r == '\n' || r == 0x85 || r == 0x2028 || r == 0x2029 }

// folded writes a plain or single-quoted scalar, breaking lines at single
// spaces past column 80 and, single-quoted, writing each line break of
// the text as one more line break.
func (e *yemitter) folded(s string, indent int, split, quoted bool) {
	rs := []rune(s)
	start := 0
	spaces, breaks := false, false
	for end := 0; end <= len(rs); end++ {
		var ch rune = -1
		if end < len(rs) {
			ch = rs[end]
		}
		switch {
		case spaces:
			if ch != ' ' {
				if start+1 == end && e.column > 80 && split && (!quoted || start != 0 && end != len(rs)) {
					e.indent(indent)
				} else {
					e.put(string(rs[start:end]))
				}
				start = end
			}
		case breaks:
			if ch == -1 || !isBreak(ch) {
				if rs[start] == '\n' {
					e.newline()
				}
				for _, br := range rs[start:end] {
					if br == '\n' {
						e.newline()
					} else {
						e.put(string(br))
					}
				}
				e.put(strings.Repeat(" ", indent))
				start = end
			}
		default:
			if ch == -1 || ch == ' ' || isBreak(ch) || quoted && ch == '\'' {
				if start < end {
					e.put(string(rs[start:end]))
					start = end
				}
			}
		}
		if quoted && ch == '\'' {
			e.put("''")
			start = end + 1
		}
		if ch != -1 {
			spaces, breaks = ch == ' ', isBreak(ch)
		}
	}
}

var yamlEscapes = map[rune]string{
	0: "0", 7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r", 27: "e",
	'"': `"`, '\\': `\`, 0x85: "N", 0xa0: "_", 0x2028: "L", 0x2029: "P",
}

func (e *yemitter) doubleQuoted(s string) {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		printable := r >= 0x20 && r <= 0x7e || r >= 0xa0 && r <= 0xd7ff || r >= 0xe000 && r <= 0xfffd
		if printable && r != '"' && r != '\\' && r != 0xfeff && r != 0xa0 {
			b.WriteRune(r)
			continue
		}
		if esc, ok := yamlEscapes[r]; ok {
			b.WriteString(`\` + esc)
			continue
		}
		switch {
		case r <= 0xff:
			b.WriteString(`\x` + hex(r, 2))
		case r <= 0xffff:
			b.WriteString(`\u` + hex(r, 4))
		default:
			b.WriteString(`\U` + hex(r, 8))
		}
	}
	b.WriteByte('"')
	e.put(b.String())
}

func hex(r rune, n int) string {
	s := strconv.FormatInt(int64(r), 16)
	return strings.Repeat("0", n-len(s)) + strings.ToUpper(s)
}

// analysis is what PyYAML's Emitter.analyze_scalar finds for block
// context (the flow indicators matter only in flow style, never used).
type analysis struct {
	multiline, blockPlain, singleQuoted bool
}

func analyze(s string) analysis {
	if s == "" {
		return analysis{singleQuoted: true}
	}
	rs := []rune(s)
	var blockInd, lineBreaks, special bool
	var leadSpace, leadBreak, trailSpace, trailBreak, breakSpace, spaceBreak bool
	if strings.HasPrefix(s, "---") || strings.HasPrefix(s, "...") {
		blockInd = true
	}
	preceded, followed := true, len(rs) == 1 || isSpaceOrBreak(rs[1])
	prevSpace, prevBreak := false, false
	for i, ch := range rs {
		if i == 0 {
			switch {
			case strings.ContainsRune("#,[]{}&*!|>'\"%@`", ch):
				blockInd = true
			case ch == '?' || ch == ':':
				if followed {
					blockInd = true
				}
			case ch == '-' && followed:
				blockInd = true
			}
		} else {
			switch {
			case ch == ':':
				if followed {
					blockInd = true
				}
			case ch == '#' && preceded:
				blockInd = true
			}
		}
		if isBreak(ch) {
			lineBreaks = true
		}
		if !(ch == '\n' || ch >= 0x20 && ch <= 0x7e) {
			uni := ch == 0x85 || ch >= 0xa0 && ch <= 0xd7ff || ch >= 0xe000 && ch <= 0xfffd || ch >= 0x10000 && ch < 0x10ffff
			if !uni || ch == 0xfeff {
				special = true
			}
		}
		switch {
		case ch == ' ':
			if i == 0 {
				leadSpace = true
			}
			if i == len(rs)-1 {
				trailSpace = true
			}
			if prevBreak {
				breakSpace = true
			}
			prevSpace, prevBreak = true, false
		case isBreak(ch):
			if i == 0 {
				leadBreak = true
			}
			if i == len(rs)-1 {
				trailBreak = true
			}
			if prevSpace {
				spaceBreak = true
			}
			prevSpace, prevBreak = false, true
		default:
			prevSpace, prevBreak = false, false
		}
		preceded = strings.ContainsRune("\x00 \t\r\n\x85\u2028\u2029", ch)
		followed = i+2 >= len(rs) || isSpaceOrBreak(rs[i+2])
	}
	a := analysis{multiline: lineBreaks, blockPlain: true, singleQuoted: true}
	if leadSpace || leadBreak || trailSpace || trailBreak {
		a.blockPlain = false
	}
	if breakSpace {
		a.blockPlain, a.singleQuoted = false, false
	}
	if spaceBreak || special {
		a.blockPlain, a.singleQuoted = false, false
	}
	if lineBreaks || blockInd {
		a.blockPlain = false
	}
	return a
}

func isSpaceOrBreak(r rune) bool {
	return strings.ContainsRune("\x00 \t\r\n\x85\u2028\u2029", r)
}
