package api

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/run"
)

// Dify serialises with two different Python encoders, and flowrun copies
// both byte for byte (up to map key order, see below):
//
//   - SSE events go through orjson: compact, raw UTF-8.
//   - Plain JSON responses go through json.dumps: ", " and ": " separators
//     and ensure_ascii (non-ASCII as \uXXXX).
//
// Objects whose order matters are written field by field with enc. Values
// from workflows are the engine's closed set (nil, bool, int64, float64,
// string, []any, map[string]any, run.Vars); plain maps have lost their
// order in decoding, so their keys are sorted. Floats are formatted as
// Python's repr (1.0, 1e-05), HTML characters are never escaped.

// enc appends JSON to b.
type enc struct {
	b []byte
	// py selects json.dumps style (spaces, ASCII only); otherwise orjson.
	py bool
	// first is set right after an opening brace or bracket.
	first bool
	// out, when set, takes what is encoded so far whenever it passes
	// spillSize (between the elements of lists and objects, and within
	// long strings), so that a large value is never held whole in its
	// encoded form. err is out's first error; later output is dropped.
	out func([]byte) error
	err error
}

// spillSize is how much encoded output an enc with out set holds.
const spillSize = 32 << 10

// spill hands the encoded bytes to out once they pass spillSize.
func (e *enc) spill() {
	if e.out == nil || len(e.b) < spillSize {
		return
	}
	e.flush()
}

// flush hands every encoded byte to out (dropped after an error).
func (e *enc) flush() {
	if e.err == nil && len(e.b) > 0 {
		e.err = e.out(e.b)
	}
	e.b = e.b[:0]
}

func (e *enc) open()  { e.b = append(e.b, '{'); e.first = true }
func (e *enc) close() { e.b = append(e.b, '}'); e.first = false }

// key writes a separator if needed, then "k": .
func (e *enc) key(k string) {
	e.sep()
	e.str(k)
	if e.py {
		e.b = append(e.b, ':', ' ')
	} else {
		e.b = append(e.b, ':')
	}
}

// plainKey is key for a key that needs no escaping (a constant of
// ours): no scan of its bytes.
func (e *enc) plainKey(k string) {
	e.sep()
	e.b = append(e.b, '"')
	e.b = append(e.b, k...)
	if e.py {
		e.b = append(e.b, '"', ':', ' ')
	} else {
		e.b = append(e.b, '"', ':')
	}
}

func (e *enc) sep() {
	if e.first {
		e.first = false
		return
	}
	if e.py {
		e.b = append(e.b, ',', ' ')
	} else {
		e.b = append(e.b, ',')
	}
}

func (e *enc) null() { e.b = append(e.b, "null"...) }

func (e *enc) boolean(v bool) { e.b = strconv.AppendBool(e.b, v) }

func (e *enc) int(v int64) { e.b = strconv.AppendInt(e.b, v, 10) }

// float writes f as Python's repr does; NaN and infinities (which JSON
// lacks) become null.
func (e *enc) float(f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		e.null()
		return
	}
	if f == 0 {
		if math.Signbit(f) {
			e.b = append(e.b, "-0.0"...)
		} else {
			e.b = append(e.b, "0.0"...)
		}
		return
	}
	if a := math.Abs(f); a < 1e-4 || a >= 1e16 {
		e.b = strconv.AppendFloat(e.b, f, 'e', -1, 64)
		return
	}
	n := len(e.b)
	e.b = strconv.AppendFloat(e.b, f, 'f', -1, 64)
	for _, c := range e.b[n:] {
		if c == '.' {
			return
		}
	}
	e.b = append(e.b, '.', '0')
}

// nullStr writes s, or null when it is empty.
func (e *enc) nullStr(s string) {
	if s == "" {
		e.null()
		return
	}
	e.str(s)
}

// str writes a JSON string. Invalid UTF-8 becomes U+FFFD.
func (e *enc) str(s string) {
	if e.out != nil && len(s) > spillSize {
		e.longStr(s)
		return
	}
	e.b = append(e.b, '"')
	e.strBody(s)
	e.b = append(e.b, '"')
}

// longStr writes s in pieces of spillSize/8 bytes (at most six times
// that once escaped), spilling as they add up. Pieces end before a byte
// that starts a UTF-8 sequence, so no rune is split and invalid bytes are
// replaced as if s were whole.
func (e *enc) longStr(s string) {
	e.b = append(e.b, '"')
	for len(s) > 0 {
		n := min(len(s), spillSize/8)
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n++
		}
		e.strBody(s[:n])
		e.spill()
		s = s[n:]
	}
	e.b = append(e.b, '"')
}

// strBody writes the escaped content of a JSON string (in Python's form,
// ensure_ascii, when e.py is set).
func (e *enc) strBody(s string) { e.b = py.AppendJSONEscaped(e.b, s, e.py) }

// value writes any engine value.
func (e *enc) value(v any) {
	switch x := v.(type) {
	case nil:
		e.null()
	case string:
		e.str(x)
	case bool:
		e.boolean(x)
	case int64:
		e.int(x)
	case int:
		e.int(int64(x))
	case float64:
		e.float(x)
	case run.Vars:
		e.vars(x)
	case []any:
		e.b = append(e.b, '[')
		e.first = true
		for _, el := range x {
			e.sep()
			e.value(el)
			e.spill()
		}
		e.b = append(e.b, ']')
		e.first = false
	case []string:
		e.strs(x)
	case run.Selector:
		e.strs(x)
	case map[string]any:
		if x == nil {
			e.null() // as encoding/json writes a nil map
			break
		}
		e.open()
		for _, k := range sortedKeys(x) {
			e.key(k)
			e.value(x[k])
			e.spill()
		}
		e.close()
	case json.Number:
		e.value(run.Normalize(x))
	default:
		// Not produced by the engine; keep it correct rather than fast.
		var tmp any
		if raw, err := json.Marshal(x); err == nil && json.Unmarshal(raw, &tmp) == nil {
			e.value(run.Normalize(tmp))
		} else {
			e.null()
		}
	}
}

// vars writes an ordered object; nil is {}.
func (e *enc) vars(vs run.Vars) {
	e.open()
	for _, v := range vs {
		e.key(v.Name)
		e.value(v.Value)
		e.spill()
	}
	e.close()
}

// nullVars writes vs, or null when it is nil.
func (e *enc) nullVars(vs run.Vars) {
	if vs == nil {
		e.null()
		return
	}
	e.vars(vs)
}

func (e *enc) strs(ss []string) {
	e.b = append(e.b, '[')
	e.first = true
	for _, s := range ss {
		e.sep()
		e.str(s)
	}
	e.b = append(e.b, ']')
	e.first = false
}

// emptyObj writes {}.
func (e *enc) emptyObj() { e.b = append(e.b, '{', '}'); e.first = false }

// emptyList writes [].
func (e *enc) emptyList() { e.b = append(e.b, '[', ']'); e.first = false }

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// toJSONString renders v as json.dumps would (the TEXT columns Dify serves
// as strings from GET /workflows/run/{id}).
func toJSONString(v any) string {
	e := enc{py: true}
	e.value(v)
	return string(e.b)
}

// raw writes stored JSON as this encoder formats values (re-encoded, so a
// Python-style body gets Python's spacing); dflt when raw is empty.
func (e *enc) raw(raw []byte, dflt string) {
	if len(raw) == 0 {
		raw = []byte(dflt)
	}
	v, err := parseJSON(raw)
	if err != nil {
		e.null()
		return
	}
	e.value(v)
}
