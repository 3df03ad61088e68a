package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/py"
)

// ctIterDoc is start → list (ct-const) → iteration "it" (inner nodes given)
// → end {output: [it, output]}.
func ctIterDoc(list any, extra map[string]any, output []string, inner []ctNode, innerEdges []ctEdge) []byte {
	nodes := ctNodes(ctStart(), ctConst("list", list), ctIteration("it", "", []string{"list", "value"}, output, extra), inner,
		ctEnd(map[string][]string{"output": {"it", "output"}}))
	edges := append([]ctEdge{ctE("start", "list"), ctE("list", "it"), ctE("it", "end")}, innerEdges...)
	return ctDoc("workflow", nodes, edges)
}

func TestIterationSequentialEvents(t *testing.T) {
	e := New(Config{}, ctRegistry())
	doc := ctIterDoc([]any{1, 2, 3}, nil, []string{"tpl", "output"},
		[]ctNode{ctTemplate("tpl", "it", "output: {{ arg1 }} #{{ i }}", map[string][]string{"arg1": {"it", "item"}, "i": {"it", "index"}})},
		[]ctEdge{ctE("itstart", "tpl")})
	r := ctRun(t, e, doc, nil)
	ctEqual(t, "output", r.output(t, "output"), []any{"output: 1 #0", "output: 2 #1", "output: 3 #2"})
	ctTraceEqual(t, r.trace(), []string{
		"workflow_started",
		"node_started start", "node_finished start succeeded",
		"node_started list", "node_finished list succeeded",
		"iteration_started it",
		"iteration_next it 0",
		"node_started tpl it=it#0", "node_finished tpl it=it#0 succeeded",
		"iteration_next it 1",
		"node_started tpl it=it#1", "node_finished tpl it=it#1 succeeded",
		"iteration_next it 2",
		"node_started tpl it=it#2", "node_finished tpl it=it#2 succeeded",
		"iteration_completed it succeeded",
		"node_started end", "node_finished end succeeded",
		"workflow_finished",
	})
	started := r.event(t, EventIterationStarted, "it")
	ctEqual(t, "started metadata", started.Metadata["iteration_length"], 3)
	ctEqual(t, "started inputs", started.Inputs, Vars{{"iterator_selector", []any{int64(1), int64(2), int64(3)}}})
	done := r.event(t, EventIterationCompleted, "it")
	if dm, ok := done.Metadata["iteration_duration_map"].(map[string]any); !ok || len(dm) != 3 {
		t.Errorf("iteration_duration_map = %v", done.Metadata["iteration_duration_map"])
	}
	ctEqual(t, "completed inputs", done.Inputs, started.Inputs)
}

// TestIterationFixtureShape runs the iteration part of Dify's
// array_iteration_formatting_workflow fixture, with the list coming from the
// start inputs instead of its python code node.
func TestIterationFixtureShape(t *testing.T) {
	data, err := os.ReadFile("testdata/dsl/dify-fixtures/array_iteration_formatting_workflow.yml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ParseDocument(data)
	if err != nil {
		t.Fatal(err)
	}
	g := &doc.Workflow.Graph
	for i := range g.Nodes {
		n := &g.Nodes[i]
		switch n.Data["type"] {
		case "start":
			n.Data["variables"] = []any{map[string]any{"variable": "data", "label": "data", "type": "json_object", "required": true}}
		case "code": // stands in for the python code node
			n.Data = map[string]any{"type": "template-transform", "title": "Code", "template": "x", "variables": []any{}}
		case "iteration":
			n.Data["iterator_selector"] = []any{"1754683427386", "data", "result"}
		}
	}
	e := New(Config{}, nil)
	wf, err := e.CompileDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	in, err := wf.PrepareInputs(map[string]any{"data": map[string]any{"result": []any{int64(1), int64(2), int64(3)}}})
	if err != nil {
		t.Fatal(err)
	}
	info := e.Run(context.Background(), wf, Params{RunID: "r", Inputs: in}, nil)
	if info.Status != StatusSucceeded {
		t.Fatalf("%s: %s", info.Status, info.Error)
	}
	ctEqual(t, "outputs", info.Outputs.Map(), map[string]any{"output": []any{"output: 1", "output: 2", "output: 3"}})
}

// ctBarrier is a node type (ct-barrier) that waits until n rounds have
// arrived, then lets round i finish only after round i+1 has finished, so
// rounds complete in reverse order. It fails after a deadline if the rounds
// never overlap.
type ctBarrier struct {
	n       int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
	done    []chan struct{}
}

func newCtBarrier(n int) *ctBarrier {
	b := &ctBarrier{n: n, all: make(chan struct{}), done: make([]chan struct{}, n)}
	for i := range b.done {
		b.done[i] = make(chan struct{})
	}
	return b
}

func (cb *ctBarrier) nodeType() NodeType {
	return NodeType{Name: "ct-barrier", Build: func(b *Build) (Executor, error) {
		var cfg struct {
			Index Selector `json:"index"`
		}
		if err := b.Decode(&cfg); err != nil {
			return nil, err
		}
		return ExecutorFunc(func(ctx context.Context, x *Exec) (*Result, error) {
			v, _ := x.Pool.Get(cfg.Index)
			idx, ok := v.(int64)
			if !ok || idx < 0 || int(idx) >= cb.n {
				return nil, fmt.Errorf("bad round index %v", v)
			}
			i := int(idx)
			cb.mu.Lock()
			cb.arrived++
			if cb.arrived == cb.n {
				close(cb.all)
			}
			cb.mu.Unlock()
			deadline := time.After(10 * time.Second)
			select {
			case <-cb.all:
			case <-deadline:
				return nil, errors.New("rounds did not run in parallel")
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
			if i+1 < cb.n {
				select {
				case <-cb.done[i+1]:
				case <-deadline:
					return nil, errors.New("later round never finished")
				}
			}
			close(cb.done[i])
			return &Result{Outputs: Vars{{"value", fmt.Sprintf("round %d", i)}}}, nil
		}), nil
	}}
}

func TestIterationParallelOverlapAndOrder(t *testing.T) {
	const n = 4
	barrier := newCtBarrier(n)
	e := New(Config{}, ctRegistry(barrier.nodeType()))
	doc := ctIterDoc([]any{"a", "b", "c", "d"}, map[string]any{"is_parallel": true, "parallel_nums": n}, []string{"wait", "value"},
		[]ctNode{{ID: "wait", Parent: "it", Data: map[string]any{"type": "ct-barrier", "title": "wait", "index": []string{"it", "index"}}}},
		[]ctEdge{ctE("itstart", "wait")})
	r := ctRun(t, e, doc, nil)
	ctEqual(t, "output", r.output(t, "output"), []any{"round 0", "round 1", "round 2", "round 3"})
	// The barrier made the rounds finish in reverse order, yet the output
	// follows the input order.
	nexts := 0
	for _, ev := range r.Events {
		if ev.Type == EventIterationNext {
			nexts++
		}
	}
	if nexts != n {
		t.Errorf("%d iteration_next events, want %d", nexts, n)
	}
}

func TestIterationParallelLimit(t *testing.T) {
	var active, peak atomic.Int64
	gate := NodeType{Name: "ct-gate", Build: func(*Build) (Executor, error) {
		return ExecutorFunc(func(_ context.Context, x *Exec) (*Result, error) {
			now := active.Add(1)
			for {
				p := peak.Load()
				if now <= p || peak.CompareAndSwap(p, now) {
					break
				}
			}
			active.Add(-1)
			item, _ := x.Pool.Get(Selector{"it", "item"})
			return &Result{Outputs: Vars{{"value", item}}}, nil
		}), nil
	}}
	e := New(Config{}, ctRegistry(gate))
	items := []any{1, 2, 3, 4, 5, 6, 7, 8}
	doc := ctIterDoc(items, map[string]any{"is_parallel": true, "parallel_nums": 2}, []string{"g", "value"},
		[]ctNode{{ID: "g", Parent: "it", Data: map[string]any{"type": "ct-gate", "title": "g"}}},
		[]ctEdge{ctE("itstart", "g")})
	r := ctRun(t, e, doc, nil)
	ctEqual(t, "output", r.output(t, "output"), items)
	if peak.Load() > 2 {
		t.Errorf("%d rounds ran at once, parallel_nums is 2", peak.Load())
	}
}

func TestIterationErrorHandleModes(t *testing.T) {
	cases := []struct {
		mode string
		want any // output, or the error for terminated
	}{
		{IterationTerminated, "ct failure on 2"},
		{IterationContinueOnError, []any{1, nil, 3}},
		{IterationRemoveAbnormalOutput, []any{1, 3}},
	}
	for _, parallel := range []bool{false, true} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/parallel=%v", c.mode, parallel), func(t *testing.T) {
				e := New(Config{}, ctRegistry())
				doc := ctIterDoc([]any{1, 2, 3}, map[string]any{"error_handle_mode": c.mode, "is_parallel": parallel}, []string{"chk", "value"},
					[]ctNode{{ID: "chk", Parent: "it", Data: map[string]any{"type": "ct-check", "title": "chk", "selector": []string{"it", "item"}, "fail_on": []any{2}}}},
					[]ctEdge{ctE("itstart", "chk")})
				r := ctRun(t, e, doc, nil)
				if c.mode != IterationTerminated {
					ctEqual(t, "output", r.output(t, "output"), c.want)
					return
				}
				if r.Info.Status != StatusFailed || r.Info.Error != c.want {
					t.Fatalf("run %s %q, want failed %q", r.Info.Status, r.Info.Error, c.want)
				}
				done := r.event(t, EventIterationCompleted, "it")
				if done.Status != StatusFailed || done.ErrorType != "IterationNodeError" || done.Error != c.want {
					t.Errorf("iteration_completed %s %s %q", done.Status, done.ErrorType, done.Error)
				}
				failed := 0
				for _, ev := range r.Events {
					if ev.Type == EventNodeFinished && ev.Node.NodeID == "chk" && ev.Node.Status == StatusFailed && ev.Node.ErrorType == "CtError" {
						failed++
					}
				}
				if failed != 1 {
					t.Errorf("%d failed rounds reported, want 1", failed)
				}
			})
		}
	}
}

// A parallel round that succeeds with None is dropped by
// remove-abnormal-output too, as in Dify; sequentially it is kept.
func TestIterationRemoveAbnormalKeepsNoneSequentially(t *testing.T) {
	for _, parallel := range []bool{false, true} {
		e := New(Config{}, ctRegistry())
		doc := ctIterDoc([]any{1, nil, 3}, map[string]any{"error_handle_mode": IterationRemoveAbnormalOutput, "is_parallel": parallel}, []string{"it", "item"}, nil, nil)
		r := ctRun(t, e, doc, nil)
		want := []any{1, nil, 3}
		if parallel {
			want = []any{1, 3}
		}
		ctEqual(t, fmt.Sprintf("parallel=%v output", parallel), r.output(t, "output"), want)
	}
}

func TestIterationFlatten(t *testing.T) {
	cases := []struct {
		list    any
		flatten any // nil: default
		mode    string
		want    any
	}{
		{[]any{[]any{1, 2}, []any{3}}, nil, "", []any{1, 2, 3}},
		{[]any{[]any{1, 2}, []any{3}}, true, "", []any{1, 2, 3}},
		{[]any{[]any{1, 2}, []any{3}}, false, "", []any{[]any{1, 2}, []any{3}}},
		{[]any{[]any{1}, 2}, nil, "", []any{[]any{1}, 2}},
		// Failed rounds' None is ignored by the "all lists" check and dropped.
		{[]any{[]any{1}, "boom", []any{3}}, nil, IterationContinueOnError, []any{1, 3}},
		{[]any{[]any{1}, "boom", []any{3}}, false, IterationContinueOnError, []any{[]any{1}, nil, []any{3}}},
	}
	for i, c := range cases {
		extra := map[string]any{}
		if c.flatten != nil {
			extra["flatten_output"] = c.flatten
		}
		if c.mode != "" {
			extra["error_handle_mode"] = c.mode
		}
		e := New(Config{}, ctRegistry())
		doc := ctIterDoc(c.list, extra, []string{"chk", "value"},
			[]ctNode{{ID: "chk", Parent: "it", Data: map[string]any{"type": "ct-check", "title": "chk", "selector": []string{"it", "item"}, "fail_on": []any{"boom"}}}},
			[]ctEdge{ctE("itstart", "chk")})
		r := ctRun(t, e, doc, nil)
		ctEqual(t, fmt.Sprintf("case %d output", i), r.output(t, "output"), c.want)
	}
}

func TestIterationNested(t *testing.T) {
	for _, parallel := range []bool{false, true} {
		e := New(Config{}, ctRegistry())
		nodes := ctNodes(ctStart(), ctConst("list", []any{[]any{"a", "b"}, []any{"c"}}),
			ctIteration("outer", "", []string{"list", "value"}, []string{"inner", "output"}, map[string]any{"is_parallel": parallel}),
			ctIteration("inner", "outer", []string{"outer", "item"}, []string{"tpl", "output"}, map[string]any{"is_parallel": parallel}),
			ctTemplate("tpl", "inner", "{{ x }}{{ i }}{{ j }}", map[string][]string{"x": {"inner", "item"}, "i": {"outer", "index"}, "j": {"inner", "index"}}),
			ctEnd(map[string][]string{"output": {"outer", "output"}}))
		doc := ctDoc("workflow", nodes, []ctEdge{ctE("start", "list"), ctE("list", "outer"), ctE("outer", "end"),
			ctE("outerstart", "inner"), ctE("innerstart", "tpl")})
		r := ctRun(t, e, doc, nil)
		ctEqual(t, "output", r.output(t, "output"), []any{"a00", "b01", "c10"})
		var innerStarts, tpls []string
		for _, ev := range r.Events {
			if ev.Type == EventIterationStarted && ev.Node.NodeID == "inner" {
				innerStarts = append(innerStarts, fmt.Sprintf("%s#%d", ev.Node.IterationID, ev.Node.IterationIndex))
			}
			if ev.Type == EventNodeFinished && ev.Node.NodeID == "tpl" {
				tpls = append(tpls, fmt.Sprintf("%s#%d:%s", ev.Node.IterationID, ev.Node.IterationIndex, py.Str(ev.Node.Outputs.Map()["output"])))
			}
		}
		if parallel {
			// Rounds may report in any order.
			slices.Sort(innerStarts)
			slices.Sort(tpls)
		}
		ctEqual(t, "inner iteration_started scopes", strings.Join(innerStarts, ","), "outer#0,outer#1")
		want := "inner#0:a00,inner#1:b01,inner#0:c10"
		if parallel {
			want = "inner#0:a00,inner#0:c10,inner#1:b01"
		}
		ctEqual(t, "inner node scopes", strings.Join(tpls, ","), want)
	}
}

func TestIterationEmptyNoneAndInvalid(t *testing.T) {
	e := New(Config{}, ctRegistry())
	for _, list := range []any{[]any{}, nil} {
		r := ctRun(t, e, ctIterDoc(list, nil, []string{"it", "item"}, nil, nil), nil)
		ctEqual(t, fmt.Sprintf("output for %v", list), r.output(t, "output"), []any{})
		for _, ev := range r.Events {
			if ev.Type == EventIterationNext {
				t.Errorf("empty iteration emitted %s", ev.Type)
			}
		}
	}
	r := ctRun(t, e, ctIterDoc("abc", nil, []string{"it", "item"}, nil, nil), nil)
	if r.Info.Status != StatusFailed || r.Info.Error != "invalid iterator value: abc, please provide a list." {
		t.Errorf("string iterator: %s %q", r.Info.Status, r.Info.Error)
	}
	nodes := ctNodes(ctStart(), ctConst("list", 1), ctIteration("it", "", []string{"list", "nope"}, []string{"it", "item"}, nil),
		ctEnd(map[string][]string{"output": {"it", "output"}}))
	r = ctRun(t, e, ctDoc("workflow", nodes, []ctEdge{ctE("start", "list"), ctE("list", "it"), ctE("it", "end")}), nil)
	if r.Info.Status != StatusFailed || r.Info.Error != "iterator variable ['list', 'nope'] not found" {
		t.Errorf("missing iterator: %s %q", r.Info.Status, r.Info.Error)
	}
}

func TestIterationStop(t *testing.T) {
	for _, parallel := range []bool{false, true} {
		entered := make(chan struct{}, 1)
		e := New(Config{}, ctRegistry(ctBlock(entered)))
		doc := ctIterDoc([]any{1, 2, 3}, map[string]any{"is_parallel": parallel}, []string{"blk", "value"},
			[]ctNode{{ID: "blk", Parent: "it", Data: map[string]any{"type": "ct-block", "title": "blk"}}},
			[]ctEdge{ctE("itstart", "blk")})
		ctx, cancel := context.WithCancelCause(context.Background())
		go func() {
			<-entered
			cancel(ErrStopped)
		}()
		start := time.Now()
		r := ctRunCtx(ctx, t, e, doc, nil)
		cancel(nil)
		if r.Info.Status != StatusStopped || r.Info.Error != ErrStopped.Error() {
			t.Errorf("parallel=%v: run %s %q, want stopped", parallel, r.Info.Status, r.Info.Error)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("stop took %s", d)
		}
		if done := r.event(t, EventIterationCompleted, "it"); done.Status != StatusStopped {
			t.Errorf("iteration_completed status %s", done.Status)
		}
		nexts := 0
		for _, ev := range r.Events {
			if ev.Type == EventIterationNext {
				nexts++
			}
		}
		if !parallel && nexts != 1 {
			t.Errorf("sequential: %d rounds started after the stop, want 1", nexts)
		}
	}
}

// Config.NodeTimeout bounds the nodes inside an iteration one by one, not
// the iteration as a whole.
func TestIterationNodeTimeout(t *testing.T) {
	wait := NodeType{Name: "ct-wait", Build: func(b *Build) (Executor, error) {
		ms, _ := Normalize(b.Data["ms"]).(int64)
		return ExecutorFunc(func(ctx context.Context, _ *Exec) (*Result, error) {
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
				return &Result{Outputs: Vars{{"value", "ok"}}}, nil
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
		}), nil
	}}
	e := New(Config{NodeTimeout: 300 * time.Millisecond}, ctRegistry(wait))
	doc := func(ms int) []byte {
		return ctIterDoc([]any{1, 2, 3, 4, 5, 6}, nil, []string{"w", "value"},
			[]ctNode{{ID: "w", Parent: "it", Data: map[string]any{"type": "ct-wait", "title": "w", "ms": ms}}},
			[]ctEdge{ctE("itstart", "w")})
	}
	r := ctRun(t, e, doc(75), nil) // 6 × 75 ms > 300 ms
	ctEqual(t, "output", r.output(t, "output"), []any{"ok", "ok", "ok", "ok", "ok", "ok"})

	r = ctRun(t, e, doc(5000), nil)
	if r.Info.Status != StatusFailed || !strings.Contains(r.Info.Error, "node execution timed out") {
		t.Errorf("run %s %q, want the inner node's timeout", r.Info.Status, r.Info.Error)
	}
}
