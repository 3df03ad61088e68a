package record

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/repo"
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
			rec := New(context.Background(), w, Source{RunID: p.RunID, AppID: "app", WorkflowID: "wf", SessionID: "alice"}, Options{Inline: inline})
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
			if !sawFinished || rec.Err() != nil {
				t.Fatalf("finished %v err %v", sawFinished, rec.Err())
			}
		})
	}
}

func TestRecorderPipelinesWrites(t *testing.T) {
	t.Parallel()
	e, wf, p := chain3(t)
	w := &gateWriter{gate: make(chan struct{}), entered: make(chan struct{}, 100)}
	rec := New(context.Background(), w, Source{RunID: p.RunID, AppID: "app"}, Options{})
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
	go func() {
		for range 3 {
			w.gate <- struct{}{}
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
	rec := New(context.Background(), w, Source{RunID: p.RunID, AppID: "app"}, Options{})
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
