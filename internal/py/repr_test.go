package py

import (
	"math"
	"testing"
)

// vars is a Mapping, as run.Vars is.
type vars [][2]any

func (vs vars) Map() map[string]any {
	m := make(map[string]any, len(vs))
	for _, v := range vs {
		m[v[0].(string)] = v[1]
	}
	return m
}

// The expectations are CPython 3.11's str() and repr() of the same values.
func TestStrRepr(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in        any
		str, repr string
	}{
		{nil, "None", "None"},
		{true, "True", "True"},
		{false, "False", "False"},
		{int64(-42), "-42", "-42"},
		{7, "7", "7"},
		{5.0, "5.0", "5.0"},
		{"a", "a", "'a'"},
		{"it's", "it's", `"it's"`},
		{`it's "x"`, `it's "x"`, `'it\'s "x"'`},
		{"a\\b\n\r\t\x01\x7fé", "a\\b\n\r\t\x01\x7fé", `'a\\b\n\r\t\x01\x7fé'`},
		{[]any{}, "[]", "[]"},
		{[]any{"a", int64(1), 2.5, nil, true}, "['a', 1, 2.5, None, True]", "['a', 1, 2.5, None, True]"},
		{map[string]any{"b": []any{"x"}, "a": map[string]any{}}, "{'a': {}, 'b': ['x']}", "{'a': {}, 'b': ['x']}"},
		{vars{{"z", int64(1)}, {"y", "v"}}, "{'y': 'v', 'z': 1}", "{'y': 'v', 'z': 1}"},
	} {
		if got := Str(c.in); got != c.str {
			t.Errorf("Str(%#v) = %q, want %q", c.in, got, c.str)
		}
		if got := Repr(c.in); got != c.repr {
			t.Errorf("Repr(%#v) = %q, want %q", c.in, got, c.repr)
		}
	}
}

// The expectations are CPython 3.11's repr(float).
func TestFloat(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   float64
		want string
	}{
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{5, "5.0"},
		{-2.5, "-2.5"},
		{0.30000000000000004, "0.30000000000000004"},
		{1e-4, "0.0001"},
		{1e-5, "1e-05"},
		{9.999999999999999e-05, "9.999999999999999e-05"}, // log10 rounds this to -4
		{123456789012345.6, "123456789012345.6"},
		{1e15, "1000000000000000.0"},
		{1e16, "1e+16"},
		{1.5e300, "1.5e+300"},
		{5e-324, "5e-324"},
		{math.Inf(1), "inf"},
		{math.Inf(-1), "-inf"},
		{math.NaN(), "nan"},
	} {
		if got := Float(c.in); got != c.want {
			t.Errorf("Float(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
