package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestLoopFixtureIncrementWithBreak(t *testing.T) {
	data, err := os.ReadFile("testdata/dsl/dify-fixtures/increment_loop_with_break_condition_workflow.yml")
	if err != nil {
		t.Fatal(err)
	}
	e := New(Config{}, nil)
	r := ctRun(t, e, data, nil)
	ctEqual(t, "outputs", r.Info.Outputs, map[string]any{"num": 5})
	if r.Info.Status != StatusSucceeded {
		t.Fatalf("%s: %s", r.Info.Status, r.Info.Error)
	}
	const loop, assign = "1754827949615", "1754827988715"
	var want []string
	want = append(want, "workflow_started", "node_started 1754827922555", "node_finished 1754827922555 succeeded", "loop_started "+loop)
	for i := range 4 {
		if i > 0 {
			want = append(want, fmt.Sprintf("loop_next %s %d", loop, i))
		}
		want = append(want,
			fmt.Sprintf("node_started %s loop=%s#%d", assign, loop, i),
			fmt.Sprintf("node_finished %s loop=%s#%d succeeded", assign, loop, i))
	}
	want = append(want, "loop_completed "+loop+" succeeded", "node_started 1754828005059", "node_finished 1754828005059 succeeded", "workflow_finished")
	ctTraceEqual(t, r.trace(), want)

	started := r.event(t, EventLoopStarted, loop)
	ctEqual(t, "loop_started inputs", started.Inputs, map[string]any{"loop_count": 10, "num": 1})
	ctEqual(t, "loop_started metadata", started.Metadata, map[string]any{"loop_length": 10})
	done := r.event(t, EventLoopCompleted, loop)
	ctEqual(t, "loop outputs", done.Outputs, map[string]any{"num": 5, "loop_round": 4})
	ctEqual(t, "completed_reason", done.Metadata["completed_reason"], LoopCompletedReasonBreak)
	ctEqual(t, "loop_variable_map", done.Metadata["loop_variable_map"], map[string]any{
		"0": map[string]any{"num": 2}, "1": map[string]any{"num": 3}, "2": map[string]any{"num": 4}, "3": map[string]any{"num": 5},
	})
	if dm, _ := done.Metadata["loop_duration_map"].(map[string]any); len(dm) != 4 {
		t.Errorf("loop_duration_map = %v", done.Metadata["loop_duration_map"])
	}
	// The assigner reports what it changed.
	var pd Vars
	for _, ev := range r.Events {
		if ev.Type == EventNodeFinished && ev.Node.NodeID == assign {
			pd = ev.Node.ProcessData
		}
	}
	ctEqual(t, "assigner process_data", pd, map[string]any{
		"num":                 5,
		"__updated_variables": []any{map[string]any{"name": "num", "selector": []any{loop, "num"}, "value_type": "integer", "new_value": 5}},
	})
}

// ctCounterLoop is start → loop "lp" (num from init, += 1 per round,
// optional break conditions) → end {num, round}.
func ctCounterLoop(count int, init any, breaks []any, inner []ctNode, innerEdges []ctEdge) []byte {
	nodes := ctNodes(ctStart(),
		ctLoop("lp", count, []any{map[string]any{"label": "num", "var_type": "number", "value_type": "constant", "value": init}}, breaks, nil),
		ctAssign("inc", "lp", map[string]any{"variable_selector": []string{"lp", "num"}, "input_type": "constant", "operation": "+=", "value": 1}),
		inner,
		ctEnd(map[string][]string{"num": {"lp", "num"}, "round": {"lp", "loop_round"}}))
	edges := append([]ctEdge{ctE("start", "lp"), ctE("lp", "end"), ctE("lpstart", "inc")}, innerEdges...)
	return ctDoc("workflow", nodes, edges)
}

func ctBreakAtLeast(n int) []any {
	return []any{map[string]any{"variable_selector": []string{"lp", "num"}, "comparison_operator": "≥", "value": fmt.Sprint(n)}}
}

func TestLoopBreakBeforeFirstRound(t *testing.T) {
	e := New(Config{}, ctRegistry())
	r := ctRun(t, e, ctCounterLoop(10, 7, ctBreakAtLeast(5), nil, nil), nil)
	ctEqual(t, "num", r.output(t, "num"), 7)
	ctEqual(t, "round", r.output(t, "round"), nil)
	for _, line := range r.trace() {
		if strings.Contains(line, "inc") || strings.HasPrefix(line, "loop_next") {
			t.Errorf("no round should run: %s", line)
		}
	}
	done := r.event(t, EventLoopCompleted, "lp")
	ctEqual(t, "completed_reason", done.Metadata["completed_reason"], LoopCompletedReasonBreak)
	ctEqual(t, "loop_variable_map", done.Metadata["loop_variable_map"], map[string]any{})
}

func TestLoopRunsLoopCount(t *testing.T) {
	e := New(Config{}, ctRegistry())
	r := ctRun(t, e, ctCounterLoop(3, 0, nil, nil, nil), nil)
	ctEqual(t, "num", r.output(t, "num"), 3)
	ctEqual(t, "round", r.output(t, "round"), 3)
	var nexts []string
	for _, line := range r.trace() {
		if strings.HasPrefix(line, "loop_next") {
			nexts = append(nexts, line)
		}
	}
	ctEqual(t, "loop_next events", strings.Join(nexts, ","), "loop_next lp 1,loop_next lp 2")
	done := r.event(t, EventLoopCompleted, "lp")
	ctEqual(t, "completed_reason", done.Metadata["completed_reason"], LoopCompletedReasonCompleted)
}

func TestLoopEnd(t *testing.T) {
	e := New(Config{}, ctRegistry())
	// inc → when(num ≥ 3): yes → loop-end. The round that reaches loop-end
	// is the last one.
	inner := []ctNode{
		{ID: "when", Parent: "lp", Data: map[string]any{"type": "ct-when", "title": "when", "selector": []string{"lp", "num"}, "at_least": 3}},
		{ID: "stop", Parent: "lp", Data: map[string]any{"type": "loop-end", "title": "stop"}},
	}
	edges := []ctEdge{ctE("inc", "when"), {From: "when", To: "stop", Handle: "yes"}}
	r := ctRun(t, e, ctCounterLoop(10, 0, nil, inner, edges), nil)
	ctEqual(t, "num", r.output(t, "num"), 3)
	ctEqual(t, "round", r.output(t, "round"), 3)
	stops := 0
	for _, line := range r.trace() {
		if strings.HasPrefix(line, "node_finished stop") {
			stops++
			ctEqual(t, "loop-end event", line, "node_finished stop loop=lp#2 succeeded")
		}
	}
	if stops != 1 {
		t.Errorf("loop-end ran %d times", stops)
	}
	ctEqual(t, "completed_reason", r.event(t, EventLoopCompleted, "lp").Metadata["completed_reason"], LoopCompletedReasonBreak)

	// loop-end ends the loop after the current round: a parallel branch of
	// the same round still runs.
	r = ctRun(t, e, ctCounterLoop(10, 0, nil,
		[]ctNode{{ID: "stop", Parent: "lp", Data: map[string]any{"type": "loop-end", "title": "stop"}}},
		[]ctEdge{ctE("lpstart", "stop")}), nil)
	ctEqual(t, "num after one round", r.output(t, "num"), 1)
	ctEqual(t, "round", r.output(t, "round"), 1)

	// loop-end outside a loop is rejected at load time.
	doc := ctDoc("workflow", []ctNode{ctStart(), {ID: "stop", Data: map[string]any{"type": "loop-end", "title": "stop"}}}, []ctEdge{ctE("start", "stop")})
	if _, err := e.Compile(doc); err == nil || !strings.Contains(err.Error(), "loop-end node must be inside a loop") {
		t.Errorf("compile: %v", err)
	}
}

func TestLoopCountCap(t *testing.T) {
	doc := ctCounterLoop(101, 0, nil, nil, nil)
	_, err := New(Config{}, ctRegistry()).Compile(doc)
	if !errors.Is(err, ErrInvalidDSL) || !strings.Contains(err.Error(), "loop_count 101 exceeds the maximum loop count 100") {
		t.Fatalf("compile: %v", err)
	}
	r := ctRun(t, New(Config{LoopMaxCount: 200}, ctRegistry()), doc, nil)
	ctEqual(t, "num", r.output(t, "num"), 101)
}

// Inner node outputs do not survive into the next round (Dify clears them),
// while loop variables do.
func TestLoopRoundPoolReset(t *testing.T) {
	e := New(Config{}, ctRegistry())
	nodes := ctNodes(ctStart(),
		ctLoop("lp", 3, []any{
			map[string]any{"label": "num", "var_type": "number", "value_type": "constant", "value": 0},
			map[string]any{"label": "seen", "var_type": "array[string]", "value_type": "constant", "value": "[]"},
		}, nil, nil),
		ctAssign("inc", "lp", map[string]any{"variable_selector": []string{"lp", "num"}, "input_type": "constant", "operation": "+=", "value": 1}),
		ctNode{ID: "when", Parent: "lp", Data: map[string]any{"type": "ct-when", "title": "when", "selector": []string{"lp", "num"}, "at_least": 2}},
		ctTemplate("early", "lp", "early", nil),
		ctTemplate("late", "lp", "late", nil),
		ctNode{ID: "agg", Parent: "lp", Data: map[string]any{"type": "variable-aggregator", "title": "agg", "variables": [][]string{{"early", "output"}, {"late", "output"}}}},
		ctAssign("rec", "lp", map[string]any{"variable_selector": []string{"lp", "seen"}, "input_type": "variable", "operation": "append", "value": []string{"agg", "output"}}),
		ctEnd(map[string][]string{"seen": {"lp", "seen"}}))
	edges := []ctEdge{ctE("start", "lp"), ctE("lp", "end"), ctE("lpstart", "inc"), ctE("inc", "when"),
		{From: "when", To: "early", Handle: "no"}, {From: "when", To: "late", Handle: "yes"},
		ctE("early", "agg"), ctE("late", "agg"), ctE("agg", "rec")}
	r := ctRun(t, e, ctDoc("workflow", nodes, edges), nil)
	ctEqual(t, "seen", r.output(t, "seen"), []any{"early", "late", "late"})
}

func TestLoopVariables(t *testing.T) {
	cases := []struct {
		varType, valueType string
		value              any
		want               any
		err                string
	}{
		{"string", "constant", "abc", "abc", ""},
		{"number", "constant", "1.5", 1.5, ""},
		{"number", "constant", 2, 2, ""},
		{"boolean", "constant", "true", true, ""},
		{"boolean", "constant", false, false, ""},
		{"object", "constant", `{"a": 1}`, map[string]any{"a": 1}, ""},
		{"array[string]", "constant", `["a", "b"]`, []any{"a", "b"}, ""},
		{"array[number]", "constant", "", []any{}, ""},
		{"array[object]", "constant", []any{map[string]any{}}, []any{}, ""}, // Dify only reads JSON text here
		{"array[boolean]", "constant", []any{true}, []any{true}, ""},
		{"number", "constant", "abc", nil, "Type mismatch: expected number, but got string, value=abc"},
		{"string", "constant", nil, nil, "Type mismatch: expected string, but got None"},
		{"array[string]", "constant", "[1]", nil, "Type mismatch: expected array[string], but got array[number], value=[1]"},
		{"string", "variable", []string{"src", "value"}, "from src", ""},
		{"string", "variable", []string{"src", "missing"}, nil, "Invalid value for loop variable v"},
	}
	e := New(Config{}, ctRegistry())
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s=%v", c.varType, c.value), func(t *testing.T) {
			nodes := ctNodes(ctStart(), ctConst("src", "from src"),
				ctLoop("lp", 1, []any{map[string]any{"label": "v", "var_type": c.varType, "value_type": c.valueType, "value": c.value}}, nil, nil),
				ctEnd(map[string][]string{"v": {"lp", "v"}}))
			r := ctRun(t, e, ctDoc("workflow", nodes, []ctEdge{ctE("start", "src"), ctE("src", "lp"), ctE("lp", "end")}), nil)
			if c.err != "" {
				if r.Info.Status != StatusFailed || r.Info.Error != c.err {
					t.Errorf("run %s %q, want failed %q", r.Info.Status, r.Info.Error, c.err)
				}
				return
			}
			ctEqual(t, "v", r.output(t, "v"), c.want)
		})
	}
}

func TestLoopInnerFailure(t *testing.T) {
	e := New(Config{}, ctRegistry())
	inner := []ctNode{{ID: "chk", Parent: "lp", Data: map[string]any{"type": "ct-check", "title": "chk", "selector": []string{"lp", "num"}, "fail_on": []any{2}}}}
	r := ctRun(t, e, ctCounterLoop(5, 0, nil, inner, []ctEdge{ctE("inc", "chk")}), nil)
	if r.Info.Status != StatusFailed || r.Info.Error != "ct failure on 2" {
		t.Fatalf("run %s %q", r.Info.Status, r.Info.Error)
	}
	done := r.event(t, EventLoopCompleted, "lp")
	if done.Status != StatusFailed || done.ErrorType != "LoopNodeError" || done.Metadata["completed_reason"] != "error" {
		t.Errorf("loop_completed %s %s %v", done.Status, done.ErrorType, done.Metadata)
	}
}

// A break condition that cannot be evaluated after a round fails the loop;
// before the first round it counts as false.
func TestLoopBreakConditionError(t *testing.T) {
	e := New(Config{}, ctRegistry())
	inner := []ctNode{ctTemplate("tpl", "lp", "x", nil)}
	breaks := []any{map[string]any{"variable_selector": []string{"tpl", "nope"}, "comparison_operator": "is", "value": "x"}}
	r := ctRun(t, e, ctCounterLoop(5, 0, breaks, inner, []ctEdge{ctE("inc", "tpl")}), nil)
	if r.Info.Status != StatusFailed || r.Info.Error != "Variable ['tpl', 'nope'] not found" {
		t.Fatalf("run %s %q", r.Info.Status, r.Info.Error)
	}
	if got := r.event(t, EventLoopCompleted, "lp").Metadata["loop_variable_map"].(map[string]any); len(got) != 1 {
		t.Errorf("rounds run: %v", got)
	}
}

func TestLoopNestedInIteration(t *testing.T) {
	e := New(Config{}, ctRegistry())
	nodes := ctNodes(ctStart(), ctConst("list", []any{2, 3}),
		ctIteration("it", "", []string{"list", "value"}, []string{"lp", "num"}, nil),
		[]ctNode{
			{ID: "lp", Parent: "it", Data: map[string]any{"type": "loop", "title": "lp", "loop_count": 10, "start_node_id": "lpstart", "logical_operator": "and",
				"loop_variables":   []any{map[string]any{"label": "num", "var_type": "number", "value_type": "variable", "value": []string{"it", "item"}}},
				"break_conditions": []any{map[string]any{"variable_selector": []string{"lp", "num"}, "comparison_operator": "≥", "value": "5"}}}},
			{ID: "lpstart", Parent: "lp", Data: map[string]any{"type": "loop-start", "title": ""}},
		},
		ctAssign("inc", "lp", map[string]any{"variable_selector": []string{"lp", "num"}, "input_type": "constant", "operation": "+=", "value": 1}),
		ctEnd(map[string][]string{"out": {"it", "output"}}))
	edges := []ctEdge{ctE("start", "list"), ctE("list", "it"), ctE("it", "end"), ctE("itstart", "lp"), ctE("lpstart", "inc")}
	r := ctRun(t, e, ctDoc("workflow", nodes, edges), nil)
	ctEqual(t, "out", r.output(t, "out"), []any{5, 5})
	for _, ev := range r.Events {
		if ev.Type == EventNodeFinished && ev.Node.NodeID == "inc" && (ev.Node.IterationID != "it" || ev.Node.LoopID != "lp") {
			t.Errorf("assigner scope: iteration %q loop %q", ev.Node.IterationID, ev.Node.LoopID)
		}
	}
}

func TestLoopStop(t *testing.T) {
	entered := make(chan struct{}, 1)
	e := New(Config{}, ctRegistry(ctBlock(entered)))
	inner := []ctNode{{ID: "blk", Parent: "lp", Data: map[string]any{"type": "ct-block", "title": "blk"}}}
	doc := ctCounterLoop(50, 0, nil, inner, []ctEdge{ctE("inc", "blk")})
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		<-entered
		cancel(ErrStopped)
	}()
	start := time.Now()
	r := ctRunCtx(ctx, t, e, doc, nil)
	cancel(nil)
	if r.Info.Status != StatusStopped || r.Info.Error != ErrStopped.Error() {
		t.Fatalf("run %s %q, want stopped", r.Info.Status, r.Info.Error)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stop took %s", d)
	}
	if done := r.event(t, EventLoopCompleted, "lp"); done.Status != StatusStopped {
		t.Errorf("loop_completed status %s", done.Status)
	}
	for _, line := range r.trace() {
		if strings.HasPrefix(line, "loop_next") {
			t.Errorf("a round started after the stop: %s", line)
		}
	}
}
