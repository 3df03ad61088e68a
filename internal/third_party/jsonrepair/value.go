package jsonrepair

import (
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// object is a Python dict: keys keep their first insertion's place.
type object struct {
	keys []string
	vals map[string]any
}

func newObject() *object { return &object{vals: map[string]any{}} }

func (o *object) len() int          { return len(o.keys) }
func (o *object) has(k string) bool { _, ok := o.vals[k]; return ok }
func (o *object) get(k string) any  { return o.vals[k] }
func (o *object) set(k string, v any) {
	if !o.has(k) {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) lastKey() *string {
	if len(o.keys) == 0 {
		return nil
	}
	return &o.keys[len(o.keys)-1]
}

func (o *object) update(other *object) {
	for _, k := range other.keys {
		o.set(k, other.vals[k])
	}
}

// pyInt is a Python int, as its decimal digits.
type pyInt string

var intText = regexp.MustCompile(`^-?[0-9]+$`)

// pyNumber is the end of json_repair's parse_number: the text with a comma
// stays a string, one with a dot or an exponent is float(), the rest
// int(), and what Python cannot convert stays a string.
func pyNumber(s string) any {
	if strings.Contains(s, ",") {
		return s
	}
	if strings.ContainsAny(s, ".eE") {
		if f, ok := pyFloatParse(s); ok {
			return f
		}
		return s
	}
	if !intText.MatchString(s) {
		return s
	}
	n, _ := new(big.Int).SetString(s, 10)
	return pyInt(n.String())
}

// pyFloatParse is Python's float() on the characters parse_number keeps.
var floatText = regexp.MustCompile(`^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$`)

func pyFloatParse(s string) (float64, bool) {
	if !floatText.MatchString(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// appendJSON writes v as Python's json.dumps(v, ensure_ascii=False,
// separators=(",", ":")) does, which is how httpx sends a JSON body.
func appendJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		if x {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case pyInt:
		return append(b, x...)
	case float64:
		return append(b, pyFloatRepr(x)...)
	case string:
		return appendString(b, x)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case *object:
		b = append(b, '{')
		for i, k := range x.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendJSON(b, x.vals[k])
		}
		return append(b, '}')
	}
	return append(b, "null"...)
}

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch r {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		default:
			if r < 0x20 {
				b = append(b, `\u00`...)
				b = append(b, "0123456789abcdef"[r>>4], "0123456789abcdef"[r&15])
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
	}
	return append(b, '"')
}

// pyFloatRepr is Python's repr of a float, as json.dumps writes it.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.IsNaN(f):
		return "NaN"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX, shortest
	mant, exps, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(exps)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		es := strconv.Itoa(exp)
		if len(es) < 2 {
			es = "0" + es
		}
		return mant + "e" + sign + es
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
