package procpool

import (
	"sync"
	"time"
)

// watchEvery is how often WatchMemory reads VmData.
const watchEvery = 5 * time.Millisecond

// WatchMemory calls f, once, when this worker's VmData passes seven
// eighths of the limit LimitMemory set, checking every 5 ms until stop is
// called; stop waits for a check in flight, so f is not called after it
// returns. Without a limit it does nothing.
//
// A call whose memory grows step by step (a runaway array) can so be
// ended with a clear error while its worker still has room, instead of
// meeting the kernel's refusal, which the Go runtime reports as "out of
// memory" at best and, seen once, as a bare SIGSEGV.
func WatchMemory(f func()) (stop func()) {
	limit := dataLimit.Load()
	if limit <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(watchEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if used, err := vmData(); err == nil && used > limit/8*7 {
					f()
					return
				}
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
