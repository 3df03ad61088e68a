package cluster

import (
	"context"
	"log/slog"
	"time"

	"github.com/flowrun/flowrun/internal/startstop"
)

// Ticker calls a function every interval between Start and Stop: the
// limiters' refresh of their slots' leases.
type Ticker struct {
	every time.Duration
	fn    func(context.Context) error
	log   *slog.Logger
	what  string
	life  startstop.Base
}

// NewTicker returns a Ticker calling fn every interval; failures are
// logged as failures of what.
func NewTicker(every time.Duration, fn func(context.Context) error, log *slog.Logger, what string) *Ticker {
	t := &Ticker{every: every, fn: fn, log: log, what: what}
	t.life.Name = "cluster: " + what
	return t
}

// Start starts calling the function (the first call is one interval
// away) until Stop; ctx's cancellation does not stop it. Starting twice
// is an error.
func (t *Ticker) Start(ctx context.Context) error {
	return t.life.StartGo(context.WithoutCancel(ctx), func(ctx context.Context) {
		startstop.Tick(ctx, t.every, false, t.call)
	})
}

func (t *Ticker) call(ctx context.Context) {
	if err := t.fn(ctx); err != nil && ctx.Err() == nil {
		t.log.Warn("cluster: "+t.what, "err", err)
	}
}

// Stop stops the calls, waiting for one in progress at most until ctx is
// done. Stopping twice, or a Ticker never started, is a no-op.
func (t *Ticker) Stop(ctx context.Context) error {
	return t.life.Stop(ctx)
}
