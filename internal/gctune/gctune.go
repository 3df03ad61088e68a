// Package gctune sets the Go garbage collector's defaults for flowrun's
// processes, leaving any setting the environment makes (GOGC, GOMEMLIMIT)
// alone.
package gctune

import (
	"os"
	"runtime/debug"
)

// Set sets the GC target percentage to percent unless GOGC is set, and the
// soft memory limit to limit bytes unless GOMEMLIMIT is set.
func Set(percent int, limit int64) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(percent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit)
	}
}
