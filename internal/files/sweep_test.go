package files_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/files"
	"github.com/flowrun/flowrun/internal/startstop"
)

// deleter records the cutoffs it is asked to delete before.
type deleter struct {
	mu      sync.Mutex
	cutoffs []time.Time
	calls   chan struct{}
}

func (d *deleter) DeleteBefore(_ context.Context, t time.Time) (int, error) {
	d.mu.Lock()
	d.cutoffs = append(d.cutoffs, t)
	d.mu.Unlock()
	select {
	case d.calls <- struct{}{}:
	default:
	}
	return 0, nil
}

func (d *deleter) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.cutoffs)
}

func TestSweeperSweepsUntilStopped(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d := &deleter{calls: make(chan struct{}, 1)}
	s := files.NewSweeper(d, time.Hour, time.Millisecond, nil, func() time.Time { return now })
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); !errors.Is(err, startstop.ErrStarted) {
		t.Fatalf("second Start = %v, want ErrStarted", err)
	}
	deadline := time.After(10 * time.Second)
	for d.count() < 3 {
		select {
		case <-d.calls:
		case <-deadline:
			t.Fatalf("%d sweeps, want 3", d.count())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	n := d.count()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("second Stop = %v", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.cutoffs) != n {
		t.Fatalf("%d sweeps after Stop returned", len(d.cutoffs)-n)
	}
	if want := now.Add(-time.Hour); !d.cutoffs[0].Equal(want) {
		t.Fatalf("swept before %v, want %v", d.cutoffs[0], want)
	}
}
