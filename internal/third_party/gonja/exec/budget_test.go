package exec

// Tests of the fork's budget (not part of upstream gonja).

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestSizes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want int
	}{
		{"replace all", ReplaceSize("abab", "a", "xyz", -1), 8},
		{"replace count", ReplaceSize("abab", "a", "xyz", 1), 6},
		{"replace shrinks", ReplaceSize("abab", "ab", "", -1), 0},
		{"replace empty old", ReplaceSize("héllo", "", "--", -1), len("héllo") + 2*6},
		{"replace inserts around each rune", ReplaceSize(strings.Repeat("x", 10), "", strings.Repeat("y", 1<<20), -1), 10 + 11<<20},
		{"join", JoinSize(10, 3, ", "), 14},
		{"join none", JoinSize(0, 0, ", "), 0},
		{"pad", PadSize("ab", 5, 4), 2 + 3*4},
		{"pad narrower", PadSize("abc", 1, 1), 3},
		{"pad saturates", PadSize("", math.MaxInt, 4), math.MaxInt},
		{"items saturate", ItemsSize(math.MaxInt / 2), math.MaxInt},
		{"line breaks", LineBreaks("a\nb\r\nc\u2028"), 4},
		{"largest number", largestNumber("x12y3456z7"), 3456},
		{"largest number saturates", largestNumber(strings.Repeat("9", 40)), 1 << 40},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

func TestFormatSize(t *testing.T) {
	b := NewBudget(context.Background(), Limits{Value: 1 << 20})
	args := []*Value{AsValue(strings.Repeat("x", 1000)), AsValue(7)}
	if n := b.FormatSize("%s-%d", '%', args); n < 1000 || n > 4000 {
		t.Errorf("plain format bound %d", n)
	}
	if n := b.FormatSize("%q", '%', args); n < 4000 {
		t.Errorf("%%q bound %d, want at least four times the argument", n)
	}
	if n := b.FormatSize("%*d", '%', args); n < 1_000_000 {
		t.Errorf("star width bound %d", n)
	}
	if n := b.FormatSize("{0:{1}}", '{', []*Value{AsValue("x"), AsValue(99999999999)}); n < 99999999999 {
		t.Errorf("nested width bound %d", n)
	}
	if n := b.FormatSize("{:>20} call 5551234567", '{', args); n > 4000 {
		t.Errorf("digits outside fields count: %d", n)
	}
}

func TestIntPow(t *testing.T) {
	for _, tc := range []struct {
		base, exp, want int
		ok              bool
	}{
		{2, 10, 1024, true}, {10, 18, 1e18, true}, {-3, 3, -27, true}, {0, 0, 1, true},
		{2, 63, 0, false}, {10, 19, 0, false}, {-2, 63, math.MinInt, true}, {3, 1000, 0, false},
	} {
		got, ok := intPow(tc.base, tc.exp)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("%d**%d = %d, %v", tc.base, tc.exp, got, ok)
		}
	}
}

func TestBudgetErrorSticks(t *testing.T) {
	b := NewBudget(context.Background(), Limits{Iterations: 2})
	if first, second := b.Tick(), b.Tick(); first != nil || second != nil {
		t.Fatal("within the budget")
	}
	err := b.Tick()
	if !errors.Is(err, ErrLimit) || err.Error() != "template exceeds 2 loop iterations and macro calls" {
		t.Fatalf("err %v", err)
	}
	if b.Check() != err || b.Grow(1, "x") != err || b.Err() != err {
		t.Fatal("the first error does not stick")
	}
}

func TestBudgetContext(t *testing.T) {
	cause := errors.New("stopped")
	ctx, cancel := context.WithCancelCause(context.Background())
	b := NewBudget(ctx, Limits{})
	if b.Tick() != nil {
		t.Fatal("live context")
	}
	cancel(cause)
	if err := b.Tick(); err != cause {
		t.Fatalf("err %v, want the context's cause", err)
	}
}

func TestChargeStopsOnSharedLists(t *testing.T) {
	// A list that holds itself twice per level: 2^60 paths, a few
	// hundred bytes of memory. Measuring must stop at the budget.
	v := []any{"x"}
	for range 60 {
		v = []any{v, v}
	}
	b := NewBudget(context.Background(), Limits{Value: 1 << 20, Alloc: 1 << 30})
	res := b.Charge(AsValue(v))
	if !res.IsError() || res.Error() != "template value exceeds 1048576 bytes" {
		t.Fatalf("charge %v", res)
	}
}

func TestChargeNesting(t *testing.T) {
	var v any = "x"
	for range MaxNesting + 1 {
		v = []any{v}
	}
	b := NewBudget(context.Background(), Limits{})
	if res := b.Charge(AsValue(v)); !res.IsError() || res.Error() != "template value nests deeper than 1000 levels" {
		t.Fatalf("charge %v", res)
	}
}

func TestNilBudget(t *testing.T) {
	var b *Budget
	if b.Tick() != nil || b.Enter() != nil || b.Grow(math.MaxInt, "x") != nil || b.Charge(AsValue("x")).IsError() {
		t.Fatal("a nil budget limits nothing")
	}
	b.Leave()
}
