package files

import (
	"context"
	"log/slog"
	"time"
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
	cancel   context.CancelFunc
	done     chan struct{}
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
	return &Sweeper{store: store, ttl: ttl, interval: interval, log: log, clock: clock}
}

// Start sweeps once at once, then every interval, on a goroutine of its
// own until Stop or ctx's end.
func (s *Sweeper) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for {
			s.Sweep(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
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

// Stop ends the sweeps and waits for the one in progress.
func (s *Sweeper) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
}
