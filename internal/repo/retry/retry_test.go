package retry_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/retry"
)

// flakyWriter fails with its err until healed, and records what it took.
type flakyWriter struct {
	mu     sync.Mutex
	err    error
	stored map[string]bool
}

func (f *flakyWriter) Write(_ context.Context, b *repo.Batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range b.Runs {
		if r.ID == "bad" {
			return repo.ErrInvalid
		}
	}
	if f.err != nil {
		return f.err
	}
	for _, r := range b.Runs {
		f.stored[r.ID] = true
	}
	return nil
}

func (f *flakyWriter) set(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *flakyWriter) has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stored[id]
}

func TestRetrierWritesFailedBatchesAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := &flakyWriter{err: repo.ErrUnavailable, stored: map[string]bool{}}
	r := retry.New(w, retry.Config{Interval: 5 * time.Millisecond, MaxBatch: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	batch := func(id string) *repo.Batch { return &repo.Batch{Runs: []*repo.WorkflowRun{{ID: id}}} }
	for _, id := range []string{"a", "b", "c"} {
		if err := r.Write(ctx, batch(id)); !errors.Is(err, repo.ErrUnavailable) {
			t.Fatalf("Write during the outage = %v, want the store's error at once", err)
		}
	}
	// A batch the store rejects is not kept: retrying cannot help.
	if err := r.Write(ctx, batch("bad")); !errors.Is(err, repo.ErrInvalid) {
		t.Fatal(err)
	}
	if n := r.Pending(); n != 3 {
		t.Fatalf("Pending = %d, want 3", n)
	}
	w.set(nil)
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for r.Pending() > 0 {
		select {
		case <-deadline:
			t.Fatalf("still %d records pending after the store came back", r.Pending())
		case <-tick.C:
		}
	}
	for _, id := range []string{"a", "b", "c"} {
		if !w.has(id) {
			t.Errorf("run %s was never written again", id)
		}
	}
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRetrierStopReportsUnwritten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := &flakyWriter{err: repo.ErrUnavailable, stored: map[string]bool{}}
	r := retry.New(w, retry.Config{Interval: time.Hour, MaxRecords: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r.Write(ctx, &repo.Batch{Runs: []*repo.WorkflowRun{{ID: "a"}}})
	// Beyond MaxRecords a failed batch is dropped, not kept.
	r.Write(ctx, &repo.Batch{Runs: []*repo.WorkflowRun{{ID: "b"}}})
	if n := r.Pending(); n != 1 {
		t.Fatalf("Pending = %d, want 1", n)
	}
	if err := r.Stop(ctx); err == nil {
		t.Fatal("Stop with unwritten records returned nil")
	}
}

// TestRetrierKeepsOpenRuns: past MaxRecords, failed batches are dropped,
// except those of a run the store holds (or a kept batch will give it)
// records of without its final version: dropping them would leave it
// running for good.
func TestRetrierKeepsOpenRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := &flakyWriter{stored: map[string]bool{}}
	r := retry.New(w, retry.Config{Interval: time.Hour, MaxRecords: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Stop(ctx)
	run := func(id string, st repo.Status) *repo.Batch {
		return &repo.Batch{Runs: []*repo.WorkflowRun{{ID: id, Status: st}}}
	}
	// "written" reached the store as running before the outage.
	if err := r.Write(ctx, run("written", repo.StatusRunning)); err != nil {
		t.Fatal(err)
	}
	w.set(repo.ErrUnavailable)
	r.Write(ctx, run("kept", repo.StatusRunning))      // kept: within the bound
	r.Write(ctx, run("new", repo.StatusRunning))       // dropped: nothing of it written or kept
	r.Write(ctx, run("written", repo.StatusSucceeded)) // kept beyond the bound
	r.Write(ctx, &repo.Batch{NodeExecutions: []*repo.NodeExecution{{ID: "n", WorkflowRunID: "kept", Status: repo.StatusSucceeded}}})
	r.Write(ctx, run("kept", repo.StatusSucceeded)) // kept beyond the bound
	r.Write(ctx, run("new", repo.StatusSucceeded))  // dropped
	if n := r.Pending(); n != 4 {
		t.Fatalf("Pending = %d, want 4 (both later batches of written, every batch of kept)", n)
	}
}
