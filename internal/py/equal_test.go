package py

import (
	"math"
	"testing"
)

// The expectations are CPython's a == b for the same values.
func TestEqual(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b any
		want bool
	}{
		{int64(1), int64(1), true},
		{int64(1), 1.0, true},
		{1.0, int64(1), true},
		{int64(1), true, true},
		{true, 1.0, true},
		{false, int64(0), true},
		{true, true, true},
		{true, false, false},
		{int64(2), true, false},
		{int64(1), "1", false},
		{"1", int64(1), false},
		{"a", "a", true},
		{nil, nil, true},
		{nil, false, false},
		{math.NaN(), math.NaN(), false},
		{[]any{int64(1), "a"}, []any{1.0, "a"}, true},
		{[]any{int64(1)}, []any{int64(1), int64(2)}, false},
		{map[string]any{"a": int64(1)}, map[string]any{"a": true}, true},
		{map[string]any{"a": int64(1)}, map[string]any{"b": int64(1)}, false},
		{[]any{}, map[string]any{}, false},
	} {
		if got := Equal(c.a, c.b); got != c.want {
			t.Errorf("Equal(%#v, %#v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestNumber(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   any
		want float64
		ok   bool
	}{
		{int64(3), 3, true},
		{3, 3, true},
		{2.5, 2.5, true},
		{true, 0, false},
		{"3", 0, false},
		{nil, 0, false},
	} {
		if got, ok := Number(c.in); got != c.want || ok != c.ok {
			t.Errorf("Number(%#v) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
