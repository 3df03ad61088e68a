package startstop

import (
	"context"
	"time"
)

// Tick calls fn every interval until ctx ends: the loop of a periodic
// service's goroutine. With now set the first call is at once, otherwise
// an interval away. A call in progress is not interrupted but given ctx.
func Tick(ctx context.Context, every time.Duration, now bool, fn func(context.Context)) {
	t := time.NewTicker(every)
	defer t.Stop()
	if now {
		fn(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ctx.Err() != nil {
			return
		}
		fn(ctx)
	}
}
