package async

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/flowrun/flowrun/internal/repo"
)

// redisOpt returns the test Redis from TEST_REDIS_URL; tests fail, never
// skip, without it (scripts/test.sh starts one).
func redisOpt(t testing.TB) asynq.RedisConnOpt {
	t.Helper()
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		t.Fatal("TEST_REDIS_URL is not set: run the tests with scripts/test.sh, which starts Redis")
	}
	opt, err := asynq.ParseRedisURI(url)
	if err != nil {
		t.Fatal(err)
	}
	return opt
}

// switchable wraps the real client; while down it fails like an
// unreachable Redis.
type switchable struct {
	q      Enqueuer
	down   atomic.Bool
	n      atomic.Int64
	failed atomic.Int64
}

func (s *switchable) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	if s.down.Load() {
		s.failed.Add(1)
		return nil, errors.New("dial tcp: connection refused")
	}
	s.n.Add(1)
	return s.q.EnqueueContext(ctx, t, opts...)
}

type bundle struct {
	client *asynq.Client
	insp   *asynq.Inspector
	queue  string
	sw     *switchable
}

func setup(t *testing.T) *bundle {
	t.Helper()
	opt := redisOpt(t)
	b := &bundle{client: asynq.NewClient(opt), insp: asynq.NewInspector(opt), queue: "test-" + uuid.NewString()[:8]}
	b.sw = &switchable{q: b.client}
	t.Cleanup(func() {
		b.insp.DeleteQueue(b.queue, true)
		b.client.Close()
		b.insp.Close()
	})
	return b
}

// batchOf builds a batch of one run with n node executions.
func batchOf(runID string, n int) *repo.Batch {
	b := &repo.Batch{Runs: []*repo.WorkflowRun{{ID: runID, AppID: "app", Status: repo.StatusRunning, Seq: 1}}}
	for i := range n {
		b.NodeExecutions = append(b.NodeExecutions, &repo.NodeExecution{ID: uuid.NewString(), WorkflowRunID: runID, AppID: "app", Index: int64(i + 1), Status: repo.StatusSucceeded, Seq: int64(i + 2)})
	}
	return b
}

// queued decodes every pending task of the queue.
func (b *bundle) queued(t *testing.T) []*repo.Batch {
	t.Helper()
	var out []*repo.Batch
	for page := 1; ; page++ {
		tasks, err := b.insp.ListPendingTasks(b.queue, asynq.Page(page), asynq.PageSize(100))
		if err != nil {
			if errors.Is(err, asynq.ErrQueueNotFound) {
				return out
			}
			t.Fatal(err)
		}
		for _, task := range tasks {
			batch, err := DecodeBatch(task.Payload)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, batch)
		}
		if len(tasks) < 100 {
			return out
		}
	}
}

func records(bs []*repo.Batch) int {
	n := 0
	for _, b := range bs {
		n += b.Len()
	}
	return n
}

// eventually polls cond until it holds or the deadline passes: the state
// it waits for lives in Redis, which sends no signal.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func TestWriterCoalescesIntoBatches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w, err := New(b.sw, Config{Queue: b.queue, MaxBatch: 50, FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		if err := w.Write(context.Background(), batchOf(uuid.NewString(), 4)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := b.queued(t)
	if n := records(got); n != 200 {
		t.Fatalf("%d records queued, want 200", n)
	}
	for _, batch := range got {
		if batch.Len() > 50 {
			t.Fatalf("task with %d records, want ≤ 50", batch.Len())
		}
	}
	if len(got) > 8 {
		t.Fatalf("%d tasks for 200 records in bursts, want coalescing (≤ 8)", len(got))
	}
}

func TestWriterSpoolsWhileRedisIsDownAndReplays(t *testing.T) {
	t.Parallel()
	b := setup(t)
	spool := t.TempDir()
	m := NewMetrics(nil)
	w, err := New(b.sw, Config{Queue: b.queue, SpoolDir: spool, FlushInterval: time.Millisecond, ReplayInterval: 10 * time.Millisecond, Metrics: m, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	b.sw.down.Store(true)
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer w.Stop(context.Background())
	for range 10 {
		if err := w.Write(context.Background(), batchOf(uuid.NewString(), 2)); err != nil {
			t.Fatalf("write while redis is down: %v", err)
		}
	}
	eventually(t, "records spooled", func() bool { return testutil.ToFloat64(m.Spooled) == 30 })
	if n := records(b.queued(t)); n != 0 {
		t.Fatalf("%d records reached redis while it was down", n)
	}
	b.sw.down.Store(false)
	// The replayer enqueues a file and then removes it (at least once), so
	// the records can reach Redis a moment before the spool is empty.
	eventually(t, "spool replayed and emptied", func() bool {
		entries, _ := os.ReadDir(spool)
		return records(b.queued(t)) == 30 && len(entries) == 0
	})
	if n := records(b.queued(t)); n != 30 {
		t.Fatalf("%d records queued after replay, want 30 (no duplicates)", n)
	}
	if testutil.ToFloat64(m.Dropped) != 0 {
		t.Fatal("records dropped")
	}
}

func TestSpoolSurvivesRestart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	spool := t.TempDir()
	w1, _ := New(b.sw, Config{Queue: b.queue, SpoolDir: spool, Logger: quiet()})
	b.sw.down.Store(true)
	w1.Start(context.Background())
	w1.Write(context.Background(), batchOf(uuid.NewString(), 3))
	// Stop with Redis down: the final flush goes to disk.
	if err := w1.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(spool); len(entries) != 1 {
		t.Fatalf("%d spool files after stopping with redis down, want 1", len(entries))
	}
	// A new process finds the spool and replays it.
	b.sw.down.Store(false)
	w2, _ := New(b.sw, Config{Queue: b.queue, SpoolDir: spool, ReplayInterval: 10 * time.Millisecond})
	w2.Start(context.Background())
	defer w2.Stop(context.Background())
	eventually(t, "replay after restart", func() bool { return records(b.queued(t)) == 4 })
}

func TestBufferBoundWithoutSpool(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m := NewMetrics(nil)
	w, _ := New(b.sw, Config{Queue: b.queue, MaxBuffered: 10, ReplayInterval: 10 * time.Millisecond, Metrics: m, Logger: quiet()})
	b.sw.down.Store(true)
	w.Start(context.Background())
	defer w.Stop(context.Background())
	var failed int
	for range 6 {
		if err := w.Write(context.Background(), batchOf(uuid.NewString(), 2)); err != nil {
			if !errors.Is(err, repo.ErrUnavailable) {
				t.Fatal(err)
			}
			failed++
		}
	}
	// 3 records per write, bound 10: three writes fit, three are refused.
	if failed != 3 || testutil.ToFloat64(m.Dropped) != 9 {
		t.Fatalf("%d writes refused, %v records dropped; want 3 and 9", failed, testutil.ToFloat64(m.Dropped))
	}
	// Redis returns: what was kept in memory is delivered.
	b.sw.down.Store(false)
	eventually(t, "buffer delivered", func() bool { return records(b.queued(t)) == 9 })
}

// collect is a repo.Writer that keeps what the persister handler writes.
type collect struct {
	mu      sync.Mutex
	records int
	fail    error
	got     chan int
}

func (c *collect) Write(_ context.Context, b *repo.Batch) error {
	if c.fail != nil {
		return c.fail
	}
	if _, err := b.Prepare(); err != nil {
		return err
	}
	c.mu.Lock()
	c.records += b.Len()
	n := c.records
	c.mu.Unlock()
	c.got <- n
	return nil
}

func TestPersisterServerDrainsQueue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w, _ := New(b.client, Config{Queue: b.queue})
	w.Start(context.Background())
	store := &collect{got: make(chan int, 1000)}
	srv := asynq.NewServer(redisOpt(t), asynq.Config{Queues: map[string]int{b.queue: 1}, Concurrency: 4, TaskCheckInterval: 10 * time.Millisecond, Logger: asynqQuiet{}})
	if err := srv.Start(NewHandler(store, quiet(), nil)); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	for range 25 {
		w.Write(context.Background(), batchOf(uuid.NewString(), 3))
	}
	w.Stop(context.Background())
	deadline := time.After(10 * time.Second)
	for {
		select {
		case n := <-store.got:
			if n == 100 {
				return
			}
		case <-deadline:
			t.Fatal("persister did not drain the queue")
		}
	}
}

func TestHandlerArchivesInvalidBatches(t *testing.T) {
	t.Parallel()
	m := NewMetrics(nil)
	h := NewHandler(&collect{got: make(chan int, 10)}, quiet(), m)
	err := h.ProcessTask(context.Background(), asynq.NewTask(TaskType, []byte(`{"v":1,"runs":[{"ID":"not-a-uuid","AppID":"a"}]}`)))
	if !errors.Is(err, asynq.SkipRetry) || !errors.Is(err, repo.ErrInvalid) {
		t.Fatalf("invalid batch: %v, want SkipRetry wrapping ErrInvalid", err)
	}
	err = h.ProcessTask(context.Background(), asynq.NewTask(TaskType, []byte(`garbage`)))
	if !errors.Is(err, asynq.SkipRetry) || !errors.Is(err, ErrBadPayload) {
		t.Fatalf("garbage: %v", err)
	}
	if testutil.ToFloat64(m.Rejected) != 2 {
		t.Fatal("rejections not counted")
	}
	// A store outage is retried (not SkipRetry).
	h = NewHandler(&collect{fail: fmt.Errorf("dial: %w", repo.ErrUnavailable)}, quiet(), m)
	payload, _ := EncodeBatch(batchOf(uuid.NewString(), 1))
	if err := h.ProcessTask(context.Background(), asynq.NewTask(TaskType, payload)); err == nil || errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("outage: %v, want a retryable error", err)
	}
}

func TestHandlerObservesWritesAndLag(t *testing.T) {
	t.Parallel()
	m := NewMetrics(nil)
	h := NewHandler(&collect{got: make(chan int, 10)}, quiet(), m)
	// A running run: its write is timed, but it has no lag yet.
	running := batchOf(uuid.NewString(), 1)
	finished := batchOf(uuid.NewString(), 1)
	finished.Runs[0].Status = repo.StatusSucceeded
	finished.Runs[0].FinishedAt = time.Now().Add(-time.Second)
	for _, b := range []*repo.Batch{running, finished} {
		payload, _ := EncodeBatch(b)
		if err := h.ProcessTask(context.Background(), asynq.NewTask(TaskType, payload)); err != nil {
			t.Fatal(err)
		}
	}
	if n, q := histogramCount(t, m.Write), histogramCount(t, m.Queue); n != 2 || q != 2 {
		t.Fatalf("%d writes and %d queue waits observed, want 2 each", n, q)
	}
	var d dto.Metric
	if err := m.Lag.Write(&d); err != nil {
		t.Fatal(err)
	}
	if n, sum := d.GetHistogram().GetSampleCount(), d.GetHistogram().GetSampleSum(); n != 1 || sum < 1 || sum > 60 {
		t.Fatalf("lag: %d observations summing to %v s, want one of about 1 s", n, sum)
	}
}

func TestBatchRoundTrip(t *testing.T) {
	t.Parallel()
	in := batchOf(uuid.NewString(), 2)
	in.Runs[0].Inputs = []byte(`{"q":"<b>"}`)
	in.Runs[0].CreatedAt = time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	payload, err := EncodeBatch(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeBatch(payload)
	if err != nil {
		t.Fatal(err)
	}
	if out.Len() != 3 || string(out.Runs[0].Inputs) != `{"q":"\u003cb\u003e"}` && string(out.Runs[0].Inputs) != `{"q":"<b>"}` || !out.Runs[0].CreatedAt.Equal(in.Runs[0].CreatedAt) {
		t.Fatalf("round trip changed the batch: %+v", out.Runs[0])
	}
	// Payloads of the older JSON format still decode.
	old, err := json.Marshal(wireBatch{Version: wireJSON, Runs: in.Runs, NodeExecutions: in.NodeExecutions})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := DecodeBatch(old); err != nil || out.Len() != 3 || !out.Runs[0].CreatedAt.Equal(in.Runs[0].CreatedAt) {
		t.Fatalf("JSON payload: %v, %v", out, err)
	}
	gobOf := func(w wireBatch) string {
		var buf bytes.Buffer
		buf.WriteByte(wireGob)
		if err := gob.NewEncoder(&buf).Encode(w); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	// So do gob payloads (writers before the binary format).
	if out, err := DecodeBatch([]byte(gobOf(wireBatch{Version: wireGob, Runs: in.Runs, NodeExecutions: in.NodeExecutions}))); err != nil || out.Len() != 3 || !out.Runs[0].CreatedAt.Equal(in.Runs[0].CreatedAt) {
		t.Fatalf("gob payload: %v, %v", out, err)
	}
	for _, bad := range []string{``, `{}`, `{"v":2}`, `{"v":1,"runs":[null]}`, `{"v":1,"x":1}`, `{"v":1}{"v":1}`,
		"\x02", "\x02garbage", gobOf(wireBatch{Version: 1}), gobOf(wireBatch{Version: wireGob}) + "x", string(payload[:len(payload)/2]),
		"\x03", "\x03\x00\x05", "\x03\x02", "\x03\x00\x00\x00\x00x", string(payload) + "x", string(payload[:len(payload)-1])} {
		if _, err := DecodeBatch([]byte(bad)); !errors.Is(err, ErrBadPayload) {
			t.Errorf("DecodeBatch(%q) = %v, want ErrBadPayload", bad, err)
		}
	}
}

// TestWireCoversEveryField: every field of every record type survives the
// binary format, so a field added to a record type without a place in
// wire.go's lists fails here.
func TestWireCoversEveryField(t *testing.T) {
	t.Parallel()
	one := func() *repo.Batch {
		return &repo.Batch{Runs: []*repo.WorkflowRun{{}}, NodeExecutions: []*repo.NodeExecution{{}}, AppLogs: []*repo.AppLog{{}},
			Conversations: []*repo.Conversation{{}}, Messages: []*repo.Message{{}}, Feedbacks: []*repo.Feedback{{}},
			Variables: []*repo.ConversationVariable{{}}}
	}
	in := one()
	n := 0
	for _, rec := range []any{in.Runs[0], in.NodeExecutions[0], in.AppLogs[0], in.Conversations[0], in.Messages[0], in.Feedbacks[0], in.Variables[0]} {
		v := reflect.ValueOf(rec).Elem()
		for i := range v.NumField() {
			n++
			switch f := v.Field(i); f.Interface().(type) {
			case string, repo.Status:
				f.SetString(fmt.Sprintf("s%d-ü", n))
			case json.RawMessage:
				f.SetBytes([]byte(fmt.Sprintf(`{"n":%d}`, n)))
			case int64:
				f.SetInt(int64(-n) << 40)
			case float64:
				f.SetFloat(float64(n) + 0.25)
			case bool:
				f.SetBool(true)
			case time.Time:
				f.Set(reflect.ValueOf(time.Unix(int64(n)*1e8, int64(n)).UTC()))
			default:
				t.Fatalf("%T.%s: type %s has no case here nor in wire.go", rec, v.Type().Field(i).Name, f.Type())
			}
		}
	}
	out, err := DecodeBatch(encodeBin(in, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip lost fields\n in %s\nout %s", dumpBatch(in), dumpBatch(out))
	}
	// Zero values too: nil JSON stays nil, the zero time stays zero.
	zero := one()
	if out, err := DecodeBatch(encodeBin(zero, time.Time{})); err != nil || !reflect.DeepEqual(zero, out) {
		t.Fatalf("zero records: %v, %s", err, dumpBatch(out))
	}
}

func dumpBatch(b *repo.Batch) string {
	out, _ := json.Marshal(b)
	return string(out)
}

// TestWireChatVersion: a batch with chat records takes the format
// version wireBinChat; one without keeps wireBin, which persisters that
// predate chat records read.
func TestWireChatVersion(t *testing.T) {
	t.Parallel()
	runs := batchOf(uuid.NewString(), 1)
	payload, err := EncodeBatch(runs)
	if err != nil {
		t.Fatal(err)
	}
	if payload[0] != wireBin {
		t.Fatalf("a batch of run records has format %d, want %d", payload[0], wireBin)
	}
	chat := batchOf(uuid.NewString(), 1)
	chat.Conversations = []*repo.Conversation{{ID: uuid.NewString(), AppID: "app", Deleted: true, Seq: 7}}
	if payload, err = EncodeBatch(chat); err != nil {
		t.Fatal(err)
	}
	if payload[0] != wireBinChat {
		t.Fatalf("a batch with chat records has format %d, want %d", payload[0], wireBinChat)
	}
	out, err := DecodeBatch(payload)
	if err != nil || out.Len() != 3 || !out.Conversations[0].Deleted || out.Conversations[0].Seq != 7 {
		t.Fatalf("DecodeBatch: %v, %s", err, dumpBatch(out))
	}
	// A wireBin payload never holds chat records: the same bytes under
	// the older version byte are refused (trailing data).
	old := append([]byte{wireBin}, payload[1:]...)
	if _, err := DecodeBatch(old); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("chat records under version %d: %v, want ErrBadPayload", wireBin, err)
	}
	// A bool is 0 or 1.
	bad := encodeBin(&repo.Batch{Conversations: []*repo.Conversation{{Deleted: true}}}, time.Time{})
	// The conversation's Deleted is followed by its Seq (one byte) and
	// the counts of messages, feedback and variables.
	i := len(bad) - 5
	if bad[i] != 1 {
		t.Fatalf("byte %d of %v is not the conversation's Deleted", i, bad)
	}
	bad[i] = 2
	if _, err := DecodeBatch(bad); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("a bool of 2: %v, want ErrBadPayload", err)
	}
}

func FuzzDecodeBatch(f *testing.F) {
	b := batchOf("6f1b8d4e-3b1e-4c55-9a43-5a0b0d3c9e21", 2)
	good, _ := EncodeBatch(b)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`{"v":1,"nodes":[{"ID":"x","Inputs":{"a":1}}]}`))
	var old bytes.Buffer
	old.WriteByte(wireGob)
	if err := gob.NewEncoder(&old).Encode(wireBatch{Version: wireGob, Runs: b.Runs, NodeExecutions: b.NodeExecutions}); err != nil {
		f.Fatal(err)
	}
	f.Add(old.Bytes())
	chat := batchOf("6f1b8d4e-3b1e-4c55-9a43-5a0b0d3c9e21", 1)
	chat.Conversations = []*repo.Conversation{{ID: "0a1b8d4e-3b1e-4c55-9a43-5a0b0d3c9e21", AppID: "app", Name: "n", Deleted: true, Seq: 3}}
	chat.Messages = []*repo.Message{{ID: "1a1b8d4e-3b1e-4c55-9a43-5a0b0d3c9e21", AppID: "app", ConversationID: "0a1b8d4e-3b1e-4c55-9a43-5a0b0d3c9e21", Inputs: json.RawMessage(`{}`), Seq: 2}}
	chat.Variables = []*repo.ConversationVariable{{ID: "v", AppID: "app", ConversationID: "0a1b8d4e-3b1e-4c55-9a43-5a0b0d3c9e21", Value: json.RawMessage(`1`), Seq: 1}}
	good, _ = EncodeBatch(chat)
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBatch(data)
		if err != nil {
			return
		}
		// Whatever decodes must be safe to validate and re-encode.
		if _, err := b.Prepare(); err != nil {
			return
		}
		if _, err := EncodeBatch(b); err != nil {
			t.Fatal(err)
		}
	})
}

// gated is an Enqueuer that lets one task through per token (all, once
// tokens is closed) and keeps their payloads in order. With next set, the
// tasks it lets through go on to next.
type gated struct {
	tokens  chan struct{}
	next    Enqueuer
	waiting atomic.Int64
	mu      sync.Mutex
	got     [][]byte
}

func (g *gated) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	g.waiting.Add(1)
	defer g.waiting.Add(-1)
	select {
	case <-g.tokens:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	g.mu.Lock()
	g.got = append(g.got, t.Payload())
	g.mu.Unlock()
	if g.next != nil {
		return g.next.EnqueueContext(ctx, t, opts...)
	}
	return &asynq.TaskInfo{}, nil
}

// refusing fails like an unreachable Redis and counts the attempts.
type refusing struct{ tries atomic.Int64 }

func (r *refusing) EnqueueContext(context.Context, *asynq.Task, ...asynq.Option) (*asynq.TaskInfo, error) {
	r.tries.Add(1)
	return nil, errors.New("dial tcp: connection refused")
}

// TestReplayDoesNotHoldUpNewRecords: while a long outage's spool is
// replayed, new records are enqueued too, not held in memory until the
// replay ends (under load they overflowed MaxBuffered and were dropped:
// found by the chaos suite, scenario 2 at full scale).
func TestReplayDoesNotHoldUpNewRecords(t *testing.T) {
	t.Parallel()
	spool := t.TempDir()
	const spooled = 50
	// One record per batch and per task: one spool file each.
	w1, err := New(&refusing{}, Config{SpoolDir: spool, MaxBatch: 1, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	w1.Start(context.Background())
	for range spooled {
		w1.Write(context.Background(), batchOf(uuid.NewString(), 0))
	}
	if err := w1.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(spool); len(entries) != spooled {
		t.Fatalf("%d spool files, want %d", len(entries), spooled)
	}

	g := &gated{tokens: make(chan struct{})}
	w2, err := New(g, Config{SpoolDir: spool, MaxBatch: 1, FlushInterval: time.Millisecond, ReplayInterval: time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	w2.Start(context.Background())
	defer func() {
		close(g.tokens)
		w2.Stop(context.Background())
	}()
	// The replay is under way, waiting on its first task.
	eventually(t, "replay to start", func() bool { return g.waiting.Load() == 1 })
	fresh := uuid.NewString()
	if err := w2.Write(context.Background(), batchOf(fresh, 0)); err != nil {
		t.Fatal(err)
	}
	for i := range spooled + 1 {
		g.tokens <- struct{}{}
		eventually(t, "the task to be taken", func() bool {
			g.mu.Lock()
			defer g.mu.Unlock()
			return len(g.got) == i+1
		})
		g.mu.Lock()
		b, err := DecodeBatch(g.got[i])
		g.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if b.Runs[0].ID == fresh {
			if i > 2 {
				t.Fatalf("the new record was enqueued as task %d, after %d spooled ones: the replay held it up", i+1, i)
			}
			return
		}
	}
	t.Fatal("the new record was never enqueued")
}

// TestFullBufferWaitsWhileRedisTakesRecords checks the backpressure: with
// Redis slower than the writes, a write into a full buffer waits until the
// flusher makes room, nothing is dropped, and every record arrives.
func TestFullBufferWaitsWhileRedisTakesRecords(t *testing.T) {
	t.Parallel()
	m := NewMetrics(nil)
	g := &gated{tokens: make(chan struct{})}
	w, _ := New(g, Config{MaxBuffered: 6, MaxBatch: 3, FlushInterval: time.Millisecond,
		EnqueueTimeout: time.Minute, Metrics: m, Logger: quiet()})
	w.Start(context.Background())
	defer w.Stop(context.Background())

	// The first batch is taken by the flusher, which then blocks in Redis.
	if err := w.Write(context.Background(), batchOf(uuid.NewString(), 2)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the flusher in Redis", func() bool { return g.waiting.Load() == 1 })
	// Records count until Redis has them: the one in flight (3) and one
	// more batch (3) fill the buffer (bound 6).
	if err := w.Write(context.Background(), batchOf(uuid.NewString(), 2)); err != nil {
		t.Fatal(err)
	}
	// The fourth must wait for room.
	wrote := make(chan error, 1)
	go func() { wrote <- w.Write(context.Background(), batchOf(uuid.NewString(), 2)) }()
	eventually(t, "a write waiting for room", func() bool { return testutil.ToFloat64(m.Waits) == 1 })
	select {
	case err := <-wrote:
		t.Fatalf("write into a full buffer returned %v; want it to wait", err)
	default:
	}
	// A write whose context ends while it waits is refused and counted.
	ctx, cancel := context.WithCancel(context.Background())
	refused := make(chan error, 1)
	go func() { refused <- w.Write(ctx, batchOf(uuid.NewString(), 2)) }()
	eventually(t, "a second waiting write", func() bool { return testutil.ToFloat64(m.Waits) == 2 })
	cancel()
	if err := <-refused; !errors.Is(err, repo.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	if testutil.ToFloat64(m.Dropped) != 3 {
		t.Fatalf("dropped %v, want the cancelled write's 3", testutil.ToFloat64(m.Dropped))
	}

	// Redis takes records again: the waiting write goes through.
	close(g.tokens)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	eventually(t, "all kept records delivered", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		n := 0
		for _, p := range g.got {
			b, err := DecodeBatch(p)
			if err != nil {
				t.Fatal(err)
			}
			n += b.Len()
		}
		return n == 9
	})
}
