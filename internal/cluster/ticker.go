package cluster

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Ticker calls a function every interval between Start and Stop: the
// limiters' refresh of their slots' leases.
type Ticker struct {
	every time.Duration
	fn    func(context.Context) error
	log   *slog.Logger
	what  string

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// NewTicker returns a Ticker calling fn every interval; failures are
// logged as failures of what.
func NewTicker(every time.Duration, fn func(context.Context) error, log *slog.Logger, what string) *Ticker {
	return &Ticker{every: every, fn: fn, log: log, what: what, done: make(chan struct{})}
}

// Start starts calling the function (the first call is one interval
// away).
func (t *Ticker) Start(ctx context.Context) {
	ctx, t.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(t.done)
		tk := time.NewTicker(t.every)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			if err := t.fn(ctx); err != nil && ctx.Err() == nil {
				t.log.Warn("cluster: "+t.what, "err", err)
			}
		}
	}()
}

// Stop stops the calls, waiting for one in progress at most until ctx is
// done. Stopping twice, or a Ticker never started, is a no-op.
func (t *Ticker) Stop(ctx context.Context) error {
	var err error
	t.once.Do(func() {
		if t.cancel == nil {
			return
		}
		t.cancel()
		select {
		case <-t.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	})
	return err
}
