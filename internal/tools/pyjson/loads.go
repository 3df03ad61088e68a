package pyjson

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of arrays and objects Loads accepts, as
// Python's recursion limit bounds json.loads.
const MaxDepth = 1000

// SyntaxError is Python's json.JSONDecodeError.
type SyntaxError struct {
	Msg string
	// Line, Column and Char locate the error as Python does: columns and
	// characters count code points from 1 and 0.
	Line, Column, Char int
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s: line %d column %d (char %d)", e.Msg, e.Line, e.Column, e.Char)
}

// DepthError is the RecursionError Python raises for nesting deeper than
// its recursion limit.
type DepthError struct{ Array bool }

func (e *DepthError) Error() string {
	what := "object"
	if e.Array {
		what = "array"
	}
	return "maximum recursion depth exceeded while decoding a JSON " + what + " from a unicode string"
}

// Loads decodes s as Python's json.loads(s) does (strict mode: control
// characters are not allowed inside strings).
func Loads(s string) (any, error) {
	d := &decoder{s: s}
	if strings.HasPrefix(s, "\ufeff") {
		return nil, d.fail("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0)
	}
	d.skip()
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.skip()
	if d.i < len(s) {
		return nil, d.fail("Extra data", d.i)
	}
	return v, nil
}

type decoder struct {
	s string
	i int
}

func (d *decoder) fail(msg string, pos int) error {
	prefix := d.s[:pos]
	nl := strings.LastIndexByte(prefix, '\n')
	return &SyntaxError{
		Msg:    msg,
		Line:   strings.Count(prefix, "\n") + 1,
		Column: utf8.RuneCountInString(prefix[nl+1:]) + 1,
		Char:   utf8.RuneCountInString(prefix),
	}
}

func (d *decoder) skip() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) value(depth int) (any, error) {
	if d.i >= len(d.s) {
		return nil, d.fail("Expecting value", d.i)
	}
	switch c := d.s[d.i]; {
	case c == '"':
		d.i++
		return d.str()
	case c == '{':
		if depth >= MaxDepth {
			return nil, &DepthError{}
		}
		d.i++
		return d.object(depth + 1)
	case c == '[':
		if depth >= MaxDepth {
			return nil, &DepthError{Array: true}
		}
		d.i++
		return d.array(depth + 1)
	case c == '-' || (c >= '0' && c <= '9'):
		if strings.HasPrefix(d.s[d.i:], "-Infinity") {
			d.i += len("-Infinity")
			return math.Inf(-1), nil
		}
		return d.number()
	}
	for _, lit := range literals {
		if strings.HasPrefix(d.s[d.i:], lit.text) {
			d.i += len(lit.text)
			return lit.value, nil
		}
	}
	return nil, d.fail("Expecting value", d.i)
}

var literals = []struct {
	text  string
	value any
}{{"null", nil}, {"true", true}, {"false", false}, {"NaN", math.NaN()}, {"Infinity", math.Inf(1)}}

// number scans Python's NUMBER_RE: -?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?
func (d *decoder) number() (any, error) {
	start := d.i
	j := d.i
	if d.s[j] == '-' {
		j++
	}
	digits := func(k int) int {
		for k < len(d.s) && d.s[k] >= '0' && d.s[k] <= '9' {
			k++
		}
		return k
	}
	switch {
	case j < len(d.s) && d.s[j] == '0':
		j++
	case j < len(d.s) && d.s[j] >= '1' && d.s[j] <= '9':
		j = digits(j)
	default:
		return nil, d.fail("Expecting value", start)
	}
	isFloat := false
	if j+1 < len(d.s) && d.s[j] == '.' && d.s[j+1] >= '0' && d.s[j+1] <= '9' {
		j = digits(j + 1)
		isFloat = true
	}
	if j < len(d.s) && (d.s[j] == 'e' || d.s[j] == 'E') {
		k := j + 1
		if k < len(d.s) && (d.s[k] == '+' || d.s[k] == '-') {
			k++
		}
		if e := digits(k); e > k {
			j = e
			isFloat = true
		}
	}
	text := d.s[start:j]
	d.i = j
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && !isRange(err) {
			return nil, d.fail("Expecting value", start)
		}
		return f, nil // ±Inf on overflow, as float() gives
	}
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n, nil
	}
	return json.Number(text), nil
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func (d *decoder) str() (string, error) {
	begin := d.i - 1
	var b strings.Builder
	for {
		j := d.i
		for j < len(d.s) && d.s[j] != '"' && d.s[j] != '\\' && d.s[j] >= 0x20 {
			j++
		}
		b.WriteString(d.s[d.i:j])
		d.i = j
		if j >= len(d.s) {
			return "", d.fail("Unterminated string starting at", begin)
		}
		switch c := d.s[j]; {
		case c == '"':
			d.i++
			return b.String(), nil
		case c < 0x20:
			return "", d.fail("Invalid control character at", j)
		}
		// A backslash.
		if j+1 >= len(d.s) {
			return "", d.fail("Unterminated string starting at", begin)
		}
		esc := d.s[j+1]
		if esc != 'u' {
			r, ok := escapes[esc]
			if !ok {
				return "", d.fail("Invalid \\escape", j)
			}
			b.WriteByte(r)
			d.i = j + 2
			continue
		}
		r, ok := hex4(d.s, j+2)
		if !ok {
			return "", d.fail("Invalid \\uXXXX escape", j+1)
		}
		d.i = j + 6
		if utf16.IsSurrogate(r) && r < 0xdc00 && strings.HasPrefix(d.s[d.i:], "\\u") {
			if r2, ok := hex4(d.s, d.i+2); ok && r2 >= 0xdc00 && r2 <= 0xdfff {
				r = utf16.DecodeRune(r, r2)
				d.i += 6
			}
		}
		b.WriteRune(r) // a lone surrogate becomes U+FFFD
	}
}

var escapes = map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// hex4 reads the four hex digits of a \u escape at s[at:]. As in Python,
// the digits may not end the document.
func hex4(s string, at int) (rune, bool) {
	if at+4 >= len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[at : at+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func (d *decoder) object(depth int) (any, error) {
	o := NewObject()
	d.skip()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		return o, nil
	}
	for {
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return nil, d.fail("Expecting property name enclosed in double quotes", d.i)
		}
		d.i++
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.skip()
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			return nil, d.fail("Expecting ':' delimiter", d.i)
		}
		d.i++
		d.skip()
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		o.Set(k, v)
		d.skip()
		if d.i < len(d.s) && d.s[d.i] == '}' {
			d.i++
			return o, nil
		}
		if d.i >= len(d.s) || d.s[d.i] != ',' {
			return nil, d.fail("Expecting ',' delimiter", d.i)
		}
		d.i++
		d.skip()
	}
}

func (d *decoder) array(depth int) (any, error) {
	out := []any{}
	d.skip()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		return out, nil
	}
	for {
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		d.skip()
		if d.i < len(d.s) && d.s[d.i] == ']' {
			d.i++
			return out, nil
		}
		if d.i >= len(d.s) || d.s[d.i] != ',' {
			return nil, d.fail("Expecting ',' delimiter", d.i)
		}
		d.i++
		d.skip()
	}
}
