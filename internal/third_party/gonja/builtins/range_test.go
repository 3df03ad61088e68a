package builtins

// Tests of the fork's range() (not part of upstream gonja).

import (
	"math"
	"testing"
)

func TestRangeLength(t *testing.T) {
	for _, tc := range []struct {
		start, stop, step int
		want              uint64
	}{
		{0, 10, 1, 10}, {0, 10, 3, 4}, {10, 0, -3, 4}, {0, 0, 1, 0}, {5, 0, 1, 0}, {0, 5, -1, 0},
		{math.MinInt, math.MaxInt, 1, math.MaxUint64},
		{math.MaxInt, math.MinInt, math.MinInt, 2},
		{-(1 << 62), 1 << 62, 3, 3074457345618258603},
	} {
		if got := rangeLength(tc.start, tc.stop, tc.step); got != tc.want {
			t.Errorf("range(%d, %d, %d): %d items, want %d", tc.start, tc.stop, tc.step, got, tc.want)
		}
	}
}
