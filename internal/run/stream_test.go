package run

import (
	"context"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/sharedtest"
)

// streamKit registers test-stream, a node that streams its "text" output in
// pieces through Exec.Stream before returning it whole. With gate set, it
// waits for a value on gates[gate] before each piece after the first, so
// tests can see pieces go out while the node is still running.
func streamKit(gates map[string]chan struct{}) *Registry {
	reg := newTestKit().reg
	reg.Register(NodeType{Name: "test-stream", Build: func(b *Build) (Executor, error) {
		var c struct {
			Pieces []string `json:"pieces"`
			Gate   string   `json:"gate"`
		}
		if err := b.Decode(&c); err != nil {
			return nil, err
		}
		return ExecutorFunc(func(ctx context.Context, x *Exec) (*Result, error) {
			for i, p := range c.Pieces {
				if i > 0 && c.Gate != "" {
					select {
					case <-gates[c.Gate]:
					case <-ctx.Done():
						return nil, context.Cause(ctx)
					}
				}
				x.Stream("text", p)
			}
			return &Result{Outputs: Vars{{"text", strings.Join(c.Pieces, "")}}}, nil
		}), nil
	}})
	return reg
}

// mockLLMRegistry registers an "llm" node type that answers "mocked llm
// response" streamed word by word, as the mock LLM of Dify's graph engine
// tests does (test_mock_nodes.py), without its final empty chunk.
func mockLLMRegistry() *Registry {
	reg := NewRegistry()
	reg.Register(NodeType{Name: "llm", Retry: true, Build: func(*Build) (Executor, error) {
		return ExecutorFunc(func(_ context.Context, x *Exec) (*Result, error) {
			const text = "mocked llm response"
			for i, w := range strings.Split(text, " ") {
				if i > 0 {
					w = " " + w
				}
				x.Stream("text", w)
			}
			return &Result{Outputs: Vars{{"text", text}}}, nil
		}), nil
	}})
	return reg
}

// chunkTrace renders node completions and chunks (with their selectors).
func chunkTrace(rec *recorder) []string {
	var out []string
	for _, e := range rec.All() {
		switch {
		case e.Chunk != nil:
			out = append(out, "chunk "+e.Chunk.Selector.String()+" "+e.Chunk.Text)
		case e.Node != nil && e.Type != EventNodeStarted && e.Type != EventIterationStarted && e.Type != EventLoopStarted:
			out = append(out, string(e.Type)+" "+e.Node.NodeID)
		}
	}
	return out
}

// eventTrace renders every event as "type node" or "chunk text".
func eventTrace(rec *recorder) []string {
	var out []string
	for _, e := range rec.All() {
		switch {
		case e.Chunk != nil:
			out = append(out, "chunk "+e.Chunk.Text)
		case e.Node != nil:
			out = append(out, string(e.Type)+" "+e.Node.NodeID)
		default:
			out = append(out, string(e.Type))
		}
	}
	return out
}

func streamRun(t *testing.T, reg *Registry, nodes, edges []string, inputs map[string]any) (*RunInfo, *recorder) {
	t.Helper()
	e := New(Config{}, reg)
	wf := mustCompile(t, e, graphYAML(nodes, edges))
	info, rec := runWith(t, t.Context(), e, wf, inputs)
	if info.Status != StatusSucceeded && info.Status != StatusPartialSucceeded {
		t.Fatalf("status %s: %s", info.Status, info.Error)
	}
	return info, rec
}

func TestStreamedOutputIsNotSentTwice(t *testing.T) {
	t.Parallel()
	info, rec := streamRun(t, streamKit(nil),
		[]string{queryStart, `llm:test-stream:{pieces: [Hel, lo]}`, `end:end:{outputs: [{variable: a, value_selector: [llm, text]}]}`},
		[]string{"start->llm", "llm->end"}, nil)
	sharedtest.EqualLines(t, chunkTrace(rec), []string{
		"node_finished start",
		"chunk llm.text Hel",
		"chunk llm.text lo",
		"node_finished llm",
		"node_finished end",
	})
	if got := sharedtest.JSON(t, info.Outputs); got != `{"a":"Hello"}` {
		t.Fatalf("outputs %s", got)
	}
}

// A value that is there when its session starts goes out before the
// node_finished of the node whose end started it; a streamed variable
// after it is relayed piece by piece once the segments before it are out.
func TestStreamAfterEarlierSegments(t *testing.T) {
	t.Parallel()
	_, rec := streamRun(t, streamKit(nil),
		[]string{queryStart, `llm:test-stream:{pieces: [a, b]}`, `other:test-stream:{pieces: [x]}`,
			`end:end:{outputs: [{variable: q, value_selector: [start, q]}, {variable: t, value_selector: [llm, text]}]}`},
		[]string{"start->llm", "llm->other", "other->end"}, map[string]any{"q": "Q"})
	sharedtest.EqualLines(t, chunkTrace(rec), []string{
		"chunk start.q Q",
		"chunk end.answer \n",
		"node_finished start",
		"chunk llm.text a",
		"chunk llm.text b",
		"node_finished llm",
		"node_finished other", // read by no response node: never shown
		"node_finished end",
	})
}

// Pieces reach the listener while their node runs, also when the variable
// is not the template's first segment.
func TestStreamIsLive(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	chunks := make(chan string, 8)
	e := New(Config{}, streamKit(map[string]chan struct{}{"g": gate}))
	wf := mustCompile(t, e, graphYAML(
		[]string{queryStart, `llm:test-stream:{pieces: [one, two], gate: g}`, `ans:answer:{answer: "Q: {{#llm.text#}}"}`},
		[]string{"start->llm", "llm->ans"}))
	in, err := wf.PrepareInputs(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *RunInfo, 1)
	go func() {
		done <- e.Run(t.Context(), wf, Params{RunID: "r", Inputs: in}, ListenerFunc(func(ev *Event) {
			if ev.Chunk != nil {
				chunks <- ev.Chunk.Text
			}
		}))
	}()
	waitFor(t, chunks, "Q: ")
	waitFor(t, chunks, "one") // the node is blocked before its second piece
	gate <- struct{}{}
	waitFor(t, chunks, "two")
	if info := <-done; info.Status != StatusSucceeded {
		t.Fatalf("status %s: %s", info.Status, info.Error)
	}
}

// Dify keeps one read position per streamed variable: a template that
// reads a streamed variable twice shows its text once.
func TestStreamedVariableReadTwiceGoesOutOnce(t *testing.T) {
	t.Parallel()
	_, rec := streamRun(t, streamKit(nil),
		[]string{queryStart, `llm:test-stream:{pieces: [a, b]}`, `ans:answer:{answer: "{{#llm.text#}} and {{#llm.text#}}"}`},
		[]string{"start->llm", "llm->ans"}, nil)
	sharedtest.EqualLines(t, chunkTrace(rec), []string{
		"node_finished start",
		"chunk llm.text a",
		"chunk llm.text b",
		"chunk ans.answer  and ",
		"node_finished llm",
		"node_finished ans",
	})
	if got := rec.finished()["ans"].Outputs[0].Value; got != "ab and ab" {
		t.Fatalf("answer output %q", got)
	}
}

// Two Answer nodes never interleave: the second session waits for the
// first, buffering what its LLM streams meanwhile.
func TestAnswersDoNotInterleave(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	kit := streamKit(map[string]chan struct{}{"g": gate})
	e := New(Config{}, kit)
	wf := mustCompile(t, e, graphYAML(
		[]string{queryStart,
			`slow:test-stream:{pieces: [s1, s2], gate: g}`, `fast:test-stream:{pieces: [f1, f2]}`,
			`a1:answer:{answer: "[{{#slow.text#}}]"}`, `a2:answer:{answer: "({{#fast.text#}})"}`},
		[]string{"start->slow", "start->fast", "slow->a1", "fast->a2"}))
	in, _ := wf.PrepareInputs(nil)
	rec := &recorder{}
	fastDone := make(chan struct{})
	l := Listeners(rec, ListenerFunc(func(ev *Event) {
		if ev.Type == EventNodeFinished && ev.Node.NodeID == "fast" {
			close(fastDone)
		}
	}))
	done := make(chan *RunInfo, 1)
	go func() { done <- e.Run(t.Context(), wf, Params{RunID: "r", Inputs: in}, l) }()
	<-fastDone // fast streamed and finished while slow waits
	gate <- struct{}{}
	if info := <-done; info.Status != StatusSucceeded {
		t.Fatalf("status %s: %s", info.Status, info.Error)
	}
	var text []string
	for _, l := range chunkTrace(rec) {
		if s, ok := strings.CutPrefix(l, "chunk "); ok {
			text = append(text, s)
		}
	}
	sharedtest.EqualLines(t, text, []string{
		"a1.answer [", "slow.text s1", "slow.text s2", "a1.answer ]",
		"a2.answer (", "fast.text f1", "fast.text f2", "a2.answer )",
	})
}

// With no branch, container or response node before it, a session starts
// as the root's first edge is taken. A variable of a skipped node is left
// out; sys, env and conversation values are attributed to the response
// node, other values to their node.
func TestAnswerWithoutBlockers(t *testing.T) {
	t.Parallel()
	_, rec := streamRun(t, newTestKit().reg,
		[]string{queryStart, `if:test-value:{handle: 'yes'}`,
			`a:test-value:{output: A}`, `b:test-value:{output: B}`,
			`ans:answer:{answer: "go {{#a.value#}}|{{#b.value#}}|{{#sys.user_id#}}"}`},
		[]string{"start->if", "if->a:yes", "if->b:no", "a->ans", "b->ans"}, nil)
	sharedtest.EqualLines(t, chunkTrace(rec), []string{
		"chunk ans.answer go ",
		"node_finished start",
		"node_finished if", // test-value is no branch type: it does not block
		"chunk a.value A",
		"chunk ans.answer |",
		"chunk ans.answer |",
		"chunk sys.user_id user-1",
		"node_finished a",
		"node_finished ans",
	})
	for _, e := range rec.All() {
		if c := e.Chunk; c != nil {
			if want := map[string]string{"a": "a", "sys": "ans", "ans": "ans"}[c.Selector[0]]; c.NodeID != want {
				t.Errorf("chunk %s attributed to %s, want %s", c.Selector, c.NodeID, want)
			}
		}
	}
}

func TestAnswerAfterIfElse(t *testing.T) {
	t.Parallel()
	ifElse := `if:if-else:{cases: [{case_id: "true", logical_operator: and, conditions: [{variable_selector: [start, q], comparison_operator: is, value: "x"}]}]}`
	_, rec := streamRun(t, newTestKit().reg,
		[]string{queryStart, ifElse, `a:test-value:{output: A}`, `b:test-value:{output: B}`,
			`ans:answer:{answer: "go {{#a.value#}}|{{#b.value#}}."}`},
		[]string{"start->if", "if->a:true", "if->b:false", "a->ans", "b->ans"}, map[string]any{"q": "y"})
	sharedtest.EqualLines(t, chunkTrace(rec), []string{
		"node_finished start",
		// The session starts with the edge if->b, after the if-else
		// skipped a.
		"chunk ans.answer go ",
		"chunk ans.answer |",
		"node_finished if",
		"chunk b.value B",
		"chunk ans.answer .",
		"node_finished b",
		"node_finished ans",
	})
}

// A response node waits for the response nodes before it: its session
// starts when their edge toward it is taken. Sessions that start together
// run one after the other, in id order.
func TestChainedAnswers(t *testing.T) {
	t.Parallel()
	nodes := []string{queryStart, `llm:test-stream:{pieces: [x, y]}`,
		`a1:answer:{answer: "one"}`, `a2:answer:{answer: "two {{#llm.text#}}"}`}
	_, rec := streamRun(t, streamKit(nil), nodes, []string{"start->a1", "a1->llm", "llm->a2"}, nil)
	sharedtest.EqualLines(t, chunkTrace(rec), []string{
		"chunk a1.answer one",
		"node_finished start",
		"chunk a2.answer two ",
		"node_finished a1",
		"chunk llm.text x",
		"chunk llm.text y",
		"node_finished llm",
		"node_finished a2",
	})
	// A second path to a2 through no response node starts both sessions
	// at the first edge: a2's text follows a1's at once.
	_, rec = streamRun(t, streamKit(nil), nodes, []string{"start->a1", "a1->llm", "llm->a2", "start->llm"}, nil)
	sharedtest.EqualLines(t, chunkTrace(rec), []string{
		"chunk a1.answer one",
		"chunk a2.answer two ",
		"node_finished start",
		"node_finished a1",
		"chunk llm.text x",
		"chunk llm.text y",
		"node_finished llm",
		"node_finished a2",
	})
}

// End's template is its outputs joined by "\n": an output without a
// selector leaves its separator, a trailing one is dropped.
func TestEndTemplate(t *testing.T) {
	t.Parallel()
	_, rec := streamRun(t, newTestKit().reg,
		[]string{queryStart, `v:test-value:{output: V}`,
			`end:end:{outputs: [{variable: a, value_selector: [v, value]}, {variable: b, value_selector: []}, {variable: c, value_selector: [start, q]}, {variable: d}]}`},
		[]string{"start->v", "v->end"}, map[string]any{"q": "Q"})
	sharedtest.EqualLines(t, chunkTrace(rec), []string{
		"node_finished start",
		"chunk v.value V",
		"chunk end.answer \n",
		"chunk end.answer \n",
		"chunk start.q Q",
		"node_finished v",
		"node_finished end",
	})
}

// TestDifyStreamOrder checks the order Dify's own graph engine tests
// expect for the chatflow fixtures they run (api/tests/unit_tests/core/
// workflow/graph_engine): Dify's NodeRunStartedEvent is node_started (or
// loop_started with Dify's NodeRunLoopStartedEvent), NodeRunSucceededEvent
// node_finished (for a loop: loop_completed, which Dify reports as
// NodeRunLoopSucceededEvent before the chunks its success releases, and
// whose own NodeRunSucceededEvent no client sees), NodeRunStreamChunkEvent
// a chunk.
func TestDifyStreamOrder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file, query string
		reg               func() *Registry
		want              []string
	}{
		{"test_loop_contains_answer", "streaming/loop_contains_answer.yml", "1", nil, []string{
			"workflow_started",
			"node_started 1755203854938", "node_finished 1755203854938",
			"loop_started 1755203872773",
			"node_started 1755203898151", "chunk 1", "chunk \n", "node_finished 1755203898151",
			"node_started 1755204039754", "node_finished 1755204039754",
			"loop_next",
			"node_started 1755203898151", "chunk 2", "chunk \n", "node_finished 1755203898151",
			"node_started 1755204039754", "node_finished 1755204039754",
			"loop_completed 1755203872773",
			"chunk 1", "chunk  + ", "chunk 2",
			"node_started 1755203915300", "node_finished 1755203915300",
			"workflow_finished",
		}},
		{"test_streaming_conversation_variables", "streaming/test_streaming_conversation_variables.yml", "Hello, this is my test query", nil, []string{
			"workflow_started",
			"node_started 1755316734941", "node_finished 1755316734941",
			"node_started 1755316749068", "chunk Hello, this is my test query", "node_finished 1755316749068",
			"node_started answer", "node_finished answer",
			"workflow_finished",
		}},
		// Dify's mock LLM adds a final empty chunk, which flowrun's LLM
		// node does not send.
		{"test_basic_chatflow", "streaming/basic_chatflow.yml", "hi", mockLLMRegistry, []string{
			"workflow_started",
			"node_started 1755189262236", "node_finished 1755189262236",
			"node_started llm", "chunk mocked", "chunk  llm", "chunk  response", "node_finished llm",
			"node_started answer", "node_finished answer",
			"workflow_finished",
		}},
		// test_answer_in_container_streaming.py: the streamed text is
		// "apple\nbanana\ndone", the first two lines from inside the
		// iteration.
		{"iteration_contains_answer", "dsl/dify-fixtures/iteration_contains_answer.yml", "hi", nil, []string{
			"workflow_started",
			"node_started start_node", "node_finished start_node",
			"iteration_started iteration_node",
			"iteration_next", "chunk apple", "chunk \n",
			"node_started answer_in_iteration", "node_finished answer_in_iteration",
			"iteration_next", "chunk banana", "chunk \n",
			"node_started answer_in_iteration", "node_finished answer_in_iteration",
			"iteration_completed iteration_node",
			"chunk done",
			"node_started answer_final", "node_finished answer_final",
			"workflow_finished",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := NewRegistry()
			if tc.reg != nil {
				reg = tc.reg()
			}
			e := New(Config{}, reg)
			wf := mustCompile(t, e, readFile(t, "testdata/"+tc.file))
			info, rec := runQuery(t, t.Context(), e, wf, nil, tc.query)
			if info.Status != StatusSucceeded {
				t.Fatalf("status %s: %s", info.Status, info.Error)
			}
			sharedtest.EqualLines(t, eventTrace(rec), tc.want)
		})
	}
}

// assignerGroups has two answers each waiting for the assigner that writes
// the conversation variable it reads (v2 and v1 assigners), and one that
// waits for nothing.
const assignerGroups = `app: {mode: advanced-chat, name: t}
workflow:
  conversation_variables:
  - {id: c1, name: x, value_type: string, value: "", selector: [conversation, x]}
  - {id: c2, name: "y", value_type: string, value: "", selector: [conversation, "y"]}
  graph:
    nodes:
    - {id: start, data: {type: start, title: Start, variables: []}}
    - id: asg1
      data:
        type: assigner
        title: asg1
        version: '2'
        items:
        - {variable_selector: [conversation, x], input_type: variable, operation: over-write, value: [sys, query]}
    - id: asg2
      data: {type: assigner, title: asg2, assigned_variable_selector: [conversation, "y"], write_mode: over-write, input_variable_selector: [sys, query]}
    - {id: a0, data: {type: answer, title: a0, answer: plain}}
    - {id: aX, data: {type: answer, title: aX, answer: "{{#conversation.x#}}"}}
    - {id: aY, data: {type: answer, title: aY, answer: "{{#conversation.y#}}"}}
    edges:
    - {id: e1, source: start, target: asg1, sourceHandle: source}
    - {id: e2, source: start, target: a0, sourceHandle: source}
    - {id: e3, source: asg1, target: asg2, sourceHandle: source}
    - {id: e4, source: asg2, target: aX, sourceHandle: source}
    - {id: e5, source: asg2, target: aY, sourceHandle: source}
`

// An assigner makes only the response nodes reading what it writes wait
// for it.
func TestAssignerBlocksItsReaders(t *testing.T) {
	t.Parallel()
	e := New(Config{MaxParallel: 1}, nil)
	wf := mustCompile(t, e, assignerGroups)
	info, rec := runQuery(t, t.Context(), e, wf, nil, "Q")
	if info.Status != StatusSucceeded {
		t.Fatalf("status %s: %s", info.Status, info.Error)
	}
	sharedtest.EqualLines(t, chunkTrace(rec), []string{
		"chunk a0.answer plain",
		"node_finished start",
		"chunk conversation.x Q", // asg2 does not write x: aX waits for asg1 only
		"node_finished asg1",
		"node_finished a0",
		"chunk conversation.y Q",
		"node_finished asg2",
		"node_finished aX",
		"node_finished aY",
	})
	if p := wf.Graph.resp; p.groups != 3 || !p.lazy {
		t.Fatalf("%d groups, lazy %v; want 3 groups, lazy", p.groups, p.lazy)
	}
}

// As in Dify, a node's success moves the active session on, but an
// exception handled by default-value does not: its value goes out at the
// next trigger, here the Answer node's own success.
func TestExceptionValueWaitsForNextTrigger(t *testing.T) {
	t.Parallel()
	_, rec := streamRun(t, newTestKit().reg,
		[]string{queryStart, `bad:test-fail:{fail: nope, error_strategy: default-value, default_value: [{key: value, type: string, value: fallback}]}`,
			`ans:answer:{answer: "{{#bad.value#}}"}`},
		[]string{"start->bad", "bad->ans"}, nil)
	sharedtest.EqualLines(t, chunkTrace(rec), []string{
		"node_finished start",
		"node_finished bad",
		"chunk bad.value fallback",
		"node_finished ans",
	})
}

// As in Dify, a variable that never gets a value holds its session, and
// the sessions queued behind it, for the rest of the run.
func TestMissingValueHoldsTheSession(t *testing.T) {
	t.Parallel()
	_, rec := streamRun(t, newTestKit().reg,
		[]string{queryStart, `a1:answer:{answer: "x {{#start.nope#}} y"}`, `a2:answer:{answer: "z"}`},
		[]string{"start->a1", "a1->a2"}, nil)
	sharedtest.EqualLines(t, chunkTrace(rec), []string{
		"chunk a1.answer x ",
		"node_finished start",
		"node_finished a1",
		"node_finished a2",
	})
}

// A node with error_strategy fail-branch is a branch (Dify promotes it):
// the Answer after it starts when it took its edge.
func TestFailBranchNodeBlocks(t *testing.T) {
	t.Parallel()
	_, rec := streamRun(t, newTestKit().reg,
		[]string{queryStart, `x:test-fail:{fail: nope, error_strategy: fail-branch}`,
			`ok:test-value:{output: O}`, `f:test-value:{output: F}`, `ans:answer:{answer: "A"}`},
		[]string{"start->x", "x->ok", "x->f:fail-branch", "ok->ans", "f->ans"}, nil)
	sharedtest.EqualLines(t, chunkTrace(rec), []string{
		"node_finished start",
		"chunk ans.answer A",
		"node_finished x",
		"node_finished f",
		"node_finished ans",
	})
}

// An End output without a name or selector adds no text, and the
// separator before it is dropped as the trailing one (Dify's
// Template.from_end_outputs).
func TestEndOutputWithoutSelectorStreamsNothing(t *testing.T) {
	t.Parallel()
	e := New(Config{Clock: fixedClock(), NewID: seqIDs()}, nil)
	wf := mustCompile(t, e, graphYAML(
		[]string{"start:start:{variables: [{variable: q, type: text-input, required: true}]}", "end:end:{outputs: [{variable: q, value_selector: [start, q]}, {variable: '', value_selector: []}]}"},
		[]string{"start->end"}))
	_, rec := runWith(t, context.Background(), e, wf, map[string]any{"q": "hi"})
	var chunks []string
	for _, ev := range rec.All() {
		if ev.Type == EventTextChunk {
			chunks = append(chunks, ev.Chunk.Text)
		}
	}
	if len(chunks) != 1 || chunks[0] != "hi" {
		t.Fatalf("chunks %q, want just \"hi\"", chunks)
	}
}
