package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime/pprof"
	"sync"
	"time"
)

// exitAfter calls exit(1) if the caller has not called the returned stop
// func d after ctx ended: a shutdown must end in bounded time even when a
// node ignores cancellation or a backend hangs while records are flushed.
// Before exiting it logs the deadline and calls dump, which should show
// what was still running.
func exitAfter(ctx context.Context, d time.Duration, log *slog.Logger, dump func(), exit func(int)) (stop func()) {
	var (
		mu      sync.Mutex
		timer   *time.Timer
		stopped bool
	)
	cancel := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		timer = time.AfterFunc(d, func() {
			log.Error("shutdown did not finish in time; exiting", "deadline", d)
			dump()
			exit(1)
		})
	})
	return func() {
		cancel()
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		if timer != nil {
			timer.Stop()
		}
	}
}

// goroutineDump returns a dump func for exitAfter: it flushes the log
// buffer, then writes every goroutine's stack, identical stacks grouped,
// to out.
func goroutineDump(out io.Writer, logs interface{ Flush() error }) func() {
	return func() {
		_ = logs.Flush()
		fmt.Fprintln(out, "goroutines at the shutdown deadline:")
		_ = pprof.Lookup("goroutine").WriteTo(out, 1)
	}
}
