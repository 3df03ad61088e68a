package run

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/flowrun/flowrun/internal/py"
)

// Values flowing through a run are plain Go values of a small closed set:
// nil, bool, int64, float64, string, []any and map[string]any. Python's
// distinction between int and float is kept (int64 vs float64) because Dify
// renders them differently ("5" vs "5.0"). Normalize converts decoder output
// (json.Number, int, uint64, map[any]any from YAML) into that set.

// Var is one named value, as in a node's inputs or outputs.
type Var struct {
	Name  string
	Value any
}

// Vars is an ordered set of named values. Order is kept because Dify emits
// outputs in declaration order; lookups are linear, which is faster than a map
// for the handful of variables a node has.
type Vars []Var

// Get returns the value named name.
func (vs Vars) Get(name string) (any, bool) {
	for i := range vs {
		if vs[i].Name == name {
			return vs[i].Value, true
		}
	}
	return nil, false
}

// With returns a copy of vs with name set to value (replaced in place when it
// exists, appended otherwise). vs itself is not modified.
func (vs Vars) With(name string, value any) Vars {
	out := make(Vars, len(vs), len(vs)+1)
	copy(out, vs)
	for i := range out {
		if out[i].Name == name {
			out[i].Value = value
			return out
		}
	}
	return append(out, Var{name, value})
}

// Map returns the values as a map (order lost).
func (vs Vars) Map() map[string]any {
	m := make(map[string]any, len(vs))
	for _, v := range vs {
		m[v.Name] = v.Value
	}
	return m
}

// MarshalJSON encodes vs as a JSON object in order. A nil Vars encodes as {}.
func (vs Vars) MarshalJSON() ([]byte, error) {
	return appendVars(make([]byte, 0, 16*(len(vs)+1)), vs)
}

func appendVars(b []byte, vs Vars) ([]byte, error) {
	b = append(b, '{')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = py.AppendJSONString(b, v.Name, false)
		b = append(b, ':')
		var err error
		if b, err = appendJSON(b, v.Value); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// UnmarshalJSON decodes a JSON object, keeping key order.
func (vs *Vars) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		*vs = nil
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("vars: want a JSON object")
	}
	out := Vars{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return err
		}
		var raw any
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		out = append(out, Var{kt.(string), Normalize(raw)})
	}
	*vs = out
	return nil
}

func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return py.AppendJSONString(b, x, false), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case Vars:
		return appendVars(b, x)
	}
	// Dify (orjson) writes <, > and & raw; so do we. The buffer appends
	// to b.
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	return out[:len(out)-1], nil // Encode's newline
}

// Normalize converts a decoded JSON or YAML value into the value set used by
// the engine (see the top of this file). Unknown types are kept as they are.
func Normalize(v any) any {
	switch x := v.(type) {
	case nil, bool, int64, float64, string:
		return v
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case uint64:
		if x > math.MaxInt64 {
			return float64(x)
		}
		return int64(x)
	case float32:
		return float64(x)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = Normalize(x[i])
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = Normalize(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			key := "null" // a None key, as json.dumps writes it
			if k != nil {
				key = fmt.Sprint(k)
			}
			m[key] = Normalize(e)
		}
		return m
	case Vars:
		return x.Map()
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	}
	return v
}

func isNumber(v any) bool { _, ok := py.Number(v); return ok }

// IsZero reports v == 0 in Python: a zero number, or False.
func IsZero(v any) bool {
	switch x := v.(type) {
	case int64:
		return x == 0
	case float64:
		return x == 0
	case bool:
		return !x
	}
	return false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pyJSON renders v as Python's json.dumps(v, ensure_ascii=False) does, with
// indent > 0 matching indent=N.
func pyJSON(v any, indent int) string { return py.Dumps(v, indent, false) }

// isFile reports whether v is a Dify file mapping.
func isFile(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, hasTM := m["transfer_method"]
	_, hasType := m["type"]
	return hasTM && hasType
}

// Text renders v as Dify's Segment.text does: how a value appears when a
// {{#node.var#}} reference is expanded in a plain string.
func Text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case map[string]any:
		if isFile(x) {
			return ""
		}
		return pyJSON(x, 0)
	case Vars:
		return pyJSON(x, 0)
	case []any:
		if len(x) == 0 {
			return ""
		}
		if allOf(x, func(e any) bool { _, ok := e.(string); return ok }) {
			return pyJSON(x, 0)
		}
		if allOf(x, isFile) {
			return ""
		}
	}
	return py.Str(v)
}

// Markdown renders v as Dify's Segment.markdown does: how End and Answer
// nodes stream a value.
func Markdown(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case map[string]any:
		if isFile(x) {
			return fileMarkdown(x)
		}
		return pyJSON(x, 2)
	case Vars:
		return pyJSON(x, 2)
	case []any:
		if len(x) > 0 && allOf(x, isFile) {
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = fileMarkdown(e.(map[string]any))
			}
			return strings.Join(parts, "\n")
		}
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = "- " + py.Str(e)
		}
		return strings.Join(parts, "\n")
	}
	return py.Str(v)
}

func fileMarkdown(f map[string]any) string {
	url, _ := f["url"].(string)
	name, _ := f["filename"].(string)
	if t, _ := f["type"].(string); t == "image" {
		return "![" + name + "](" + url + ")"
	}
	return "[" + name + "](" + url + ")"
}

func allOf(xs []any, pred func(any) bool) bool {
	return !slices.ContainsFunc(xs, func(e any) bool { return !pred(e) })
}

// typeName names v's Dify segment type, for error messages.
func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "none"
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case map[string]any:
		if isFile(x) {
			return "file"
		}
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// deepCopy copies containers so that a node can mutate its copy of a value
// without touching the pool.
func deepCopy(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	}
	return v
}

// parseJSONValue decodes a JSON text into the engine's value set.
func parseJSONValue(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return Normalize(v), nil
}

// JSON encodes an engine value as JSON (Vars as objects, in order).
func JSON(v any) ([]byte, error) { return appendJSON(nil, v) }
