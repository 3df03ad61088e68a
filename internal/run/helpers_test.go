package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/sharedtest"
)

// recorder collects a run's events; safe for concurrent use.
type recorder struct {
	sharedtest.Recorder[*Event]
}

// trace renders events one per line: "type node status" — compact enough
// to compare whole sequences.
func (r *recorder) trace() []string {
	var out []string
	for _, e := range r.All() {
		switch {
		case e.Node != nil:
			out = append(out, fmt.Sprintf("%s %s %s", e.Type, e.Node.NodeID, e.Node.Status))
		case e.Chunk != nil:
			out = append(out, fmt.Sprintf("%s %q", e.Type, e.Chunk.Text))
		case e.Run != nil:
			out = append(out, fmt.Sprintf("%s %s", e.Type, e.Run.Status))
		default:
			out = append(out, string(e.Type))
		}
	}
	return out
}

// finished returns the node_finished records by node id.
func (r *recorder) finished() map[string]*NodeRun {
	out := map[string]*NodeRun{}
	for _, e := range r.All() {
		if e.Type == EventNodeFinished {
			out[e.Node.NodeID] = e.Node
		}
	}
	return out
}

// fixedClock advances by one millisecond per call, so elapsed times are
// deterministic.
func fixedClock() func() time.Time {
	var n atomic.Int64
	base := time.Date(2025, 2, 8, 7, 33, 20, 0, time.UTC)
	return func() time.Time { return base.Add(time.Duration(n.Add(1)) * time.Millisecond) }
}

func seqIDs() func() string {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n.Add(1)) }
}

// testKit is a registry with controllable node types for graph tests.
type testKit struct {
	reg      *Registry
	attempts sync.Map // node id -> *atomic.Int64
	// release unblocks test-block nodes; barrier holds test-barrier nodes
	// until barrierN have arrived.
	release  chan struct{}
	barrier  *barrier
	started  chan string
	panicked atomic.Bool
}

type barrier struct {
	mu      sync.Mutex
	n, seen int
	all     chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, all: make(chan struct{})} }

func (b *barrier) arrive() {
	b.mu.Lock()
	b.seen++
	if b.seen == b.n {
		close(b.all)
	}
	b.mu.Unlock()
}

func newTestKit() *testKit {
	k := &testKit{reg: NewRegistry(), release: make(chan struct{}), started: make(chan string, 64)}
	type cfg struct {
		Fail    string `json:"fail"`
		Times   int    `json:"times"`
		Handle  string `json:"handle"`
		Output  string `json:"output"`
		Timeout string `json:"timeout"`
	}
	build := func(run func(c cfg, ctx context.Context, x *Exec) (*Result, error)) func(b *Build) (Executor, error) {
		return func(b *Build) (Executor, error) {
			var c cfg
			if err := b.Decode(&c); err != nil {
				return nil, err
			}
			return ExecutorFunc(func(ctx context.Context, x *Exec) (*Result, error) { return run(c, ctx, x) }), nil
		}
	}
	// test-value outputs {"value": output}; with handle it is a branch node.
	k.reg.Register(NodeType{Name: "test-value", Build: build(func(c cfg, _ context.Context, _ *Exec) (*Result, error) {
		return &Result{Outputs: Vars{{"value", c.Output}}, Handle: c.Handle}, nil
	})})
	// test-fail fails `times` times (every time when 0), then succeeds.
	k.reg.Register(NodeType{Name: "test-fail", Retry: true, Build: build(func(c cfg, _ context.Context, x *Exec) (*Result, error) {
		v, _ := k.attempts.LoadOrStore(x.Node.ID, new(atomic.Int64))
		n := v.(*atomic.Int64).Add(1)
		if c.Times == 0 || int(n) <= c.Times {
			return nil, &NodeError{Type: "TestError", Err: errors.New(c.Fail)}
		}
		return &Result{Outputs: Vars{{"value", fmt.Sprintf("ok after %d", n)}}}, nil
	})})
	// test-block blocks until released or cancelled.
	k.reg.Register(NodeType{Name: "test-block", Build: build(func(_ cfg, ctx context.Context, x *Exec) (*Result, error) {
		k.started <- x.Node.ID
		select {
		case <-k.release:
			return &Result{Outputs: Vars{{"value", "released"}}}, nil
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	})})
	// test-barrier waits until every barrier node has arrived: it only
	// finishes if they run concurrently.
	k.reg.Register(NodeType{Name: "test-barrier", Build: build(func(_ cfg, ctx context.Context, x *Exec) (*Result, error) {
		k.barrier.arrive()
		select {
		case <-k.barrier.all:
			return &Result{Outputs: Vars{{"value", x.Node.ID}}}, nil
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(5 * time.Second):
			return nil, errors.New("barrier: branches did not run concurrently")
		}
	})})
	k.reg.Register(NodeType{Name: "test-panic", Build: build(func(cfg, context.Context, *Exec) (*Result, error) {
		k.panicked.Store(true)
		panic("boom")
	})})
	return k
}

// graphYAML builds a workflow document from compact node and edge lists:
// nodes "id:type[:json-data]" and edges "src->dst[:handle]".
func graphYAML(nodes []string, edges []string) string {
	lines := make([]string, len(nodes))
	for i, n := range nodes {
		parts := strings.SplitN(n, ":", 3)
		data := ""
		if len(parts) == 3 {
			data = ", " + strings.TrimSuffix(strings.TrimPrefix(parts[2], "{"), "}")
		}
		lines[i] = fmt.Sprintf("{id: %s, data: {type: %s, title: %s%s}}", parts[0], parts[1], parts[0], data)
	}
	return sharedtest.Graph(lines, edges...)
}

func mustCompile(t testing.TB, e *Engine, src string) *Workflow {
	t.Helper()
	wf, err := e.Compile([]byte(src))
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, src)
	}
	return wf
}

func runWith(t testing.TB, ctx context.Context, e *Engine, wf *Workflow, inputs map[string]any) (*RunInfo, *recorder) {
	t.Helper()
	return runQuery(t, ctx, e, wf, inputs, "")
}

// runQuery is runWith with sys.query for chatflows.
func runQuery(t testing.TB, ctx context.Context, e *Engine, wf *Workflow, inputs map[string]any, query string) (*RunInfo, *recorder) {
	t.Helper()
	in, err := wf.PrepareInputs(inputs)
	if err != nil {
		t.Fatalf("inputs: %v", err)
	}
	rec := &recorder{}
	info := e.Run(ctx, wf, Params{RunID: "run-1", TaskID: "task-1", WorkflowID: "wf-1", AppID: "app-1", UserID: "user-1", Inputs: in, Query: query}, rec)
	return info, rec
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func indexOf(lines []string, s string) int {
	return slices.Index(lines, s)
}

func count(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if l == s {
			n++
		}
	}
	return n
}

// waitFor receives one value from ch within a deadline; want "" accepts any.
func waitFor(t testing.TB, ch <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if want != "" && got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %q", want)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
