package run

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/flowrun/flowrun/internal/sharedtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const queryStart = `start:start:{variables: [{variable: q, type: text-input, required: false}]}`

func TestParallelBranchesRunConcurrently(t *testing.T) {
	t.Parallel()
	k := newTestKit()
	k.barrier = newBarrier(2)
	e := New(Config{}, k.reg)
	wf := mustCompile(t, e, graphYAML(
		[]string{queryStart, "left:test-barrier", "right:test-barrier", `end:end:{outputs: [{variable: l, value_selector: [left, value]}, {variable: r, value_selector: [right, value]}]}`},
		[]string{"start->left", "start->right", "left->end", "right->end"}))
	info, _ := runWith(t, context.Background(), e, wf, nil)
	if info.Status != StatusSucceeded {
		t.Fatalf("status %s, error %q", info.Status, info.Error)
	}
	if got := info.Outputs; len(got) != 2 || got[0].Value != "left" || got[1].Value != "right" {
		t.Fatalf("outputs %v", got)
	}
}

func TestDiamondBench(t *testing.T) {
	t.Parallel()
	e := New(Config{}, nil)
	wf := mustCompile(t, e, readFile(t, "../../examples/diamond.yml"))
	info, rec := runWith(t, context.Background(), e, wf, map[string]any{"query": "héllo"})
	if info.Status != StatusSucceeded || info.TotalSteps != 4 {
		t.Fatalf("status %s steps %d", info.Status, info.TotalSteps)
	}
	want := `{"left":"left:héllo","right":"right:HÉLLO"}`
	if got := sharedtest.JSON(t, info.Outputs); got != want {
		t.Fatalf("outputs %s, want %s", got, want)
	}
	// The join (end) starts only after both branches finished.
	tr := rec.trace()
	endStart := indexOf(tr, "node_started end running")
	if endStart < indexOf(tr, "node_finished left succeeded") || endStart < indexOf(tr, "node_finished right succeeded") {
		t.Fatalf("end started before a branch finished:\n%s", strings.Join(tr, "\n"))
	}
}

func TestJoinWaitsForSlowBranch(t *testing.T) {
	t.Parallel()
	k := newTestKit()
	e := New(Config{}, k.reg)
	wf := mustCompile(t, e, graphYAML(
		[]string{queryStart, "fast:test-value:{output: f}", "slow:test-block", "join:test-value:{output: j}"},
		[]string{"start->fast", "start->slow", "fast->join", "slow->join"}))
	done := make(chan *recorder, 1)
	go func() {
		_, rec := runWith(t, context.Background(), e, wf, nil)
		done <- rec
	}()
	waitFor(t, k.started, "slow")
	close(k.release)
	rec := <-done
	tr := rec.trace()
	if indexOf(tr, "node_started join running") < indexOf(tr, "node_finished slow succeeded") {
		t.Fatalf("join ran before the slow branch finished:\n%s", strings.Join(tr, "\n"))
	}
	if n := count(tr, "node_started join running"); n != 1 {
		t.Fatalf("join ran %d times", n)
	}
}

func TestSkipPropagatesThroughNestedBranches(t *testing.T) {
	t.Parallel()
	k := newTestKit()
	e := New(Config{MaxParallel: 1}, k.reg)
	// outer picks "x"; inner (on the x path) picks "p". Skipped: b, c (y
	// path) and e2, f (q path). join has one taken edge (from d) and runs.
	wf := mustCompile(t, e, graphYAML(
		[]string{queryStart, "outer:test-value:{handle: x}", "inner:test-value:{handle: p}",
			"b:test-value", "c:test-value", "d:test-value:{output: D}", "e2:test-value", "f:test-value",
			"join:test-value:{output: J}", `end:end:{outputs: [{variable: o, value_selector: [join, value]}]}`},
		[]string{"start->outer", "outer->inner:x", "outer->b:y", "b->c", "c->join",
			"inner->d:p", "inner->e2:q", "e2->f", "f->join", "d->join", "join->end"}))
	info, rec := runWith(t, context.Background(), e, wf, nil)
	if info.Status != StatusSucceeded {
		t.Fatalf("status %s: %s", info.Status, info.Error)
	}
	fin := rec.finished()
	for _, skipped := range []string{"b", "c", "e2", "f"} {
		if _, ran := fin[skipped]; ran {
			t.Errorf("node %s ran, want skipped", skipped)
		}
	}
	for _, ran := range []string{"outer", "inner", "d", "join", "end"} {
		if _, ok := fin[ran]; !ok {
			t.Errorf("node %s did not run", ran)
		}
	}
	if fin["join"].PredecessorNodeID != "d" {
		t.Errorf("join predecessor %q, want d", fin["join"].PredecessorNodeID)
	}
	if got := sharedtest.JSON(t, info.Outputs); got != `{"o":"J"}` {
		t.Errorf("outputs %s", got)
	}
}

func TestAllIncomingSkippedSkipsNode(t *testing.T) {
	t.Parallel()
	k := newTestKit()
	e := New(Config{}, k.reg)
	wf := mustCompile(t, e, graphYAML(
		[]string{queryStart, "br:test-value:{handle: a}", "x:test-value", "y:test-value", "z:test-value"},
		[]string{"start->br", "br->x:b", "br->y:c", "x->z", "y->z"}))
	info, rec := runWith(t, context.Background(), e, wf, nil)
	if info.Status != StatusSucceeded {
		t.Fatalf("status %s", info.Status)
	}
	if _, ran := rec.finished()["z"]; ran {
		t.Fatal("z ran although all its incoming edges were skipped")
	}
	if info.TotalSteps != 2 {
		t.Fatalf("total_steps %d, want 2", info.TotalSteps)
	}
}

func TestFailingNodeFailsRun(t *testing.T) {
	t.Parallel()
	k := newTestKit()
	e := New(Config{}, k.reg)
	wf := mustCompile(t, e, graphYAML(
		[]string{queryStart, "bad:test-fail:{fail: kaputt}", "after:test-value"},
		[]string{"start->bad", "bad->after"}))
	info, rec := runWith(t, context.Background(), e, wf, nil)
	if info.Status != StatusFailed || info.Error != "kaputt" {
		t.Fatalf("status %s error %q", info.Status, info.Error)
	}
	fin := rec.finished()
	if fin["bad"].Status != StatusFailed || fin["bad"].ErrorType != "TestError" {
		t.Fatalf("bad node: %+v", fin["bad"])
	}
	if _, ran := fin["after"]; ran {
		t.Fatal("node after a failure ran")
	}
	if string(sharedtest.JSON(t, info.Outputs)) != "{}" {
		t.Fatalf("failed run outputs %s, want {}", sharedtest.JSON(t, info.Outputs))
	}
	last := rec.All()[len(rec.All())-1]
	if last.Type != EventWorkflowFinished || last.Run.Status != StatusFailed {
		t.Fatalf("last event %s", last.Type)
	}
}

func TestFailBranch(t *testing.T) {
	t.Parallel()
	k := newTestKit()
	e := New(Config{}, k.reg)
	wf := mustCompile(t, e, graphYAML(
		[]string{queryStart, "bad:test-fail:{fail: nope, error_strategy: fail-branch}", "ok:test-value", "handler:test-value:{output: handled}",
			`end:end:{outputs: [{variable: msg, value_selector: [bad, error_message]}, {variable: h, value_selector: [handler, value]}]}`},
		[]string{"start->bad", "bad->ok", "bad->handler:fail-branch", "handler->end", "ok->end"}))
	info, rec := runWith(t, context.Background(), e, wf, nil)
	if info.Status != StatusPartialSucceeded || info.ExceptionsCount != 1 {
		t.Fatalf("status %s exceptions %d (%s)", info.Status, info.ExceptionsCount, info.Error)
	}
	fin := rec.finished()
	if _, ran := fin["ok"]; ran {
		t.Fatal("success edge taken on failure")
	}
	if fin["bad"].Status != StatusException || sharedtest.JSON(t, fin["bad"].Outputs) != `{"error_message":"nope","error_type":"TestError"}` {
		t.Fatalf("bad: %s %s", fin["bad"].Status, sharedtest.JSON(t, fin["bad"].Outputs))
	}
	if fin["bad"].Metadata["error_strategy"] != "fail-branch" {
		t.Fatalf("metadata %v", fin["bad"].Metadata)
	}
	if got := sharedtest.JSON(t, info.Outputs); got != `{"msg":"nope","h":"handled"}` {
		t.Fatalf("outputs %s", got)
	}
}

func TestDefaultValue(t *testing.T) {
	t.Parallel()
	k := newTestKit()
	e := New(Config{}, k.reg)
	wf := mustCompile(t, e, graphYAML(
		[]string{queryStart, `bad:test-fail:{fail: nope, error_strategy: default-value, default_value: [{key: value, type: string, value: fallback}, {key: n, type: number, value: '42'}]}`,
			`end:end:{outputs: [{variable: v, value_selector: [bad, value]}, {variable: n, value_selector: [bad, n]}]}`},
		[]string{"start->bad", "bad->end"}))
	info, rec := runWith(t, context.Background(), e, wf, nil)
	if info.Status != StatusPartialSucceeded {
		t.Fatalf("status %s: %s", info.Status, info.Error)
	}
	if got := sharedtest.JSON(t, info.Outputs); got != `{"v":"fallback","n":42}` {
		t.Fatalf("outputs %s", got)
	}
	if got := sharedtest.JSON(t, rec.finished()["bad"].Outputs); got != `{"value":"fallback","n":42,"error_message":"nope","error_type":"TestError"}` {
		t.Fatalf("node outputs %s", got)
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	k := newTestKit()
	e := New(Config{}, k.reg)
	retry := `retry_config: {retry_enabled: true, max_retries: 3, retry_interval: 1}`
	wf := mustCompile(t, e, graphYAML(
		[]string{queryStart, "flaky:test-fail:{fail: flake, times: 2, " + retry + "}", "hopeless:test-fail:{fail: never, " + retry + "}"},
		[]string{"start->flaky", "flaky->hopeless"}))
	info, rec := runWith(t, context.Background(), e, wf, nil)
	var retries []int
	for _, ev := range rec.All() {
		if ev.Type == EventNodeRetry && ev.Node.NodeID == "flaky" {
			if ev.Node.Status != StatusRetry || ev.Node.Error != "flake" {
				t.Fatalf("retry event %+v", ev.Node)
			}
			retries = append(retries, ev.Node.RetryIndex)
		}
	}
	if len(retries) != 2 || retries[0] != 1 || retries[1] != 2 {
		t.Fatalf("flaky retries %v, want [1 2]", retries)
	}
	fin := rec.finished()
	if fin["flaky"].Status != StatusSucceeded || sharedtest.JSON(t, fin["flaky"].Outputs) != `{"value":"ok after 3"}` {
		t.Fatalf("flaky %+v", fin["flaky"])
	}
	if n := count(rec.trace(), "node_retry hopeless retry"); n != 3 {
		t.Fatalf("hopeless retried %d times, want 3", n)
	}
	if info.Status != StatusFailed || info.Error != "never" {
		t.Fatalf("status %s error %q", info.Status, info.Error)
	}
}

func TestRetryIgnoredForTypesWithoutRetry(t *testing.T) {
	t.Parallel()
	e := New(Config{}, nil)
	// template-transform does not honour retry_config in Dify.
	wf := mustCompile(t, e, graphYAML(
		[]string{queryStart, `t:template-transform:{template: "{{ 1/0 }}", variables: [], retry_config: {retry_enabled: true, max_retries: 3}}`},
		[]string{"start->t"}))
	_, rec := runWith(t, context.Background(), e, wf, nil)
	if n := count(rec.trace(), "node_retry t retry"); n != 0 {
		t.Fatalf("%d retries for a type without retry support", n)
	}
}

func TestNodeTimeout(t *testing.T) {
	t.Parallel()
	k := newTestKit()
	e := New(Config{NodeTimeout: 20 * time.Millisecond}, k.reg)
	wf := mustCompile(t, e, graphYAML([]string{queryStart, "slow:test-block"}, []string{"start->slow"}))
	info, rec := runWith(t, context.Background(), e, wf, nil)
	slow := rec.finished()["slow"]
	if info.Status != StatusFailed || slow.ErrorType != "TimeoutError" || !strings.Contains(info.Error, "node execution timed out after 20ms") {
		t.Fatalf("status %s error %q type %q", info.Status, info.Error, slow.ErrorType)
	}
}

func TestRunTimeout(t *testing.T) {
	t.Parallel()
	k := newTestKit()
	e := New(Config{Timeout: 20 * time.Millisecond}, k.reg)
	wf := mustCompile(t, e, graphYAML([]string{queryStart, "slow:test-block"}, []string{"start->slow"}))
	info, rec := runWith(t, context.Background(), e, wf, nil)
	if info.Status != StatusFailed || !strings.HasPrefix(info.Error, "Maximum execution time exceeded: ") || !strings.HasSuffix(info.Error, "s > 0.02s") {
		t.Fatalf("status %s error %q", info.Status, info.Error)
	}
	if rec.finished()["slow"].Status != StatusFailed {
		t.Fatalf("slow node %s", rec.finished()["slow"].Status)
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	k := newTestKit()
	e := New(Config{}, k.reg)
	wf := mustCompile(t, e, graphYAML(
		[]string{queryStart, "a:test-block", "b:test-block", "after:test-value"},
		[]string{"start->a", "start->b", "a->after", "b->after"}))
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan *RunInfo, 1)
	var rec *recorder
	go func() {
		var info *RunInfo
		info, rec = runWith(t, ctx, e, wf, nil)
		done <- info
	}()
	waitFor(t, k.started, "")
	waitFor(t, k.started, "")
	cancel(ErrStopped)
	var info *RunInfo
	select {
	case info = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after stop")
	}
	if info.Status != StatusStopped || info.Error != "Stopped by user." {
		t.Fatalf("status %s error %q", info.Status, info.Error)
	}
	fin := rec.finished()
	if fin["a"].Status != StatusStopped || fin["b"].Status != StatusStopped {
		t.Fatalf("running nodes: a=%s b=%s", fin["a"].Status, fin["b"].Status)
	}
	if _, ran := fin["after"]; ran {
		t.Fatal("node ran after stop")
	}
}

func TestMaxSteps(t *testing.T) {
	t.Parallel()
	k := newTestKit()
	e := New(Config{MaxSteps: 3}, k.reg)
	wf := mustCompile(t, e, graphYAML(
		[]string{queryStart, "a:test-value", "b:test-value", "c:test-value", "d:test-value"},
		[]string{"start->a", "a->b", "b->c", "c->d"}))
	info, rec := runWith(t, context.Background(), e, wf, nil)
	if info.Status != StatusFailed || info.Error != "Maximum execution steps exceeded: 4 > 3" || info.TotalSteps != 3 {
		t.Fatalf("status %s error %q", info.Status, info.Error)
	}
	if _, ran := rec.finished()["c"]; ran {
		t.Fatal("fourth node ran")
	}
}

func TestPanicBecomesFailedNode(t *testing.T) {
	t.Parallel()
	k := newTestKit()
	e := New(Config{Logger: discardLogger()}, k.reg)
	wf := mustCompile(t, e, graphYAML([]string{queryStart, "p:test-panic"}, []string{"start->p"}))
	info, rec := runWith(t, context.Background(), e, wf, nil)
	if !k.panicked.Load() {
		t.Fatal("panic node did not run")
	}
	p := rec.finished()["p"]
	if info.Status != StatusFailed || p.Status != StatusFailed || p.Error != "node panicked: boom" || p.ErrorType != "PanicError" {
		t.Fatalf("run %s %q, node %s %q %q", info.Status, info.Error, p.Status, p.Error, p.ErrorType)
	}
}

func TestEventsOrderedAndIndexed(t *testing.T) {
	t.Parallel()
	e := New(Config{}, nil)
	wf := mustCompile(t, e, readFile(t, "../../examples/chain3.yml"))
	info, rec := runWith(t, context.Background(), e, wf, map[string]any{"query": "x"})
	evs := rec.All()
	if evs[0].Type != EventWorkflowStarted || evs[len(evs)-1].Type != EventWorkflowFinished {
		t.Fatalf("first %s last %s", evs[0].Type, evs[len(evs)-1].Type)
	}
	var idx []int64
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
		if ev.Type == EventNodeFinished {
			idx = append(idx, ev.Node.Index)
		}
	}
	for i, n := range idx {
		if n != int64(i+1) {
			t.Fatalf("node indexes %v, want 1..N", idx)
		}
	}
	fin := rec.finished()
	for node, pred := range map[string]string{"start": "", "step1": "start", "step2": "step1", "step3": "step2", "end": "step3"} {
		if fin[node].PredecessorNodeID != pred {
			t.Errorf("%s predecessor %q, want %q", node, fin[node].PredecessorNodeID, pred)
		}
	}
	if got := sharedtest.JSON(t, info.Outputs); got != `{"answer":"x-1-2-3"}` {
		t.Fatalf("outputs %s", got)
	}
	if info.TotalSteps != 5 || info.Elapsed <= 0 {
		t.Fatalf("steps %d elapsed %s", info.TotalSteps, info.Elapsed)
	}
}

func TestWorkflowReusedConcurrently(t *testing.T) {
	t.Parallel()
	e := New(Config{}, nil)
	wf := mustCompile(t, e, readFile(t, "../../examples/diamond.yml"))
	errs := make(chan error, 50)
	for i := range 50 {
		go func() {
			q := strings.Repeat("a", i%7+1)
			in, _ := wf.PrepareInputs(map[string]any{"query": q})
			info := e.Run(context.Background(), wf, Params{RunID: "r", Inputs: in}, nil)
			want := `{"left":"left:` + q + `","right":"right:` + strings.ToUpper(q) + `"}`
			if got := sharedtest.JSON(t, info.Outputs); got != want {
				errs <- errors.New("got " + got + " want " + want)
				return
			}
			errs <- nil
		}()
	}
	for range 50 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
