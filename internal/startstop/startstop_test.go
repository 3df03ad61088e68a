package startstop_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/flowrun/flowrun/internal/startstop"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait fails the test unless c is closed within a few seconds.
func wait(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// loop starts a goroutine on b that runs until its context ends and
// records the cause.
func loop(t *testing.T, b *startstop.Base, cause *atomic.Value) {
	t.Helper()
	if !b.Go(func(ctx context.Context) {
		<-ctx.Done()
		cause.Store(context.Cause(ctx))
	}) {
		t.Fatal("Go refused on a started service")
	}
}

func TestStartStopOnce(t *testing.T) {
	t.Parallel()
	var b startstop.Base
	ctx := context.Background()
	if err := b.Stop(ctx); err != nil {
		t.Fatalf("Stop before Start = %v", err)
	}
	if err := b.Err(); !errors.Is(err, startstop.ErrNotStarted) {
		t.Fatalf("Err before Start = %v, want ErrNotStarted", err)
	}
	var cause atomic.Value
	if err := b.Start(ctx, func(context.Context) error { loop(t, &b, &cause); return nil }); err != nil {
		t.Fatalf("Start after a Stop of a service never started = %v", err)
	}
	if err := b.Err(); err != nil {
		t.Fatalf("Err while running = %v", err)
	}
	if err := b.Start(ctx, nil); !errors.Is(err, startstop.ErrStarted) {
		t.Fatalf("second Start = %v, want ErrStarted", err)
	}
	stopped := b.Stopped()
	if closed(stopped) {
		t.Fatal("Stopped closed while running")
	}
	if err := b.Stop(ctx); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	if c := cause.Load(); c != startstop.ErrStop {
		t.Fatalf("the goroutine's context ended with %v, want ErrStop", c)
	}
	if !closed(stopped) {
		t.Fatal("Stopped not closed after Stop")
	}
	if err := b.Stop(ctx); err != nil {
		t.Fatalf("second Stop = %v", err)
	}
	if err := b.Start(ctx, nil); !errors.Is(err, startstop.ErrStop) {
		t.Fatalf("Start after Stop = %v, want ErrStop", err)
	}
	if err := b.Err(); !errors.Is(err, startstop.ErrStop) {
		t.Fatalf("Err after Stop = %v, want ErrStop", err)
	}
	if b.Go(func(context.Context) { t.Error("goroutine ran after Stop") }) {
		t.Fatal("Go accepted after Stop")
	}
}

// TestStopBounded: a goroutine that ignores its context makes Stop
// return ctx's error; a later Stop waits for it again.
func TestStopBounded(t *testing.T) {
	t.Parallel()
	b := startstop.Base{Name: "stuck service"}
	release, ended := make(chan struct{}), make(chan struct{})
	err := b.Start(context.Background(), func(context.Context) error {
		b.Go(func(context.Context) {
			defer close(ended)
			<-release
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := b.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "stuck service: ") {
		t.Fatalf("Stop of a stuck goroutine = %v, want DeadlineExceeded, named", err)
	}
	if closed(b.Stopped()) {
		t.Fatal("Stopped closed while a goroutine runs")
	}
	close(release)
	if err := b.Stop(context.Background()); err != nil {
		t.Fatalf("Stop once the goroutine can end = %v", err)
	}
	if !closed(ended) || !closed(b.Stopped()) {
		t.Fatal("Stop returned nil before the goroutine ended")
	}
}

func TestStopThenRunsLastOnce(t *testing.T) {
	t.Parallel()
	var b startstop.Base
	var n atomic.Int32
	last := func(context.Context) error { n.Add(1); return errors.New("last failed") }
	if err := b.StopThen(context.Background(), last); err != nil || n.Load() != 0 {
		t.Fatalf("StopThen before Start = %v, last ran %d times; want nil, 0", err, n.Load())
	}
	var cause atomic.Value
	if err := b.Start(context.Background(), func(context.Context) error { loop(t, &b, &cause); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := b.StopThen(context.Background(), func(ctx context.Context) error {
		if cause.Load() == nil {
			t.Error("last ran before the goroutines ended")
		}
		return last(ctx)
	}); err == nil || err.Error() != "last failed" {
		t.Fatalf("StopThen = %v, want last's error", err)
	}
	if err := b.StopThen(context.Background(), last); err != nil || n.Load() != 1 {
		t.Fatalf("second StopThen = %v, last ran %d times; want nil, 1", err, n.Load())
	}
}

// TestFailedStart: a Start whose start-up fails cancels and waits for the
// goroutines it began, and leaves the service startable.
func TestFailedStart(t *testing.T) {
	t.Parallel()
	var b startstop.Base
	boom := errors.New("boom")
	var cause atomic.Value
	err := b.Start(context.Background(), func(context.Context) error {
		loop(t, &b, &cause)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Start = %v, want the start-up's error", err)
	}
	if cause.Load() == nil {
		t.Fatal("Start returned before the goroutine it began ended")
	}
	if err := b.Err(); !errors.Is(err, startstop.ErrNotStarted) {
		t.Fatalf("Err after a failed Start = %v, want ErrNotStarted", err)
	}
	if err := b.Stop(context.Background()); err != nil {
		t.Fatalf("Stop after a failed Start = %v", err)
	}
	if err := b.Start(context.Background(), nil); err != nil {
		t.Fatalf("Start after a failed Start = %v", err)
	}
	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestStopDuringStart: Stop waits for a start-up under way, whose
// goroutines see the cancelled context.
func TestStopDuringStart(t *testing.T) {
	t.Parallel()
	var b startstop.Base
	entered := make(chan struct{})
	var cause atomic.Value
	started := make(chan error, 1)
	go func() {
		started <- b.Start(context.Background(), func(run context.Context) error {
			close(entered)
			<-run.Done() // until Stop
			loop(t, &b, &cause)
			return nil
		})
	}()
	wait(t, entered, "the start-up")
	if err := b.Stop(context.Background()); err != nil {
		t.Fatalf("Stop during Start = %v", err)
	}
	if cause.Load() != startstop.ErrStop {
		t.Fatal("Stop returned before the start-up's goroutine ended")
	}
	if err := <-started; err != nil {
		t.Fatalf("Start = %v", err)
	}
}

func TestEnterLeave(t *testing.T) {
	t.Parallel()
	var b startstop.Base
	if _, err := b.Enter(); !errors.Is(err, startstop.ErrNotStarted) {
		t.Fatalf("Enter before Start = %v, want ErrNotStarted", err)
	}
	if err := b.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	ctx, err := b.Enter()
	if err != nil {
		t.Fatalf("Enter = %v", err)
	}
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := b.Stop(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with work in flight = %v, want DeadlineExceeded", err)
	}
	if context.Cause(ctx) != startstop.ErrStop {
		t.Fatalf("the work's context ended with %v, want ErrStop", context.Cause(ctx))
	}
	if _, err := b.Enter(); !errors.Is(err, startstop.ErrStop) {
		t.Fatalf("Enter while stopping = %v, want ErrStop", err)
	}
	b.Leave()
	if err := b.Stop(context.Background()); err != nil {
		t.Fatalf("Stop once the work left = %v", err)
	}
}

// TestConcurrentUse: Start, Stop, Go and Enter from many goroutines (run
// it with -race); every goroutine started has ended once a Stop returned
// nil.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	for range 50 {
		var b startstop.Base
		var running atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				switch i % 4 {
				case 0:
					_ = b.Start(context.Background(), nil)
				case 1:
					b.Go(func(ctx context.Context) {
						running.Add(1)
						defer running.Add(-1)
						<-ctx.Done()
					})
				case 2:
					if _, err := b.Enter(); err == nil {
						b.Leave()
					}
				case 3:
					_ = b.Stop(context.Background())
				}
			})
		}
		wg.Wait()
		if err := b.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := running.Load(); n != 0 {
			t.Fatalf("%d goroutines still running after Stop", n)
		}
	}
}
