package llm

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/flowrun/flowrun/internal/run"
)

// Dify builds several prompts with Python's json.dumps, whose output the
// model sees: ", " and ": " separators, dict keys in insertion order, and
// non-ASCII escaped unless ensure_ascii=False. pyDumps reproduces it.
// Ordered objects are written as obj (insertion order); Go maps, which have
// no order, are written with sorted keys — the order of Dify's own YAML
// export (PyYAML sorts keys).

// kv is one key of an ordered object.
type kv struct {
	k string
	v any
}

// obj is a JSON object with insertion-ordered keys.
type obj []kv

// MarshalJSON encodes o in order, for request bodies.
func (o obj) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// toMap converts o (recursively) into plain maps, for node outputs.
func (o obj) toMap() map[string]any {
	m := make(map[string]any, len(o))
	for _, e := range o {
		m[e.k] = plain(e.v)
	}
	return m
}

func plain(v any) any {
	switch x := v.(type) {
	case obj:
		return x.toMap()
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	}
	return v
}

// pyDumps renders v as Python's json.dumps(v, ensure_ascii=ascii).
func pyDumps(v any, ascii bool) string {
	var b strings.Builder
	writePy(&b, v, ascii)
	return b.String()
}

func writePy(b *strings.Builder, v any, ascii bool) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case string:
		writePyString(b, x, ascii)
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(pyFloat(x))
	case json.Number:
		b.WriteString(x.String())
	case []string:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyString(b, e, ascii)
		}
		b.WriteByte(']')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writePy(b, e, ascii)
		}
		b.WriteByte(']')
	case obj:
		b.WriteByte('{')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyString(b, e.k, ascii)
			b.WriteString(": ")
			writePy(b, e.v, ascii)
		}
		b.WriteByte('}')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyString(b, k, ascii)
			b.WriteString(": ")
			writePy(b, x[k], ascii)
		}
		b.WriteByte('}')
	default:
		enc, _ := json.Marshal(x)
		b.Write(enc)
	}
}

func writePyString(b *strings.Builder, s string, ascii bool) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (ascii && r == 0x7f):
			fmt.Fprintf(b, `\u%04x`, r)
		case ascii && r > 0x7f:
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// pyFloat formats f as json.dumps does: Python's repr(float), with
// JavaScript's names for the non-finite values.
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.IsNaN(f):
		return "NaN"
	}
	return run.PyFloat(f)
}
