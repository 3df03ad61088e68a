package record

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/memory"
	"github.com/flowrun/flowrun/internal/run"
)

// gateWriter records batches; while gate is non-nil each Write waits for a
// token from it, so tests control when writes complete.
type gateWriter struct {
	mu      sync.Mutex
	batches []*repo.Batch
	gate    chan struct{}
	entered chan struct{}
	fail    error
}

func (w *gateWriter) Write(ctx context.Context, b *repo.Batch) error {
	if w.entered != nil {
		w.entered <- struct{}{}
	}
	if w.gate != nil {
		select {
		case <-w.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.batches = append(w.batches, b)
	return w.fail
}

// final folds every written version into the state a store would keep.
func (w *gateWriter) final() (map[string]*repo.WorkflowRun, map[string]*repo.NodeExecution, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	runs := map[string]*repo.WorkflowRun{}
	nodes := map[string]*repo.NodeExecution{}
	logs := 0
	for _, b := range w.batches {
		for _, r := range b.Runs {
			if old, ok := runs[r.ID]; !ok || repo.Supersedes(r.Status, r.Seq, old.Status, old.Seq) {
				runs[r.ID] = r
			}
		}
		for _, n := range b.NodeExecutions {
			if old, ok := nodes[n.ID]; !ok || repo.Supersedes(n.Status, n.Seq, old.Status, old.Seq) {
				nodes[n.ID] = n
			}
		}
		logs += len(b.AppLogs)
	}
	return runs, nodes, logs
}

func chain3(t *testing.T) (*run.Engine, *run.Workflow, run.Params) {
	t.Helper()
	data, err := os.ReadFile("../../examples/chain3.yml")
	if err != nil {
		t.Fatal(err)
	}
	e := run.New(run.Config{}, nil)
	wf, err := e.Compile(data)
	if err != nil {
		t.Fatal(err)
	}
	in, err := wf.PrepareInputs(map[string]any{"query": "q"})
	if err != nil {
		t.Fatal(err)
	}
	return e, wf, run.Params{RunID: uuid.NewString(), AppID: "app", WorkflowID: "wf", UserID: "alice", Inputs: in}
}

func TestRecorderWritesEveryRecordBeforeFinishedReturns(t *testing.T) {
	t.Parallel()
	for _, inline := range []bool{false, true} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) {
			t.Parallel()
			e, wf, p := chain3(t)
			w := &gateWriter{}
			records := Sync(w)
			if inline {
				records = Async(w, AsyncConfig{})
			}
			rec := records.Recorder(context.Background(), Source{RunID: p.RunID, AppID: "app", WorkflowID: "wf", SessionID: "alice"}, nil)
			var sawFinished bool
			after := run.ListenerFunc(func(ev *run.Event) {
				if ev.Type != run.EventWorkflowFinished {
					return
				}
				// Every record is written by the time a later listener
				// sees workflow_finished.
				runs, nodes, logs := w.final()
				r := runs[p.RunID]
				if r == nil || r.Status != repo.StatusSucceeded || string(r.Outputs) != `{"answer":"q-1-2-3"}` {
					t.Errorf("run record at workflow_finished: %+v", r)
				}
				if len(nodes) != 5 || logs != 1 {
					t.Errorf("%d node records, %d logs at workflow_finished", len(nodes), logs)
				}
				for _, n := range nodes {
					if n.Status != repo.StatusSucceeded || n.WorkflowRunID != p.RunID || n.Outputs == nil {
						t.Errorf("node record %s: %s run %s outputs %s", n.NodeID, n.Status, n.WorkflowRunID, n.Outputs)
					}
				}
				sawFinished = true
			})
			e.Run(context.Background(), wf, p, run.Listeners(rec, after))
			if err := rec.Wait(); !sawFinished || err != nil {
				t.Fatalf("finished %v err %v", sawFinished, err)
			}
		})
	}
}

func TestRecorderPipelinesWrites(t *testing.T) {
	t.Parallel()
	e, wf, p := chain3(t)
	w := &gateWriter{gate: make(chan struct{}), entered: make(chan struct{}, 100)}
	rec := Sync(w).Recorder(context.Background(), Source{RunID: p.RunID, AppID: "app"}, nil)
	done := make(chan *run.RunInfo, 1)
	go func() { done <- e.Run(context.Background(), wf, p, rec) }()
	// The first write (workflow_started) is held; the run goes on and its
	// later records pile up for the next write instead of waiting.
	select {
	case <-w.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no write started")
	}
	select {
	case <-done:
		t.Fatal("run finished while its records were not written")
	default:
	}
	// Release writes one at a time: everything after the first event
	// arrives in at most two more batches, not one per event.
	stop := make(chan struct{})
	defer close(stop) // fewer writes than tokens leave the last ones unsent
	go func() {
		for range 3 {
			select {
			case w.gate <- struct{}{}:
			case <-stop:
				return
			}
		}
	}()
	select {
	case info := <-done:
		if info.Status != run.StatusSucceeded {
			t.Fatal(info.Status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not finish")
	}
	w.mu.Lock()
	n := len(w.batches)
	w.mu.Unlock()
	if n > 3 {
		t.Fatalf("%d writes for one run, want ≤ 3 (pipelined)", n)
	}
	if err := rec.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestRecorderReportsWriteErrors(t *testing.T) {
	t.Parallel()
	e, wf, p := chain3(t)
	w := &gateWriter{fail: repo.ErrUnavailable}
	rec := Sync(w).Recorder(context.Background(), Source{RunID: p.RunID, AppID: "app"}, nil)
	info := e.Run(context.Background(), wf, p, rec)
	if info.Status != run.StatusSucceeded {
		t.Fatal(info.Status)
	}
	if err := rec.Wait(); !errors.Is(err, repo.ErrUnavailable) {
		t.Fatalf("Wait() = %v, want ErrUnavailable", err)
	}
}

func TestConvertAppLogIsDeterministic(t *testing.T) {
	t.Parallel()
	src := &Source{RunID: "r", AppID: "a", SessionID: "s"}
	ev := &run.Event{Type: run.EventWorkflowStarted, Seq: 1, Run: &run.RunInfo{ID: "r", Status: run.StatusRunning}}
	a, b := Convert(src, ev), Convert(src, ev)
	if a.AppLogs[0].ID != b.AppLogs[0].ID || a.AppLogs[0].CreatedBy != EndUserID("a", "s") {
		t.Fatal("app log ids differ between conversions of one event")
	}
	if Convert(src, &run.Event{Type: run.EventTextChunk, Chunk: &run.Chunk{Text: "x"}}).Len() != 0 {
		t.Fatal("text chunk produced records")
	}
}

func TestLogIDKeepsTheRunIDsTimestamp(t *testing.T) {
	t.Parallel()
	early, late := run.NewID(), run.NewID()
	a, b := logID(early), logID(late)
	if a != logID(early) {
		t.Fatal("app log id of one run differs between calls")
	}
	if a == early || a == b {
		t.Fatalf("app log ids not distinct: run %s → %s, run %s → %s", early, a, late, b)
	}
	id := uuid.MustParse(a)
	if id.Version() != 8 || id.Variant() != uuid.RFC4122 || a[:13] != early[:13] {
		t.Fatalf("app log id %s of run %s: want version 8 with the run id's 48-bit timestamp", a, early)
	}
	// Ids of later runs sort later (PostgreSQL compares uuids bytewise).
	if !(a[:13] <= b[:13]) {
		t.Fatalf("app log ids out of time order: %s then %s", a, b)
	}
	// A run id that is not version 7 gets the plain name-based id.
	if v := uuid.MustParse(logID("r")).Version(); v != 5 {
		t.Fatalf("app log id of run \"r\" has version %d, want 5", v)
	}
}

// writeOnly hides a store's Defer, so a recorder writes to it.
type writeOnly struct{ repo.Writer }

// TestDeferringRecorderMatchesWrittenRecords feeds one run's events both to
// a recorder that defers into a memory store and to one that writes into
// another: the records that readers get are the same, a run in progress
// reads as running, and nothing is built before a reader asks.
func TestDeferringRecorderMatchesWrittenRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, wf, p := chain3(t)
	lazy, _ := memory.New(memory.Config{})
	eager, _ := memory.New(memory.Config{})
	src := Source{RunID: p.RunID, AppID: "app", WorkflowID: "wf", SessionID: "alice"}
	d := &countingDeferrer{Store: lazy}
	deferring := Memory(d).Recorder(ctx, src, nil)
	writing := Async(writeOnly{eager}, AsyncConfig{}).Recorder(ctx, src, nil)

	// Readers poll the lazy store while the run goes on (for the race
	// detector), and one read happens mid-run on the engine's goroutine.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = lazy.NodeExecutionList(ctx, &repo.NodeExecutionListParams{AppID: "app", RunID: p.RunID})
				_, _ = lazy.RunList(ctx, &repo.RunListParams{AppID: "app"})
			}
		}()
	}
	var midRun *repo.WorkflowRun
	probe := run.ListenerFunc(func(ev *run.Event) {
		if ev.Type == run.EventNodeFinished && midRun == nil {
			r, err := lazy.RunGet(ctx, &repo.RunGetParams{AppID: "app", RunID: p.RunID})
			if err != nil {
				t.Errorf("RunGet mid-run: %v", err)
				return
			}
			midRun = r
		}
	})
	e.Run(ctx, wf, p, run.Listeners(deferring, writing, probe))
	close(stop)
	readers.Wait()
	if midRun == nil || midRun.Status != repo.StatusRunning {
		t.Fatalf("run read mid-run: %+v, want running", midRun)
	}
	if got := d.calls(); len(got) != 2 || got[0] || !got[1] {
		t.Fatalf("Defer calls (finished flags) = %v, want [false true]", got)
	}

	for name, s := range map[string]*memory.Store{"lazy": lazy, "eager": eager} {
		if _, err := s.RunGet(ctx, &repo.RunGetParams{AppID: "app", RunID: p.RunID}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	lr, _ := lazy.RunGet(ctx, &repo.RunGetParams{AppID: "app", RunID: p.RunID})
	er, _ := eager.RunGet(ctx, &repo.RunGetParams{AppID: "app", RunID: p.RunID})
	if !reflect.DeepEqual(lr, er) {
		t.Fatalf("run records differ:\nlazy  %+v\neager %+v", lr, er)
	}
	ln, _ := lazy.NodeExecutionList(ctx, &repo.NodeExecutionListParams{AppID: "app", RunID: p.RunID})
	en, _ := eager.NodeExecutionList(ctx, &repo.NodeExecutionListParams{AppID: "app", RunID: p.RunID})
	if len(ln) != 5 || !reflect.DeepEqual(ln, en) {
		t.Fatalf("node records differ: %d lazy, %d eager", len(ln), len(en))
	}
	ll, _ := lazy.RunList(ctx, &repo.RunListParams{AppID: "app"})
	el, _ := eager.RunList(ctx, &repo.RunListParams{AppID: "app"})
	if ll.Total != 1 || !reflect.DeepEqual(ll, el) {
		t.Fatalf("logs differ: %+v vs %+v", ll, el)
	}
	// The run finished: its records are built once more at most, then kept.
	n := d.builds()
	for range 3 {
		_, _ = lazy.RunGet(ctx, &repo.RunGetParams{AppID: "app", RunID: p.RunID})
	}
	if d.builds() != n {
		t.Fatalf("finished run rebuilt on read: %d builds, then %d", n, d.builds())
	}
}

// TestDeferringRecorderBuildsNothingUnread checks that a run nobody reads
// is never converted into records.
func TestDeferringRecorderBuildsNothingUnread(t *testing.T) {
	t.Parallel()
	e, wf, p := chain3(t)
	s, _ := memory.New(memory.Config{})
	d := &countingDeferrer{Store: s}
	rec := Memory(d).Recorder(context.Background(), Source{RunID: p.RunID, AppID: "app"}, nil)
	if info := e.Run(context.Background(), wf, p, rec); info.Status != run.StatusSucceeded {
		t.Fatal(info.Status)
	}
	if err := rec.Wait(); err != nil || d.builds() != 0 || s.Len() != 1 {
		t.Fatalf("err %v, %d builds, %d runs stored; want nil, 0, 1", err, d.builds(), s.Len())
	}
}

// countingDeferrer is a memory store that counts Defer calls and builds.
type countingDeferrer struct {
	*memory.Store
	mu       sync.Mutex
	finished []bool
	sizes    []int64
	n        int
}

func (c *countingDeferrer) Defer(runID string, finished bool, size int64, build func() *repo.Batch) {
	c.mu.Lock()
	c.finished = append(c.finished, finished)
	c.sizes = append(c.sizes, size)
	c.mu.Unlock()
	c.Store.Defer(runID, finished, size, func() *repo.Batch {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
		return build()
	})
}

func (c *countingDeferrer) calls() []bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.finished)
}

func (c *countingDeferrer) builds() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// TestMirrorGetsRecordsLazilyBesideTheWriter checks AsyncConfig.Mirror: the
// writer gets every record as usual, and the mirror serves the same run
// once a reader asks.
func TestMirrorGetsRecordsLazilyBesideTheWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, wf, p := chain3(t)
	w := &gateWriter{}
	s, _ := memory.New(memory.Config{})
	d := &countingDeferrer{Store: s}
	rec := Async(w, AsyncConfig{Mirror: d}).Recorder(ctx, Source{RunID: p.RunID, AppID: "app"}, nil)
	e.Run(ctx, wf, p, rec)
	if err := rec.Wait(); err != nil {
		t.Fatal(err)
	}
	runs, nodes, logs := w.final()
	if runs[p.RunID] == nil || runs[p.RunID].Status != repo.StatusSucceeded || len(nodes) != 5 || logs != 1 {
		t.Fatalf("writer got %d runs, %d nodes, %d logs", len(runs), len(nodes), logs)
	}
	if d.builds() != 0 {
		t.Fatal("mirror built records nobody read")
	}
	got, err := s.RunGet(ctx, &repo.RunGetParams{AppID: "app", RunID: p.RunID})
	if err != nil || got.Status != repo.StatusSucceeded || string(got.Outputs) != string(runs[p.RunID].Outputs) {
		t.Fatalf("mirror: %+v, %v", got, err)
	}
}

// echoBig runs Start -> template -> End with a paragraph input of any
// length, echoed by the template.
const echoBig = `
app: {mode: workflow, name: big}
workflow:
  graph:
    nodes:
    - {id: start, data: {type: start, title: S, variables: [{variable: q, type: paragraph, required: true}]}}
    - {id: t, data: {type: template-transform, title: T, template: '{{ q }}', variables: [{variable: q, value_selector: [start, q]}]}}
    - {id: end, data: {type: end, title: E, outputs: [{variable: a, value_selector: [start, q]}]}}
    edges:
    - {id: e1, source: start, target: t}
    - {id: e2, source: t, target: end}
`

// TestDeferredSizeFollowsTheRun checks the size a deferring recorder
// reports: a 300,000-character input that every event of the run carries
// counts about once, the template's copy once more, and a small run stays
// small.
func TestDeferredSizeFollowsTheRun(t *testing.T) {
	t.Parallel()
	e := run.New(run.Config{}, nil)
	wf, err := e.Compile([]byte(echoBig))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		input    string
		min, max int64
	}{
		{"large input", strings.Repeat("x", 300000), 600000, 600000 + 64<<10},
		{"small input", "hello", 1, 16 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in, err := wf.PrepareInputs(map[string]any{"q": tc.input})
			if err != nil {
				t.Fatal(err)
			}
			p := run.Params{RunID: uuid.NewString(), TaskID: uuid.NewString(), UserID: "u", Inputs: in}
			s, _ := memory.New(memory.Config{})
			d := &countingDeferrer{Store: s}
			rec := Memory(d).Recorder(context.Background(), Source{RunID: p.RunID, AppID: "app"}, nil)
			if info := e.Run(context.Background(), wf, p, rec); info.Status != run.StatusSucceeded {
				t.Fatalf("run %s: %s", info.Status, info.Error)
			}
			d.mu.Lock()
			sizes := slices.Clone(d.sizes)
			d.mu.Unlock()
			if len(sizes) != 2 || sizes[0] > sizes[1] {
				t.Fatalf("Defer sizes %v, want a start size and a larger final one", sizes)
			}
			if final := sizes[1]; final < tc.min || final > tc.max {
				t.Fatalf("final size %d, want [%d, %d]", final, tc.min, tc.max)
			}
			if got := s.Bytes(); got != sizes[1] {
				t.Fatalf("store holds %d bytes, recorder reported %d", got, sizes[1])
			}
		})
	}
}
