package py

import (
	"math"
	"testing"
)

// ordered is an Ordered value with its keys in insertion order.
type ordered struct {
	keys []string
	vals map[string]any
}

func (o ordered) Keys() []string { return o.keys }
func (o ordered) Get(k string) (any, bool) {
	v, ok := o.vals[k]
	return v, ok
}

type seq []any

func (s seq) Elems() []any { return s }

type mapping map[string]any

func (m mapping) Map() map[string]any { return m }

// TestDumps: the expected texts are CPython 3.11's json.dumps of the same
// values (sort_keys=True for Go maps, which have no order to keep).
func TestDumps(t *testing.T) {
	mixed := "a\"b\\c\n\t\x01\x7f é 😀"
	nested := map[string]any{"b": []any{int64(1), 2.5, nil, true, map[string]any{}}, "a": []any{}, "c": map[string]any{"x": math.Inf(1)}}
	cases := []struct {
		name   string
		v      any
		indent int
		ascii  bool
		want   string
	}{
		{"string", mixed, 0, false, `"a\"b\\c\n\t\u0001` + "\x7f é 😀\""},
		{"string ascii", mixed, 0, true, `"a\"b\\c\n\t\u0001\u007f \u00e9 \ud83d\ude00"`},
		{"invalid utf-8", "\xff", 0, false, "\"\ufffd\""},
		{"invalid utf-8 ascii", "\xff", 0, true, `"\ufffd"`},
		{"one line", nested, 0, false, `{"a": [], "b": [1, 2.5, null, true, {}], "c": {"x": Infinity}}`},
		{"indent", nested, 2, false, "{\n  \"a\": [],\n  \"b\": [\n    1,\n    2.5,\n    null,\n    true,\n    {}\n  ],\n  \"c\": {\n    \"x\": Infinity\n  }\n}"},
		{"ordered", ordered{keys: []string{"z", "a"}, vals: map[string]any{"z": 1, "a": seq{"x"}}}, 0, false, `{"z": 1, "a": ["x"]}`},
		{"mapping", mapping{"z": 1.0, "a": nil}, 0, false, `{"a": null, "z": 1.0}`},
		{"other types through encoding/json", struct {
			N int     `json:"n"`
			F float64 `json:"f"`
			L []string
		}{3, 0.5, []string{"x"}}, 0, false, `{"L": ["x"], "f": 0.5, "n": 3}`},
	}
	for _, c := range cases {
		if got := Dumps(c.v, c.indent, c.ascii); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}
