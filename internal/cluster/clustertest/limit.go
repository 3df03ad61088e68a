// Package clustertest is the conformance suite of the cluster-wide
// limiters (packages viaredis and viapg), run by each against its real
// backend.
package clustertest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Limiter is what the suite drives: the api's Limiter with its lease
// refresh lifecycle.
type Limiter interface {
	Acquire(ctx context.Context, appID, slot string, limit int) (bool, error)
	Release(ctx context.Context, appID, slot string) error
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// NewFunc returns replica instance's limiter, leasing slots for lease;
// the limiters of one test share their backend.
type NewFunc func(t *testing.T, instance string, lease time.Duration) Limiter

// Exercise runs the suite. Each subtest makes its limiters with newLimiter.
func Exercise(t *testing.T, newLimiter func(t *testing.T) NewFunc) {
	t.Run("ConcurrentAcrossReplicas", func(t *testing.T) {
		t.Parallel()
		mk := newLimiter(t)
		ls := []Limiter{mk(t, uuid.NewString(), time.Minute), mk(t, uuid.NewString(), time.Minute)}
		app := uuid.NewString()
		const limit, tries = 5, 40
		var ok atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, tries)
		for i := range tries {
			wg.Go(func() {
				got, err := ls[i%2].Acquire(context.Background(), app, uuid.NewString(), limit)
				if err != nil {
					errs <- err
				}
				if got {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if ok.Load() != limit {
			t.Fatalf("%d slots taken, want %d", ok.Load(), limit)
		}
	})
	t.Run("ReleaseFrees", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)(t, uuid.NewString(), time.Minute)
		ctx, app := context.Background(), uuid.NewString()
		mustAcquire(t, l, app, "s1", 1, true)
		mustAcquire(t, l, app, "s2", 1, false)
		// Another app has slots of its own.
		mustAcquire(t, l, uuid.NewString(), "s1", 1, true)
		if err := l.Release(ctx, app, "s1"); err != nil {
			t.Fatal(err)
		}
		mustAcquire(t, l, app, "s2", 1, true)
	})
	t.Run("DeadReplicaSlotsComeBack", func(t *testing.T) {
		t.Parallel()
		const lease = time.Second
		mk := newLimiter(t)
		// dead takes both slots and never refreshes them (it was killed);
		// live keeps refreshing its own.
		dead, live, other := mk(t, uuid.NewString(), lease), mk(t, uuid.NewString(), lease), mk(t, uuid.NewString(), lease)
		if err := live.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = live.Stop(context.Background()) })
		deadApp, liveApp := uuid.NewString(), uuid.NewString()
		took := time.Now()
		mustAcquire(t, dead, deadApp, "d1", 2, true)
		mustAcquire(t, dead, deadApp, "d2", 2, true)
		mustAcquire(t, live, liveApp, "l1", 1, true)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		bound := time.After(lease + 2*time.Second)
		for {
			ok, err := other.Acquire(context.Background(), deadApp, uuid.NewString(), 2)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				break
			}
			select {
			case <-tick.C:
			case <-bound:
				t.Fatalf("the dead replica's slots were not back within the lease (%s) and 2 s", lease)
			}
		}
		back := time.Since(took)
		t.Logf("a dead replica's slot came back %s after it was taken (lease %s)", back, lease)
		if back < lease-100*time.Millisecond {
			t.Fatalf("a slot expired after %s, before its lease of %s", back, lease)
		}
		// The live replica's slot has outlived its lease: still taken.
		mustAcquire(t, other, liveApp, "o1", 1, false)
	})
}

func mustAcquire(t *testing.T, l Limiter, app, slot string, limit int, want bool) {
	t.Helper()
	got, err := l.Acquire(context.Background(), app, slot, limit)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("Acquire(%s) = %v, want %v", slot, got, want)
	}
}

// Bench measures what APP_MAX_ACTIVE_REQUESTS adds to one run: taking its
// slot and freeing it (Acquire, then Release), runs going on in parallel.
func Bench(b *testing.B, l Limiter) {
	app := uuid.NewString()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			slot := uuid.NewString()
			ok, err := l.Acquire(ctx, app, slot, 1<<20)
			if err != nil || !ok {
				b.Errorf("Acquire = %v, %v", ok, err)
				return
			}
			if err := l.Release(ctx, app, slot); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
