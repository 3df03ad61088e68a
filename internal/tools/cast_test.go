package tools

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/flowrun/flowrun/internal/sharedtest"
)

// The expectations follow Dify's cast_parameter_value and Python's int()
// and float().
func TestCastValue(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		typ  ParamType
		in   any
		want any
		err  string
	}{
		{TypeString, nil, "", ""},
		{TypeString, int64(3), "3", ""},
		{TypeString, 2.0, "2.0", ""},
		{TypeString, true, "True", ""},
		{TypeString, []any{"a", int64(1)}, "['a', 1]", ""},
		{TypeSelect, "UTC", "UTC", ""},
		{TypeSecretInput, map[string]any{"k": "v"}, "{'k': 'v'}", ""},
		{TypeBoolean, "Yes", true, ""},
		{TypeBoolean, "n", false, ""},
		{TypeBoolean, "0", false, ""},
		{TypeBoolean, "False", false, ""},
		{TypeBoolean, "maybe", true, ""},
		{TypeBoolean, "", false, ""},
		{TypeBoolean, nil, false, ""},
		{TypeBoolean, int64(0), false, ""},
		{TypeBoolean, []any{}, false, ""},
		{TypeNumber, "42", int64(42), ""},
		{TypeNumber, " 1_000 ", int64(1000), ""},
		{TypeNumber, "+5", int64(5), ""},
		{TypeNumber, "2.5", 2.5, ""},
		{TypeNumber, "5.", 5.0, ""},
		{TypeNumber, ".5", 0.5, ""},
		{TypeNumber, "-.5e-3", -0.0005, ""},
		{TypeNumber, "12345678901234567890", json.Number("12345678901234567890"), ""},
		{TypeNumber, "", nil, ""},
		{TypeNumber, nil, nil, ""},
		{TypeNumber, []any{int64(1)}, nil, ""},
		{TypeNumber, int64(7), int64(7), ""},
		{TypeNumber, true, true, ""},
		{TypeNumber, "1e5", nil, "invalid literal for int() with base 10: '1e5'"},
		{TypeNumber, "--1", nil, "invalid literal for int() with base 10: '--1'"},
		{TypeNumber, "1__0", nil, "invalid literal for int() with base 10: '1__0'"},
		{TypeNumber, "abc", nil, "invalid literal for int() with base 10: 'abc'"},
		{TypeNumber, "1.2.3", nil, "could not convert string to float: '1.2.3'"},
		{TypeNumber, "1._5", nil, "could not convert string to float: '1._5'"},
		{TypeNumber, "it's.x", nil, `could not convert string to float: "it's.x"`},
		{TypeNumber, "0x1.p1", nil, "could not convert string to float: '0x1.p1'"},
		{TypeFiles, map[string]any{"f": "1"}, []any{map[string]any{"f": "1"}}, ""},
		{TypeFile, []any{"a"}, "a", ""},
		{TypeFile, []any{"a", "b"}, nil, "This parameter only accepts one file but got multiple files while invoking."},
		{TypeModelSelector, "x", nil, "The selector must be a dictionary."},
		{TypeToolSelector, "x", nil, "The tools selector must be a list."},
		{TypeToolSelector, "", "", ""},
		{TypeAny, true, true, ""},
		{TypeArray, `[1, "a"]`, []any{int64(1), "a"}, ""},
		{TypeArray, `{"a": 1}`, []any{`{"a": 1}`}, ""},
		{TypeArray, int64(1), []any{int64(1)}, ""},
		{TypeObject, `{"a": [1.5]}`, map[string]any{"a": []any{1.5}}, ""},
		{TypeObject, `[1]`, map[string]any{}, ""},
		{TypeObject, "nope", map[string]any{}, ""},
	} {
		got, err := CastValue(c.typ, c.in)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("CastValue(%s, %#v) error = %v, want %q", c.typ, c.in, err, c.err)
			}
			continue
		}
		if err != nil || sharedtest.JSON(t, got) != sharedtest.JSON(t, c.want) || (got != nil) != (c.want != nil) {
			t.Errorf("CastValue(%s, %#v) = %#v, %v; want %#v", c.typ, c.in, got, err, c.want)
		}
	}
	if v, _ := CastValue(TypeNumber, "-inf."); v != nil {
		t.Errorf("CastValue(number, -inf.) = %v", v)
	}
	if v, err := CastValue(TypeNumber, "1.0e400"); err != nil || !math.IsInf(v.(float64), 1) {
		t.Errorf("CastValue(number, 1.0e400) = %v, %v", v, err)
	}
}

func TestCast(t *testing.T) {
	t.Parallel()
	tool := Tool{Params: []Param{{Name: "n", Type: TypeNumber}, {Name: "s", Type: TypeString}}}
	in := map[string]any{"n": "3", "other": "x"}
	out, err := tool.Cast(in)
	if err != nil || out["n"] != int64(3) || out["other"] != "x" || len(out) != 2 || in["n"] != "3" {
		t.Fatalf("Cast = %v, %v (input now %v)", out, err, in)
	}
	if _, err := tool.Cast(map[string]any{"n": "x"}); err == nil {
		t.Fatal("Cast accepted n=x")
	}
}
