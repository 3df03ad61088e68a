package cluster_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/cluster"
	"github.com/flowrun/flowrun/internal/startstop"
)

// memBus is a Bus within the process: every subscriber gets every
// message, on its own goroutine.
type memBus struct {
	mu   sync.Mutex
	subs map[chan []byte]bool
	// hold, if set, keeps Subscribe from becoming ready.
	hold bool
}

func newMemBus() *memBus { return &memBus{subs: map[chan []byte]bool{}} }

func (b *memBus) Publish(ctx context.Context, msg []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.subs {
		c <- msg
	}
	return len(b.subs), nil
}

func (b *memBus) Subscribe(ctx context.Context, deliver func([]byte), ready func()) error {
	if b.hold {
		<-ctx.Done()
		return nil
	}
	c := make(chan []byte, 64)
	b.mu.Lock()
	b.subs[c] = true
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.subs, c)
		b.mu.Unlock()
	}()
	ready()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-c:
			deliver(m)
		}
	}
}

// holder runs one task, whose run ends only when its wait's context
// does: a node that ignores the stop.
type holder struct {
	task      string
	cancelled chan struct{} // closed by CancelTask
	waited    chan struct{} // closed when wait returns
}

func newHolder(task string) *holder {
	return &holder{task: task, cancelled: make(chan struct{}), waited: make(chan struct{})}
}

func (h *holder) CancelTask(taskID, _, _ string) (func(context.Context) error, bool) {
	if taskID != h.task {
		return nil, false
	}
	close(h.cancelled)
	return func(ctx context.Context) error {
		defer close(h.waited)
		<-ctx.Done()
		return ctx.Err()
	}, true
}

func (h *holder) Tasks() []string { return []string{h.task} }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newStopper(t *testing.T, bus cluster.Bus, origin string, stopWait time.Duration) *cluster.Stopper {
	t.Helper()
	s, err := cluster.NewStopper(bus, cluster.StopConfig{Origin: origin, AckWait: 5 * time.Second, StopWait: stopWait, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func stopWithin(t *testing.T, s *cluster.Stopper) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop = %v", err)
	}
}

func TestStopperLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStopper(t, newMemBus(), "a", time.Second)
	stopWithin(t, s) // never started: a no-op
	if err := s.Start(ctx, newHolder("t")); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx, newHolder("t")); !errors.Is(err, startstop.ErrStarted) {
		t.Fatalf("second Start = %v, want ErrStarted", err)
	}
	stopWithin(t, s)
	stopWithin(t, s)

	// A subscription that never becomes ready fails Start at ctx's end,
	// and Start leaves no goroutine behind.
	held := newMemBus()
	held.hold = true
	s = newStopper(t, held, "b", time.Second)
	sctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := s.Start(sctx, newHolder("t")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start without a subscription = %v, want DeadlineExceeded", err)
	}
}

// TestStopperStopEndsServing: Stop ends the serving of a request whose
// run does not end, rather than leaving it to outlive the Stopper.
func TestStopperStopEndsServing(t *testing.T) {
	t.Parallel()
	bus := newMemBus()
	h := newHolder("t1")
	requester, holding := newStopper(t, bus, "a", time.Minute), newStopper(t, bus, "b", time.Minute)
	for _, s := range []*cluster.Stopper{requester, holding} {
		if err := s.Start(context.Background(), h); err != nil {
			t.Fatal(err)
		}
	}
	reqCtx, cancelReq := context.WithCancel(context.Background())
	defer cancelReq()
	result := make(chan error, 1)
	go func() {
		_, err := requester.StopTask(reqCtx, "t1", "app", "user")
		result <- err
	}()
	select {
	case <-h.cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the holder was never asked to stop the task")
	}
	stopWithin(t, holding)
	select {
	case <-h.waited:
	default:
		t.Fatal("Stop returned while the holder's side still waited for the run")
	}
	cancelReq()
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Fatalf("StopTask = %v, want the requester's cancellation", err)
	}
	stopWithin(t, requester)
}
