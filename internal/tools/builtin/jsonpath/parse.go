package jsonpath

import "fmt"

// ParseError is jsonpath-ng's JsonPathParserError.
type ParseError struct{ msg string }

func (e *ParseError) Error() string { return e.msg }

// maxNesting bounds parentheses and operator chains, so that a hostile
// path cannot exhaust the stack.
const maxNesting = 1000

// Parse compiles a path as jsonpath_ng.parse does. Operators bind, from
// loosest to tightest: "..", ".", "|", "&", "where", "wherenot" (all left
// associative); brackets bind to the path before them.
func Parse(s string) (*Path, error) {
	p := &parser{lex: &lexer{s: s, line: 1}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	e, err := p.expr(0, 0)
	if err != nil {
		return nil, err
	}
	if p.tok != nil {
		return nil, p.fail()
	}
	return &Path{expr: e}, nil
}

// Path is a compiled JSONPath.
type Path struct{ expr expr }

type parser struct {
	lex *lexer
	tok *token // nil at the end
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// fail is PLY's p_error for the current token.
func (p *parser) fail() error {
	if p.tok == nil {
		return &ParseError{"Parse error near the end of string!"}
	}
	return &ParseError{fmt.Sprintf("Parse error at %d:%d near token %s (%s)", p.tok.line, p.tok.col, p.tok.value(), p.tok.typ)}
}

func (p *parser) is(typ string) bool { return p.tok != nil && p.tok.typ == typ }

func (p *parser) expect(typ string) error {
	if !p.is(typ) {
		return p.fail()
	}
	return p.advance()
}

// precedence of the binary operators (higher binds tighter).
var precedence = map[string]int{tokDoubleDt: 1, ".": 2, "|": 3, "&": 4, tokWhere: 5, tokWhereNot: 6}

// expr parses operators of at least precedence min (precedence
// climbing).
func (p *parser) expr(min, depth int) (expr, error) {
	if depth > maxNesting {
		return nil, &ParseError{"Parse error: path nested too deeply"}
	}
	left, err := p.postfix(depth)
	if err != nil {
		return nil, err
	}
	for p.tok != nil {
		prec, ok := precedence[p.tok.typ]
		if !ok || prec < min {
			break
		}
		op := p.tok.typ
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.expr(prec+1, depth+1)
		if err != nil {
			return nil, err
		}
		left = binary(op, left, right)
	}
	return left, nil
}

func binary(op string, l, r expr) expr {
	switch op {
	case ".":
		return child{l, r}
	case tokDoubleDt:
		return descendants{l, r}
	case tokWhere:
		return where{l, r, false}
	case tokWhereNot:
		return where{l, r, true}
	case "|":
		return union{l, r}
	}
	return intersect{}
}

// postfix parses a primary path followed by any bracket selections.
func (p *parser) postfix(depth int) (expr, error) {
	e, err := p.primary(depth)
	if err != nil {
		return nil, err
	}
	for p.is("[") {
		sel, err := p.brackets()
		if err != nil {
			return nil, err
		}
		e = child{e, sel}
	}
	return e, nil
}

func (p *parser) primary(depth int) (expr, error) {
	if p.tok == nil {
		return nil, p.fail()
	}
	switch t := p.tok; t.typ {
	case tokID:
		return p.fieldList()
	case "*":
		return fields{"*"}, p.advance()
	case tokNumber:
		return fields{t.value()}, p.advance()
	case "$":
		return root{}, p.advance()
	case tokNamedOp:
		switch t.text {
		case "this":
			return this{}, p.advance()
		case "parent":
			return parent{}, p.advance()
		}
		return nil, &ParseError{fmt.Sprintf("Unknown named operator `%s` at %d:%d", t.text, t.line, t.pos)}
	case "[":
		return p.brackets()
	case "(":
		if err := p.advance(); err != nil {
			return nil, err
		}
		e, err := p.expr(0, depth+1)
		if err != nil {
			return nil, err
		}
		return e, p.expect(")")
	}
	return nil, p.fail()
}

// fieldList parses ID (',' ID)*.
func (p *parser) fieldList() (expr, error) {
	var f fields
	for {
		if !p.is(tokID) {
			return nil, p.fail()
		}
		f = append(f, p.tok.text)
		if err := p.advance(); err != nil {
			return nil, err
		}
		if !p.is(",") {
			return f, nil
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
}

// brackets parses '[' (idx | slice | fields | '*') ']'.
func (p *parser) brackets() (expr, error) {
	if err := p.expect("["); err != nil {
		return nil, err
	}
	var e expr
	switch {
	case p.is("*"):
		if err := p.advance(); err != nil {
			return nil, err
		}
		e = slice{}
	case p.is(tokID):
		f, err := p.fieldList()
		if err != nil {
			return nil, err
		}
		e = f
	case p.is(tokNumber) || p.is(":"):
		var err error
		if e, err = p.indexOrSlice(); err != nil {
			return nil, err
		}
	default:
		return nil, p.fail()
	}
	return e, p.expect("]")
}

// indexOrSlice parses NUMBER (',' NUMBER)* or a slice [a]:[b][:[c]].
func (p *parser) indexOrSlice() (expr, error) {
	var first *int
	if p.is(tokNumber) {
		n := p.tok.num
		first = &n
		if err := p.advance(); err != nil {
			return nil, err
		}
		if !p.is(":") {
			idx := index{n}
			for p.is(",") {
				if err := p.advance(); err != nil {
					return nil, err
				}
				if !p.is(tokNumber) {
					return nil, p.fail()
				}
				idx = append(idx, p.tok.num)
				if err := p.advance(); err != nil {
					return nil, err
				}
			}
			return idx, nil
		}
	}
	s := slice{start: first}
	bounds := []**int{&s.end, &s.step}
	for i := 0; i < 2 && p.is(":"); i++ {
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.is(tokNumber) {
			n := p.tok.num
			*bounds[i] = &n
			if err := p.advance(); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}
