package llm

import (
	"encoding/json"
	"strings"

	"github.com/flowrun/flowrun/internal/tools/pyjson"
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
func pyDumps(v any, ascii bool) string { return pyjson.Dumps(toPy(v), ascii) }

// toPy converts the ordered objects (obj) and string lists in v for
// pyjson.Dumps.
func toPy(v any) any {
	switch x := v.(type) {
	case obj:
		o := pyjson.NewObject()
		for _, e := range x {
			o.Set(e.k, toPy(e.v))
		}
		return o
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toPy(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = toPy(e)
		}
		return out
	}
	return v
}
