package py

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Mapping is a value Python sees as a dict, such as the engine's ordered
// variables (run.Vars). Its keys are printed sorted, as for a map.
type Mapping interface {
	Map() map[string]any
}

// Str renders v as Python's str() would: how Dify shows a value in
// messages and prompts.
func Str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "None"
	}
	var b strings.Builder
	repr(&b, v)
	return b.String()
}

// Repr renders v as Python's repr() would ("'a'" for a string).
func Repr(v any) string {
	var b strings.Builder
	repr(&b, v)
	return b.String()
}

// Float is Python's repr(float): the shortest text that reads back as f,
// in exponent form below 1e-4 and from 1e16 on, with ".0" on whole numbers
// ("5.0", "1e-05", "1e+16", "inf").
func Float(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	exp := strconv.FormatFloat(f, 'e', -1, 64)
	_, e, _ := strings.Cut(exp, "e")
	n, _ := strconv.Atoi(e)
	if n < -4 || n >= 16 {
		return exp
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// repr writes Python's repr() of v.
func repr(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int:
		b.WriteString(strconv.Itoa(x))
	case float64:
		b.WriteString(Float(x))
	case string:
		quote(b, x)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			repr(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		b.WriteByte('{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				b.WriteString(", ")
			}
			quote(b, k)
			b.WriteString(": ")
			repr(b, x[k])
		}
		b.WriteByte('}')
	case Mapping:
		repr(b, x.Map())
	default:
		fmt.Fprint(b, x)
	}
}

// quote writes Python's repr() of a string: single quotes unless s holds
// one and no double quote.
func quote(b *strings.Builder, s string) {
	q := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		q = '"'
	}
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
}
