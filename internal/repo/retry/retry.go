// Package retry keeps what a store failed to write and writes it again:
// Writer, the sync mode's guard against a store outage (see
// docs/persistence.md).
package retry

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/startstop"
)

// Defaults for Config.
const (
	DefaultInterval   = time.Second
	DefaultMaxRecords = 100_000
	DefaultMaxBatch   = 1000
)

// Config tunes a Writer. Zero values take the defaults.
type Config struct {
	// Interval is how often failed batches are written again (default 1 s).
	Interval time.Duration
	// MaxRecords bounds the records kept for retrying (default 100,000);
	// beyond it failed batches are dropped with an error log, except those
	// of runs the store already holds as running (see Writer).
	MaxRecords int
	// MaxBatch is the most records written again in one write (default
	// 1000).
	MaxBatch int
	// Logger receives drops and give-ups (default slog.Default()).
	Logger *slog.Logger
}

// Writer is a repo.Writer that writes through another one and keeps every
// batch whose write failed, for a reason other than repo.ErrInvalid or
// repo.ErrConflict, to write it again every Interval until it succeeds.
//
// Write still returns the failure at once: the sync mode reports it to the
// client (503 persistence_unavailable) without waiting for the store. The
// retries are what make the store end up with a run's real final state
// once it is back, rather than a run stuck "running" because its later
// records were cut off by the outage. Writes are idempotent and may come in
// any order (the version rule), so a batch written again, or after a later
// one, is harmless.
//
// Memory is bounded by MaxRecords, with one exception: once the store
// holds, or a kept batch will give it, a record of a run whose final
// version it does not have yet, every later failed batch of that run is
// kept whatever the bound: dropping it would leave the run "running" (or
// its node executions without a run) in the store for good. Those are the
// runs in flight when the store went away, so their number is bounded by
// concurrency, not by the outage's length. Runs of which nothing was
// written or kept are the ones dropped when the bound is reached.
type Writer struct {
	cfg  Config
	next repo.Writer

	mu      sync.Mutex
	pending []*repo.Batch
	n       int
	// open holds the runs of which the store holds or will hold records,
	// but not yet the final version.
	open map[string]bool

	life startstop.Base
}

// New returns a Writer writing through next. Call Start, then Stop.
func New(next repo.Writer, cfg Config) *Writer {
	cfg.Interval = cmp.Or(cfg.Interval, DefaultInterval)
	cfg.MaxRecords = cmp.Or(cfg.MaxRecords, DefaultMaxRecords)
	cfg.MaxBatch = cmp.Or(cfg.MaxBatch, DefaultMaxBatch)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Writer{cfg: cfg, next: next, open: map[string]bool{}}
	r.life.Name = "retrier"
	return r
}

// Write implements repo.Writer: it writes b through, and keeps it for
// retrying if that fails.
func (r *Writer) Write(ctx context.Context, b *repo.Batch) error {
	err := r.next.Write(ctx, b)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil:
		r.track(b)
	case !errors.Is(err, repo.ErrInvalid) && !errors.Is(err, repo.ErrConflict):
		if r.n+b.Len() > r.cfg.MaxRecords && !r.needed(b) {
			r.cfg.Logger.Error("repo: too many records waiting to be written again; dropped", "records", b.Len(), "waiting", r.n, "err", err)
			break
		}
		r.pending = append(r.pending, b)
		r.n += b.Len()
		r.track(b)
	}
	return err
}

// track notes the runs of a batch written or kept: they are open until
// their final version is written or kept. (A run's final version comes in
// its last batch.)
func (r *Writer) track(b *repo.Batch) {
	final := map[string]bool{}
	for _, run := range b.Runs {
		if run.Status.Terminal() {
			final[run.ID] = true
		}
	}
	note := func(id string) {
		if final[id] {
			delete(r.open, id)
		} else {
			r.open[id] = true
		}
	}
	for _, run := range b.Runs {
		note(run.ID)
	}
	for _, n := range b.NodeExecutions {
		note(n.WorkflowRunID)
	}
	for _, l := range b.AppLogs {
		note(l.WorkflowRunID)
	}
}

// needed reports whether b holds records of an open run.
func (r *Writer) needed(b *repo.Batch) bool {
	for _, run := range b.Runs {
		if r.open[run.ID] {
			return true
		}
	}
	for _, n := range b.NodeExecutions {
		if r.open[n.WorkflowRunID] {
			return true
		}
	}
	for _, l := range b.AppLogs {
		if r.open[l.WorkflowRunID] {
			return true
		}
	}
	return false
}

// Pending returns how many records wait to be written again.
func (r *Writer) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// Start starts retrying in the background, until Stop (ctx's
// cancellation does not stop it). Starting twice is an error.
func (r *Writer) Start(ctx context.Context) error {
	return r.life.StartGo(context.WithoutCancel(ctx), func(ctx context.Context) {
		startstop.Tick(ctx, r.cfg.Interval, false, r.retry)
	})
}

// Stop stops retrying after a last attempt bounded by ctx, and logs what
// is still unwritten. It returns ctx's error, without the last attempt,
// if a retry under way does not end in time.
func (r *Writer) Stop(ctx context.Context) error {
	if err := r.life.Stop(ctx); err != nil {
		return err
	}
	r.retry(ctx)
	if n := r.Pending(); n > 0 {
		r.cfg.Logger.Error("repo: records still unwritten at shutdown; dropped", "records", n)
		return errors.New("repo: records still unwritten at shutdown")
	}
	return nil
}

// retry writes the waiting batches, MaxBatch records at a time, until one
// write fails.
func (r *Writer) retry(ctx context.Context) {
	for ctx.Err() == nil {
		r.mu.Lock()
		i, merged := 0, &repo.Batch{}
		for i < len(r.pending) && (i == 0 || merged.Len()+r.pending[i].Len() <= r.cfg.MaxBatch) {
			merged.Append(r.pending[i])
			i++
		}
		// Only retry removes batches, so these stay at the front.
		taken := slices.Clone(r.pending[:i])
		r.mu.Unlock()
		if i == 0 {
			return
		}
		records := merged.Len()
		err := r.next.Write(ctx, merged)
		if errors.Is(err, repo.ErrInvalid) || errors.Is(err, repo.ErrConflict) {
			// One batch spoils the merge: write them one by one and give up
			// on those the store rejects.
			for _, b := range taken {
				if berr := r.next.Write(ctx, b); berr != nil {
					if !errors.Is(berr, repo.ErrInvalid) && !errors.Is(berr, repo.ErrConflict) {
						return
					}
					r.cfg.Logger.Error("repo: records rejected when written again; dropped", "records", b.Len(), "err", berr)
				}
				r.dropFront(1, b.Len())
			}
			continue
		}
		if err != nil {
			return
		}
		r.dropFront(i, records)
	}
}

// dropFront forgets the first k waiting batches, holding records records
// (written, or given up on).
func (r *Writer) dropFront(k, records int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = slices.Delete(r.pending, 0, k)
	r.n -= records
}
