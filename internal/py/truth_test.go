package py

import "testing"

// The expectations are CPython's bool() of the same values.
func TestTruthy(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   any
		want bool
	}{
		{nil, false},
		{false, false},
		{true, true},
		{int64(0), false},
		{int64(-1), true},
		{0.0, false},
		{0.5, true},
		{"", false},
		{"0", true},
		{[]any{}, false},
		{[]any{nil}, true},
		{map[string]any{}, false},
		{map[string]any{"": nil}, true},
		{vars{}, false},
		{vars{{"a", nil}}, true},
	} {
		if got := Truthy(c.in); got != c.want {
			t.Errorf("Truthy(%#v) = %v, want %v", c.in, got, c.want)
		}
	}
}
