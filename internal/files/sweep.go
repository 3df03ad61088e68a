package files

import (
	"context"
	"log/slog"
	"time"

	"github.com/flowrun/flowrun/internal/startstop"
)

// Deleter is what Sweeper needs of a repo.FileStore.
type Deleter interface {
	DeleteBefore(ctx context.Context, t time.Time) (int, error)
}

// Sweeper deletes uploads older than a TTL, every interval, until
// stopped: the retention of uploads.
type Sweeper struct {
	store    Deleter
	ttl      time.Duration
	interval time.Duration
	log      *slog.Logger
	clock    func() time.Time
	life     startstop.Base
}

// NewSweeper returns a Sweeper of store (nil log: slog.Default(); nil
// clock: time.Now). ttl and interval must be positive.
func NewSweeper(store Deleter, ttl, interval time.Duration, log *slog.Logger, clock func() time.Time) *Sweeper {
	if log == nil {
		log = slog.Default()
	}
	if clock == nil {
		clock = time.Now
	}
	s := &Sweeper{store: store, ttl: ttl, interval: interval, log: log, clock: clock}
	s.life.Name = "upload sweeper"
	return s
}

// Start sweeps once at once, then every interval, on a goroutine of its
// own until Stop or ctx's end. Starting twice is an error.
func (s *Sweeper) Start(ctx context.Context) error {
	return s.life.StartGo(ctx, func(ctx context.Context) {
		startstop.Tick(ctx, s.interval, true, s.Sweep)
	})
}

// Sweep deletes the uploads older than the TTL now.
func (s *Sweeper) Sweep(ctx context.Context) {
	n, err := s.store.DeleteBefore(ctx, s.clock().Add(-s.ttl))
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Warn("deleting expired uploads", "err", err)
	case n > 0:
		s.log.Info("deleted expired uploads", "uploads", n)
	}
}

// Stop ends the sweeps and waits for the one in progress, at most until
// ctx is done. Stopping twice, or a Sweeper never started, is a no-op.
func (s *Sweeper) Stop(ctx context.Context) error {
	return s.life.Stop(ctx)
}
