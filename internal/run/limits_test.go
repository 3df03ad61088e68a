package run

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// ctNestedDoc is an outer iteration over n lists of n items whose inner
// iteration runs a ct-const node per item: 1 + n·(1 + n) steps inside the
// outer one.
func ctNestedDoc(n int, extra map[string]any) []byte {
	row := make([]any, n)
	for i := range row {
		row[i] = i
	}
	lists := make([]any, n)
	for i := range lists {
		lists[i] = row
	}
	nodes := ctNodes(ctStart(), ctConst("list", lists),
		ctIteration("outer", "", []string{"list", "value"}, []string{"inner", "output"}, extra),
		ctIteration("inner", "outer", []string{"outer", "item"}, []string{"leaf", "value"}, extra),
		ctNode{ID: "leaf", Parent: "inner", Data: map[string]any{"type": "ct-const", "title": "leaf", "value": 1}},
		ctEnd(map[string][]string{"output": {"outer", "output"}}))
	return ctDoc("workflow", nodes, []ctEdge{ctE("start", "list"), ctE("list", "outer"), ctE("outer", "end"),
		ctE("outerstart", "inner"), ctE("innerstart", "leaf")})
}

// startedSteps counts the node executions a run's events report: one
// node_started, iteration_started or loop_started each.
func startedSteps(evs []*Event) int64 {
	var n int64
	for _, ev := range evs {
		switch ev.Type {
		case EventNodeStarted, EventIterationStarted, EventLoopStarted:
			n++
		}
	}
	return n
}

// Steps inside iterations count toward MaxSteps, in every error handling
// mode and in parallel rounds: the run fails with Dify's message, and
// total_steps agrees with the node executions reported.
func TestMaxStepsCountsNestedIterations(t *testing.T) {
	for _, extra := range []map[string]any{
		nil,
		{"is_parallel": true, "parallel_nums": 4},
		{"error_handle_mode": IterationContinueOnError},
		{"is_parallel": true, "error_handle_mode": IterationRemoveAbnormalOutput},
	} {
		t.Run(fmt.Sprint(extra), func(t *testing.T) {
			e := New(Config{MaxSteps: 100}, ctRegistry())
			r := ctRun(t, e, ctNestedDoc(30, extra), nil)
			if r.Info.Status != StatusFailed || r.Info.Error != "Maximum execution steps exceeded: 101 > 100" {
				t.Fatalf("run %s %q, want failed on max steps", r.Info.Status, r.Info.Error)
			}
			if r.Info.TotalSteps != 100 {
				t.Errorf("total_steps %d, want 100", r.Info.TotalSteps)
			}
			if got := startedSteps(r.Events); got != r.Info.TotalSteps {
				t.Errorf("%d node executions reported, total_steps %d", got, r.Info.TotalSteps)
			}
			if done := r.event(t, EventIterationCompleted, "outer"); done.Status != StatusFailed || done.Error != r.Info.Error {
				t.Errorf("outer iteration %s %q", done.Status, done.Error)
			}
		})
	}
}

// Under the limit, the same document succeeds with total_steps counting
// every node execution, inside the containers too.
func TestTotalStepsCountsNestedNodes(t *testing.T) {
	e := New(Config{MaxSteps: 100}, ctRegistry())
	r := ctRun(t, e, ctNestedDoc(5, nil), nil)
	r.output(t, "output")
	// start, list, outer, 5 × (inner + 5 leaves), end
	if want := int64(3 + 5*6 + 1); r.Info.TotalSteps != want || startedSteps(r.Events) != want {
		t.Errorf("total_steps %d, %d reported, want %d", r.Info.TotalSteps, startedSteps(r.Events), want)
	}
}

// Loop rounds count too.
func TestMaxStepsCountsLoopRounds(t *testing.T) {
	e := New(Config{MaxSteps: 20}, ctRegistry())
	r := ctRun(t, e, ctCounterLoop(100, 0, nil, nil, nil), nil)
	if r.Info.Status != StatusFailed || r.Info.Error != "Maximum execution steps exceeded: 21 > 20" || r.Info.TotalSteps != 20 {
		t.Fatalf("run %s %q total_steps %d", r.Info.Status, r.Info.Error, r.Info.TotalSteps)
	}
	if done := r.event(t, EventLoopCompleted, "lp"); done.Status != StatusFailed {
		t.Errorf("loop %s", done.Status)
	}
}

// The run timeout ends a run whose node blocks inside nested parallel
// iterations, with Dify's message, and the containers end failed.
func TestTimeoutInsideNestedContainers(t *testing.T) {
	entered := make(chan struct{}, 1)
	e := New(Config{Timeout: 50 * time.Millisecond}, ctRegistry(ctBlock(entered)))
	par := map[string]any{"is_parallel": true, "error_handle_mode": IterationContinueOnError}
	nodes := ctNodes(ctStart(), ctConst("list", []any{[]any{1, 2}, []any{3, 4}}),
		ctIteration("outer", "", []string{"list", "value"}, []string{"inner", "output"}, par),
		ctIteration("inner", "outer", []string{"outer", "item"}, []string{"blk", "value"}, par),
		ctNode{ID: "blk", Parent: "inner", Data: map[string]any{"type": "ct-block", "title": "blk"}},
		ctEnd(map[string][]string{"output": {"outer", "output"}}))
	doc := ctDoc("workflow", nodes, []ctEdge{ctE("start", "list"), ctE("list", "outer"), ctE("outer", "end"),
		ctE("outerstart", "inner"), ctE("innerstart", "blk")})
	r := ctRun(t, e, doc, nil)
	if r.Info.Status != StatusFailed || !strings.HasPrefix(r.Info.Error, "Maximum execution time exceeded: ") {
		t.Fatalf("run %s %q", r.Info.Status, r.Info.Error)
	}
	for _, ev := range r.Events {
		if ev.Node != nil && ev.Node.Status.Terminal() && ev.Node.Status != StatusFailed && ev.Node.NodeID != "start" && ev.Node.NodeID != "list" {
			t.Errorf("%s %s ended %s, want failed", ev.Type, ev.Node.NodeID, ev.Node.Status)
		}
	}
}

// A stop reaches a node blocked inside a loop inside an iteration.
func TestStopInsideLoopInIteration(t *testing.T) {
	entered := make(chan struct{}, 1)
	e := New(Config{}, ctRegistry(ctBlock(entered)))
	lp := ctLoop("lp", 5, nil, nil, nil)
	lp[0].Parent = "it"
	lp[1].Parent = "lp"
	doc := ctIterDoc([]any{1, 2, 3}, map[string]any{"is_parallel": true}, []string{"lp", "loop_round"},
		ctNodes(lp, ctNode{ID: "blk", Parent: "lp", Data: map[string]any{"type": "ct-block", "title": "blk"}}),
		[]ctEdge{ctE("itstart", "lp"), ctE("lpstart", "blk")})
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	go func() {
		<-entered
		cancel(ErrStopped)
	}()
	r := ctRunCtx(ctx, t, e, doc, nil)
	if r.Info.Status != StatusStopped {
		t.Fatalf("run %s %q, want stopped", r.Info.Status, r.Info.Error)
	}
}
