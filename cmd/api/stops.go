package main

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// stopWithin stops a service with a deadline of d from now, whether or
// not ctx (the process's, done at shutdown) has ended, and logs a stop
// that failed or overran as a failure to stop what.
func stopWithin(ctx context.Context, d time.Duration, log *slog.Logger, what string, stop func(context.Context) error) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	defer cancel()
	if err := stop(sctx); err != nil {
		log.Error("stopping "+what, "err", err)
	}
}

// stops holds the stop functions of what has started, to stop it all,
// last started first.
type stops []func(context.Context) error

func (s *stops) add(stop func(context.Context) error) { *s = append(*s, stop) }

// stop runs every stop function with ctx and joins their errors.
func (s stops) stop(ctx context.Context) error {
	var errs []error
	for i := len(s) - 1; i >= 0; i-- {
		errs = append(errs, s[i](ctx))
	}
	return errors.Join(errs...)
}
