package pyjson

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/flowrun/flowrun/internal/py"
)

// Dumps writes v as Python's json.dumps(v, ensure_ascii=ascii) does.
func Dumps(v any, ascii bool) string {
	var b strings.Builder
	write(&b, v, ascii)
	return b.String()
}

// DumpsIndent writes v as Python's json.dumps(v, indent=indent,
// ensure_ascii=ascii) does: one item a line, "," ending each but the
// last, ": " after keys, and "[]" and "{}" for empty containers.
func DumpsIndent(v any, indent int, ascii bool) string {
	var b strings.Builder
	w := writer{b: &b, ascii: ascii, indent: strings.Repeat(" ", indent)}
	w.value(v, 0)
	return b.String()
}

func write(b *strings.Builder, v any, ascii bool) {
	w := writer{b: b, ascii: ascii}
	w.value(v, 0)
}

// writer writes one value; indent "" is the one-line form.
type writer struct {
	b      *strings.Builder
	ascii  bool
	indent string
}

// sep starts item i of a container at nesting level.
func (w writer) sep(i, level int) {
	switch {
	case w.indent != "":
		if i > 0 {
			w.b.WriteByte(',')
		}
		w.b.WriteByte('\n')
		for range level {
			w.b.WriteString(w.indent)
		}
	case i > 0:
		w.b.WriteString(", ")
	}
}

// close ends a container of n items at nesting level.
func (w writer) close(n, level int, c byte) {
	if w.indent != "" && n > 0 {
		w.b.WriteByte('\n')
		for range level {
			w.b.WriteString(w.indent)
		}
	}
	w.b.WriteByte(c)
}

func (w writer) value(v any, level int) {
	b, ascii := w.b, w.ascii
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case string:
		writeString(b, x, ascii)
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int:
		b.WriteString(strconv.Itoa(x))
	case json.Number:
		b.WriteString(x.String())
	case float64:
		b.WriteString(FloatJSON(x))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			w.sep(i, level+1)
			w.value(e, level+1)
		}
		w.close(len(x), level, ']')
	case *List:
		w.value(x.Items, level)
	case *Object:
		b.WriteByte('{')
		for i, k := range x.keys {
			w.sep(i, level+1)
			writeString(b, k, ascii)
			b.WriteString(": ")
			w.value(x.vals[k], level+1)
		}
		w.close(len(x.keys), level, '}')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			w.sep(i, level+1)
			writeString(b, k, ascii)
			b.WriteString(": ")
			w.value(x[k], level+1)
		}
		w.close(len(keys), level, '}')
	default:
		enc, err := json.Marshal(x)
		if err != nil {
			b.WriteString("null")
			return
		}
		var plain any
		if json.Unmarshal(enc, &plain) == nil {
			w.value(normalize(plain), level)
		}
	}
}

// normalize turns encoding/json's float64 numbers back into integers
// where they are whole, for values Dumps does not know.
func normalize(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	}
	return v
}

func writeString(b *strings.Builder, s string, ascii bool) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || (ascii && r == 0x7f):
				writeU(b, r)
			case ascii && r > 0x7f:
				if r > 0xffff {
					r1, r2 := utf16.EncodeRune(r)
					writeU(b, r1)
					writeU(b, r2)
				} else {
					writeU(b, r)
				}
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

func writeU(b *strings.Builder, r rune) {
	const hex = "0123456789abcdef"
	b.WriteString(`\u`)
	b.WriteByte(hex[r>>12&0xf])
	b.WriteByte(hex[r>>8&0xf])
	b.WriteByte(hex[r>>4&0xf])
	b.WriteByte(hex[r&0xf])
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
	return py.Float(f)
}

// Str is Python's str() of a decoded value: strings as they are, True,
// False and None for the constants, numbers as Python prints them, and
// json.dumps-like text for arrays and objects (Python would print their
// repr; tools here dump them as JSON instead).
func Str(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	case float64:
		return py.Float(x)
	}
	return Dumps(v, false)
}
