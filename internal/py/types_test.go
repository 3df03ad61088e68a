package py

import (
	"encoding/json"
	"testing"
)

// The expectations are CPython's type(v).__name__ and str(type(v)).
func TestTypeName(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   any
		want string
	}{
		{nil, "NoneType"},
		{true, "bool"},
		{int64(1), "int"},
		{1, "int"},
		{1.0, "float"},
		{"", "str"},
		{[]any{}, "list"},
		{map[string]any{}, "dict"},
		{vars{}, "dict"},
		{json.Number("12345678901234567890"), "int"},
		{json.Number("1.5"), "float"},
		{json.Number("1e3"), "float"},
		{[]string{}, "[]string"}, // no Python type: Go's name
	} {
		if got := TypeName(c.in); got != c.want {
			t.Errorf("TypeName(%#v) = %q, want %q", c.in, got, c.want)
		}
		if got, want := Class(c.in), "<class '"+c.want+"'>"; got != want {
			t.Errorf("Class(%#v) = %q, want %q", c.in, got, want)
		}
	}
}
