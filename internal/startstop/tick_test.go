package startstop_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/startstop"
)

// TestTickWithStartGo: a periodic service, started with StartGo, calls
// its function at once (or an interval away) and every interval until
// Stop, and never after.
func TestTickWithStartGo(t *testing.T) {
	t.Parallel()
	for _, now := range []bool{true, false} {
		var b startstop.Base
		var calls atomic.Int32
		called := make(chan struct{}, 1)
		err := b.StartGo(context.Background(), func(ctx context.Context) {
			startstop.Tick(ctx, time.Millisecond, now, func(ctx context.Context) {
				if ctx.Err() != nil {
					t.Error("called with a done context")
				}
				calls.Add(1)
				select {
				case called <- struct{}{}:
				default:
				}
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		for calls.Load() < 3 {
			wait(t, called, "the periodic calls")
		}
		if err := b.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		n := calls.Load()
		if err := b.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := calls.Load(); got != n {
			t.Fatalf("%d calls after Stop returned", got-n)
		}
	}
}

// TestTickFirstCall: with now set the first call does not wait an
// interval.
func TestTickFirstCall(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var calls int
	startstop.Tick(ctx, time.Hour, true, func(context.Context) {
		calls++
		cancel()
	})
	if calls != 1 {
		t.Fatalf("%d calls, want 1", calls)
	}
}
