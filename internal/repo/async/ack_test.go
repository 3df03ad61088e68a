package async

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/flowrun/flowrun/internal/repo"
)

// finalOf builds the last batch of a run: its succeeded version and n node
// executions.
func finalOf(runID string, n int) *repo.Batch {
	b := batchOf(runID, n)
	b.Runs[0].Status, b.Runs[0].Seq = repo.StatusSucceeded, int64(n+2)
	return b
}

// started returns a started writer, stopped when the test ends.
func started(t *testing.T, q Enqueuer, cfg Config) *Writer {
	t.Helper()
	w, err := New(q, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Stop(context.Background()) })
	return w
}

// await returns what a background Write returned.
func await(t *testing.T, wrote <-chan error) error {
	t.Helper()
	select {
	case err := <-wrote:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Write did not return")
		return nil
	}
}

// notReturned fails the test if a background Write has returned.
func notReturned(t *testing.T, wrote <-chan error, why string) {
	t.Helper()
	select {
	case err := <-wrote:
		t.Fatalf("Write returned %v %s", err, why)
	default:
	}
}

func TestAckEnqueuedReturnsOnceInRedis(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// With a minute's FlushInterval, only a waiting writer gets a flush.
	w := started(t, b.client, Config{Queue: b.queue, FlushInterval: time.Minute, Ack: AckEnqueued})
	id := uuid.NewString()
	if err := w.Write(context.Background(), batchOf(id, 2)); err != nil {
		t.Fatal(err)
	}
	if n := records(b.queued(t)); n != 0 {
		t.Fatalf("%d records enqueued at once; a batch that does not finish a run should wait for FlushInterval", n)
	}
	if err := w.Write(context.Background(), finalOf(id, 1)); err != nil {
		t.Fatal(err)
	}
	// Both batches are in Redis by now: the run's end and what came before.
	got := b.queued(t)
	if len(got) != 1 || len(got[0].Runs) != 1 || got[0].Runs[0].Status != repo.StatusSucceeded || len(got[0].NodeExecutions) != 3 {
		t.Fatalf("queued right after Write returned: %d tasks, %d records; want the run (succeeded) and its 3 node executions", len(got), records(got))
	}
}

func TestAckModeDecidesWhenWriteReturns(t *testing.T) {
	t.Parallel()
	t.Run("buffered", func(t *testing.T) {
		t.Parallel()
		g := &gated{tokens: make(chan struct{})}
		w := started(t, g, Config{FlushInterval: time.Millisecond, EnqueueTimeout: time.Minute, Logger: quiet()})
		t.Cleanup(func() { close(g.tokens) }) // before Stop
		if err := w.Write(context.Background(), finalOf(uuid.NewString(), 2)); err != nil {
			t.Fatal(err)
		}
		// Write has returned; the batch is only now being enqueued.
		eventually(t, "the flusher in Redis", func() bool { return g.waiting.Load() == 1 })
		g.mu.Lock()
		defer g.mu.Unlock()
		if len(g.got) != 0 {
			t.Fatal("the batch was enqueued before the enqueue was let through")
		}
	})
	t.Run("enqueued", func(t *testing.T) {
		t.Parallel()
		g := &gated{tokens: make(chan struct{})}
		w := started(t, g, Config{FlushInterval: time.Minute, EnqueueTimeout: time.Minute, Ack: AckEnqueued, Logger: quiet()})
		t.Cleanup(func() { close(g.tokens) })
		wrote := make(chan error, 1)
		go func() { wrote <- w.Write(context.Background(), finalOf(uuid.NewString(), 2)) }()
		// Flushed at once despite the minute's FlushInterval.
		eventually(t, "the flusher in Redis", func() bool { return g.waiting.Load() == 1 })
		notReturned(t, wrote, "while its batch was still being enqueued")
		g.tokens <- struct{}{}
		if err := await(t, wrote); err != nil {
			t.Fatal(err)
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if len(g.got) != 1 {
			t.Fatalf("%d tasks enqueued, want 1", len(g.got))
		}
	})
}

func TestAckWaiterGivesUpWithItsContext(t *testing.T) {
	t.Parallel()
	g := &gated{tokens: make(chan struct{})}
	w := started(t, g, Config{EnqueueTimeout: time.Minute, Ack: AckEnqueued, Logger: quiet()})
	ctx, cancel := context.WithCancel(context.Background())
	wrote := make(chan error, 1)
	go func() { wrote <- w.Write(ctx, finalOf(uuid.NewString(), 2)) }()
	eventually(t, "the flusher in a hanging Redis", func() bool { return g.waiting.Load() == 1 })
	cancel()
	if err := await(t, wrote); !errors.Is(err, repo.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Write after its context ended = %v, want ErrUnavailable and context.Canceled", err)
	}
	// The batch was not dropped: it goes out when Redis answers.
	close(g.tokens)
	eventually(t, "the batch enqueued", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.got) == 1
	})
}

func TestAckConcurrentRunsShareEnqueues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := &gated{tokens: make(chan struct{}), next: b.client}
	m := NewMetrics(nil)
	w := started(t, g, Config{Queue: b.queue, FlushInterval: time.Minute, Ack: AckEnqueued, Metrics: m})
	const writers = 16
	wrote := make(chan error, writers)
	for range writers {
		go func() { wrote <- w.Write(context.Background(), finalOf(uuid.NewString(), 2)) }()
	}
	// The first flush is held in Redis while the other runs finish.
	eventually(t, "every batch in memory", func() bool {
		return g.waiting.Load() == 1 && testutil.ToFloat64(m.Buffered) == writers*3
	})
	close(g.tokens)
	for range writers {
		if err := await(t, wrote); err != nil {
			t.Fatal(err)
		}
	}
	got := b.queued(t)
	if records(got) != writers*3 {
		t.Fatalf("%d records queued, want %d", records(got), writers*3)
	}
	if len(got) > 2 {
		t.Fatalf("%d tasks for %d runs finishing together, want them to share enqueues (≤ 2)", len(got), writers)
	}
	if c := histogramCount(t, m.AckWait); c != writers {
		t.Fatalf("ack waits observed: %d, want %d", c, writers)
	}
}

func histogramCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	var d dto.Metric
	if err := h.Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetHistogram().GetSampleCount()
}

func TestAckWaiterOutlivesRetries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// No spool: while Redis is down the batch is put back and retried.
	w := started(t, b.sw, Config{Queue: b.queue, ReplayInterval: 10 * time.Millisecond, Ack: AckEnqueued, Logger: quiet()})
	b.sw.down.Store(true)
	wrote := make(chan error, 1)
	go func() { wrote <- w.Write(context.Background(), finalOf(uuid.NewString(), 2)) }()
	eventually(t, "a failed enqueue and a retry", func() bool { return b.sw.failed.Load() >= 2 })
	notReturned(t, wrote, "while neither Redis nor a spool took its batch")
	b.sw.down.Store(false)
	if err := await(t, wrote); err != nil {
		t.Fatal(err)
	}
	if n := records(b.queued(t)); n != 3 {
		t.Fatalf("%d records queued, want 3", n)
	}
}

func TestAckSpooledBatchIsAcknowledged(t *testing.T) {
	t.Parallel()
	spool := t.TempDir()
	w := started(t, &refusing{}, Config{SpoolDir: spool, FlushInterval: time.Minute, Ack: AckEnqueued, Logger: quiet()})
	if err := w.Write(context.Background(), finalOf(uuid.NewString(), 2)); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(spool); len(entries) != 1 {
		t.Fatalf("%d spool files when Write returned, want 1", len(entries))
	}
}

func TestAckStopDropsWaitingBatch(t *testing.T) {
	t.Parallel()
	r := &refusing{}
	m := NewMetrics(nil)
	w := started(t, r, Config{Ack: AckEnqueued, Metrics: m, Logger: quiet()})
	wrote := make(chan error, 1)
	go func() { wrote <- w.Write(context.Background(), finalOf(uuid.NewString(), 2)) }()
	eventually(t, "a failed enqueue", func() bool { return r.tries.Load() >= 1 })
	// Shutting down with Redis down and no spool drops the batch.
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := await(t, wrote); !errors.Is(err, repo.ErrUnavailable) {
		t.Fatalf("Write of a dropped batch = %v, want ErrUnavailable", err)
	}
	if testutil.ToFloat64(m.Dropped) != 3 {
		t.Fatalf("dropped %v records, want 3", testutil.ToFloat64(m.Dropped))
	}
}

func TestAckUnmarshalText(t *testing.T) {
	t.Parallel()
	for _, want := range []Ack{AckBuffered, AckEnqueued} {
		var got Ack
		if err := got.UnmarshalText([]byte(want.String())); err != nil || got != want {
			t.Fatalf("UnmarshalText(%q) = %v, %v", want, got, err)
		}
	}
	var a Ack
	if err := a.UnmarshalText([]byte("Enqueued")); !errors.Is(err, ErrInvalidAck) {
		t.Fatalf("UnmarshalText(Enqueued) = %v, want ErrInvalidAck", err)
	}
}
