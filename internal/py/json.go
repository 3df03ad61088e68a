package py

import (
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Ordered is a value Python sees as a dict whose keys keep their
// insertion order (pyjson.Object); Dumps writes them in that order.
type Ordered interface {
	Keys() []string
	Get(key string) (any, bool)
}

// Sequence is a value Python sees as a list (pyjson.List).
type Sequence interface {
	Elems() []any
}

// Dumps writes v as Python's json.dumps(v, ensure_ascii=ascii) does, and
// with indent > 0 as json.dumps(v, indent=indent, ...): one item a line,
// "," ending each but the last, ": " after keys, "[]" and "{}" for empty
// containers. Maps and Mappings are written with sorted keys (a Go map
// has no order to keep), Ordered values in their own order. Non-finite
// floats are written as NaN, Infinity and -Infinity, as Python does.
// Other values go through encoding/json and are written from what it
// makes of them.
func Dumps(v any, indent int, ascii bool) string {
	d := dumper{ascii: ascii}
	if indent > 0 {
		d.indent = strings.Repeat(" ", indent)
	}
	d.value(v, 0)
	return string(d.b)
}

// FloatJSON is json.dumps's float: repr, with JavaScript's names for the
// non-finite values ("Infinity", "NaN").
func FloatJSON(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.IsNaN(f):
		return "NaN"
	}
	return Float(f)
}

// dumper writes one value; indent "" is the one-line form.
type dumper struct {
	b      []byte
	ascii  bool
	indent string
}

func (d *dumper) value(v any, level int) {
	switch x := v.(type) {
	case nil:
		d.b = append(d.b, "null"...)
	case bool:
		d.b = strconv.AppendBool(d.b, x)
	case string:
		d.b = AppendJSONString(d.b, x, d.ascii)
	case int64:
		d.b = strconv.AppendInt(d.b, x, 10)
	case int:
		d.b = strconv.AppendInt(d.b, int64(x), 10)
	case json.Number:
		d.b = append(d.b, x...)
	case float64:
		d.b = append(d.b, FloatJSON(x)...)
	case []any:
		d.list(x, level)
	case Sequence:
		d.list(x.Elems(), level)
	case map[string]any:
		d.object(slices.Sorted(maps.Keys(x)), func(k string) any { return x[k] }, level)
	case Ordered:
		d.object(x.Keys(), func(k string) any { v, _ := x.Get(k); return v }, level)
	case Mapping:
		d.value(x.Map(), level)
	default:
		enc, err := json.Marshal(x)
		if err != nil {
			d.b = append(d.b, "null"...)
			return
		}
		var plain any
		if json.Unmarshal(enc, &plain) == nil {
			d.value(wholeNumbers(plain), level)
		}
	}
}

func (d *dumper) list(items []any, level int) {
	d.b = append(d.b, '[')
	for i, e := range items {
		d.sep(i, level+1)
		d.value(e, level+1)
	}
	d.close(len(items), level, ']')
}

func (d *dumper) object(keys []string, get func(string) any, level int) {
	d.b = append(d.b, '{')
	for i, k := range keys {
		d.sep(i, level+1)
		d.b = AppendJSONString(d.b, k, d.ascii)
		d.b = append(d.b, ": "...)
		d.value(get(k), level+1)
	}
	d.close(len(keys), level, '}')
}

// sep starts item i of a container at nesting level.
func (d *dumper) sep(i, level int) {
	switch {
	case d.indent != "":
		if i > 0 {
			d.b = append(d.b, ',')
		}
		d.newline(level)
	case i > 0:
		d.b = append(d.b, ", "...)
	}
}

// close ends a container of n items at nesting level.
func (d *dumper) close(n, level int, c byte) {
	if d.indent != "" && n > 0 {
		d.newline(level)
	}
	d.b = append(d.b, c)
}

func (d *dumper) newline(level int) {
	d.b = append(d.b, '\n')
	for range level {
		d.b = append(d.b, d.indent...)
	}
}

// wholeNumbers turns encoding/json's float64 numbers back into integers
// where they are whole, for values Dumps does not know.
func wholeNumbers(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
	case []any:
		for i := range x {
			x[i] = wholeNumbers(x[i])
		}
	case map[string]any:
		for k, e := range x {
			x[k] = wholeNumbers(e)
		}
	}
	return v
}

// AppendJSONEscaped appends s, escaped as the inside of a JSON string,
// the way json.dumps writes it: quotes, backslashes and control
// characters escaped, invalid UTF-8 as U+FFFD, and with ascii
// (ensure_ascii) everything outside printable ASCII as \uXXXX (UTF-16
// surrogate pairs above U+FFFF). Without ascii it is also what Dify's
// orjson writes. The quotes are the caller's.
func AppendJSONEscaped(b []byte, s string, ascii bool) []byte {
	safe := &plainJSON
	if ascii {
		safe = &plainJSONASCII
	}
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if safe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = appendU(b, rune(c))
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1: // as encoding/json does
			b = append(b, s[start:i]...)
			if ascii {
				b = appendU(b, r)
			} else {
				b = append(b, "\uFFFD"...)
			}
			start = i + size
		case ascii:
			b = append(b, s[start:i]...)
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				b = appendU(appendU(b, r1), r2)
			} else {
				b = appendU(b, r)
			}
			start = i + size
		}
		i += size
	}
	return append(b, s[start:]...)
}

// plainJSON and plainJSONASCII mark the bytes AppendJSONEscaped copies as
// they are, without and with ascii: printable ASCII but for the quote and
// the backslash (and DEL with ascii). Bytes from 0x80 start runes, which
// are checked.
var plainJSON, plainJSONASCII = plainBytes(false), plainBytes(true)

func plainBytes(ascii bool) (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && (c != 0x7f || !ascii)
	}
	return t
}

// AppendJSONString appends s as a quoted JSON string (AppendJSONEscaped).
func AppendJSONString(b []byte, s string, ascii bool) []byte {
	b = append(b, '"')
	b = AppendJSONEscaped(b, s, ascii)
	return append(b, '"')
}

func appendU(b []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
}
