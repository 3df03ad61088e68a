package gctune

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestSetKeepsEnvironment(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	Set(400, 128<<20)
	if got := debug.SetGCPercent(-1); got != 400 {
		t.Errorf("GOGC unset: percent %d, want 400", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 128<<20 {
		t.Errorf("GOMEMLIMIT unset: limit %d, want %d", got, 128<<20)
	}

	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOGC", "100")
	t.Setenv("GOMEMLIMIT", "1GiB")
	Set(400, 128<<20)
	if got := debug.SetGCPercent(-1); got != 100 {
		t.Errorf("GOGC set: percent %d, want it left at 100", got)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT set: limit %d, want it left alone", got)
	}
}
