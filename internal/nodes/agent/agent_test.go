package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/nodes/llm"
	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/run/runtest"
	"github.com/flowrun/flowrun/internal/sharedtest"
	"github.com/flowrun/flowrun/internal/tools"
)

// turn is one scripted model answer: content pieces and tool calls.
type turn struct {
	chunks []string
	calls  [][2]string // name, JSON arguments
}

// fakeModel is an OpenAI-compatible server answering with turns in order
// and recording the request bodies.
type fakeModel struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
	turns  []turn
}

func newModel(t testing.TB, turns ...turn) *fakeModel {
	f := &fakeModel{turns: turns}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		data, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(data, &body)
		f.mu.Lock()
		n := len(f.bodies)
		f.bodies = append(f.bodies, body)
		f.mu.Unlock()
		tr := turn{chunks: []string{"done"}}
		if n < len(f.turns) {
			tr = f.turns[n]
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range tr.chunks {
			b, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"delta": map[string]any{"content": c}}}})
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
		for i, c := range tr.calls {
			b, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"delta": map[string]any{"tool_calls": []any{
				map[string]any{"index": i, "id": fmt.Sprintf("call_%d_%d", n, i), "type": "function", "function": map[string]any{"name": c[0], "arguments": c[1]}}}}}}})
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
		fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":2,\"total_tokens\":12}}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeModel) messages(i int) []any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[i]["messages"].([]any)
}

// fakeTools is a tools.Provider: "weather" answers, "broken" fails,
// "slow" waits for its context, signalling started.
type fakeTools struct {
	started chan struct{}
}

func (p *fakeTools) Tools(context.Context) ([]tools.Tool, error) {
	city := []tools.Param{{Name: "city", Type: tools.TypeString, Required: true, Form: tools.FormLLM, Description: "a city"}}
	return []tools.Tool{
		{Name: "weather", Description: "the weather", Params: city},
		{Name: "broken", Description: "fails", Params: city},
		{Name: "slow", Description: "never ends", Params: city},
	}, nil
}

func (p *fakeTools) Invoke(ctx context.Context, c *tools.Call, emit tools.Emit) error {
	switch c.Tool {
	case "weather":
		return emit(tools.TextMessage("sunny in " + fmt.Sprint(c.Args["city"])))
	case "broken":
		return tools.InvokeErrorf("service down")
	case "slow":
		close(p.started)
		<-ctx.Done()
		return ctx.Err()
	}
	return errors.New("no such tool")
}

// trace renders node, agent_log and chunk events.
func trace(rec *runtest.Recorder) []string {
	var out []string
	for _, e := range rec.All() {
		switch {
		case e.Log != nil:
			out = append(out, fmt.Sprintf("agent_log %s %s", e.Log.Label, e.Log.Status))
		case e.Node != nil && e.Node.NodeType == "agent":
			out = append(out, fmt.Sprintf("%s %s", e.Type, e.Node.Status))
		case e.Chunk != nil:
			out = append(out, fmt.Sprintf("chunk %q", e.Chunk.Text))
		}
	}
	return out
}

func doc(strategy string, maxIter int, toolNames ...string) string {
	var ts []string
	for _, n := range toolNames {
		ts = append(ts, fmt.Sprintf("{enabled: true, type: builtin, provider_name: fake, tool_name: %s, parameters: {city: {auto: 1, value: null}}}", n))
	}
	return fmt.Sprintf(`app: {mode: workflow, name: t}
workflow:
  graph:
    nodes:
    - {id: start, data: {type: start, title: Start, variables: [{variable: q, type: paragraph, required: false}]}}
    - id: ag
      data:
        type: agent
        title: Agent
        agent_strategy_provider_name: langgenius/agent/agent
        agent_strategy_name: %s
        agent_parameters:
          model: {type: constant, value: {provider: langgenius/openai/openai, model: gpt-4o, mode: chat, completion_params: {}}}
          tools: {type: constant, value: [%s]}
          instruction: {type: constant, value: 'Be brief.'}
          query: {type: constant, value: '{{#start.q#}}'}
          maximum_iterations: {type: constant, value: %d}
    - {id: end, data: {type: end, title: End, outputs: [{variable: text, value_selector: [ag, text]}]}}
    edges:
    - {id: e1, source: start, target: ag, sourceHandle: source}
    - {id: e2, source: ag, target: end, sourceHandle: source}
`, strategy, strings.Join(ts, ", "), maxIter)
}

func setup(t testing.TB, m *fakeModel, p tools.Provider) *run.Engine {
	t.Helper()
	models, err := llm.NewModels(llm.Config{Providers: map[string]llm.Provider{"openai": {BaseURL: m.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	reg := tools.NewRegistry()
	if err := reg.Add("fake", p); err != nil {
		t.Fatal(err)
	}
	r := run.NewRegistry()
	Register(r, models, reg)
	return run.New(run.Config{}, r)
}

func runAgent(t testing.TB, ctx context.Context, e *run.Engine, src string) (*run.RunInfo, *runtest.Recorder) {
	t.Helper()
	return runtest.Run(t, ctx, e, runtest.Compile(t, e, src), run.Params{}, map[string]any{"q": "weather in Paris and Rome?"}, nil)
}

func TestFunctionCallingParallelToolsAndFailure(t *testing.T) {
	m := newModel(t,
		turn{calls: [][2]string{{"weather", `{"city":"Paris"}`}, {"broken", `{"city":"Rome"}`}}},
		turn{chunks: []string{"Paris is ", "sunny."}})
	e := setup(t, m, &fakeTools{})
	info, ev := runAgent(t, context.Background(), e, doc(FunctionCalling, 3, "weather", "broken"))
	if info.Status != run.StatusSucceeded {
		t.Fatalf("status %s: %s", info.Status, info.Error)
	}
	sharedtest.EqualLines(t, trace(ev), []string{
		"node_started running",
		"agent_log ROUND 1 start", "agent_log gpt-4o Thought start", "agent_log gpt-4o Thought success",
		"agent_log CALL weather start", "agent_log CALL weather success",
		"agent_log CALL broken start", "agent_log CALL broken success",
		`chunk "\n"`, "agent_log ROUND 1 success",
		"agent_log ROUND 2 start", "agent_log gpt-4o Thought start",
		`chunk "Paris is "`, `chunk "sunny."`,
		"agent_log gpt-4o Thought success", "agent_log ROUND 2 success",
		"node_finished succeeded",
	})
	// The second request carries the assistant's calls and both results,
	// the failure as Dify's observation.
	msgs := m.messages(1)
	if len(msgs) != 5 {
		t.Fatalf("second request has %d messages: %v", len(msgs), msgs)
	}
	tool1, tool2 := msgs[3].(map[string]any), msgs[4].(map[string]any)
	if tool1["content"] != "sunny in Paris" || tool1["tool_call_id"] != "call_0_0" || tool1["role"] != "tool" {
		t.Fatalf("first tool result %v", tool1)
	}
	if tool2["content"] != "tool invoke error: service down" {
		t.Fatalf("failed tool result %v", tool2)
	}
	first := m.messages(0)
	if first[0].(map[string]any)["content"] != "Be brief." || first[1].(map[string]any)["content"] != "weather in Paris and Rome?" {
		t.Fatalf("first request %v", first)
	}
	m.mu.Lock()
	decl := m.bodies[0]["tools"].([]any)
	m.mu.Unlock()
	if len(decl) != 2 || decl[0].(map[string]any)["function"].(map[string]any)["name"] != "weather" {
		t.Fatalf("tools sent %v", decl)
	}
	n := ev.Node(t, "ag")
	if got, _ := n.Outputs.Get("text"); got != "\nParis is sunny." {
		t.Fatalf("text %q", got)
	}
	usage, _ := n.Outputs.Get("usage")
	if u := usage.(map[string]any); u["total_tokens"] != int64(24) || u["prompt_tokens"] != int64(20) {
		t.Fatalf("usage %v", u)
	}
	if n.Tokens != 24 || info.TotalTokens != 24 {
		t.Fatalf("tokens %d, run %d", n.Tokens, info.TotalTokens)
	}
	js, _ := n.Outputs.Get("json")
	if list := js.([]any); len(list) != 7 || fmt.Sprint(list[6]) != "map[data:[]]" {
		t.Fatalf("json %v", list)
	}
}

func TestFunctionCallingIterationLimit(t *testing.T) {
	m := newModel(t, turn{calls: [][2]string{{"weather", `{"city":"Paris"}`}}}, turn{calls: [][2]string{{"weather", `{"city":"Rome"}`}}})
	e := setup(t, m, &fakeTools{})
	info, ev := runAgent(t, context.Background(), e, doc(FunctionCalling, 2, "weather"))
	if info.Status != run.StatusSucceeded {
		t.Fatalf("status %s: %s", info.Status, info.Error)
	}
	if len(m.bodies) != 2 {
		t.Fatalf("%d model calls", len(m.bodies))
	}
	js, _ := ev.Node(t, "ag").Outputs.Get("json")
	found := false
	for _, l := range js.([]any) {
		if d, ok := l.(map[string]any)["data"].(map[string]any); ok {
			if o, ok := d["output"].(map[string]any); ok && strings.HasPrefix(fmt.Sprint(o["tool_response"]), "Maximum iteration limit (2) reached. Cannot call tool 'weather'.") {
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("no iteration-limit response in %v", js)
	}
}

func TestReAct(t *testing.T) {
	m := newModel(t,
		turn{chunks: []string{"Thought: I need the weather.\nAction: {\"action\": \"weather\", ", "\"action_input\": {\"city\": \"Paris\"}}"}},
		turn{chunks: []string{"Thought: I know.\nFinalAnswer: ", "It is sunny."}})
	e := setup(t, m, &fakeTools{})
	info, ev := runAgent(t, context.Background(), e, doc(ReAct, 3, "weather"))
	if info.Status != run.StatusSucceeded {
		t.Fatalf("status %s: %s", info.Status, info.Error)
	}
	sharedtest.EqualLines(t, trace(ev), []string{
		"node_started running",
		"agent_log ROUND 1 start", "agent_log gpt-4o Thought start", "agent_log gpt-4o Thought success",
		"agent_log CALL weather start", "agent_log CALL weather success", "agent_log ROUND 1 success",
		"agent_log ROUND 2 start", "agent_log gpt-4o Thought start",
		`chunk " "`, `chunk "I"`, `chunk "t"`, `chunk " "`, `chunk "i"`, `chunk "s"`, `chunk " "`, `chunk "s"`, `chunk "u"`, `chunk "n"`, `chunk "n"`, `chunk "y"`, `chunk "."`,
		"agent_log gpt-4o Thought success", "agent_log ROUND 2 success",
		"node_finished succeeded",
	})
	m.mu.Lock()
	stop := m.bodies[0]["stop"]
	m.mu.Unlock()
	if fmt.Sprint(stop) != "[Observation]" {
		t.Fatalf("stop %v", stop)
	}
	sys := m.messages(0)[0].(map[string]any)["content"].(string)
	if !strings.Contains(sys, `Valid "action" values: weather`) || !strings.Contains(sys, "Be brief.") {
		t.Fatalf("system prompt %q", sys)
	}
	second := m.messages(1)
	asst := second[2].(map[string]any)["content"].(string)
	want := "Thought: I need the weather.\n\nAction: {\"action_name\": \"weather\", \"action_input\": {\"city\": \"Paris\"}}\n\nObservation: sunny in Paris\n\n"
	if asst != want || second[3].(map[string]any)["content"] != "continue" {
		t.Fatalf("scratchpad %q", asst)
	}
	if got, _ := ev.Node(t, "ag").Outputs.Get("text"); got != " It is sunny." { // the plugin keeps the space after the prefix
		t.Fatalf("text %q", got)
	}
}

func TestStopWhileToolRuns(t *testing.T) {
	m := newModel(t, turn{calls: [][2]string{{"slow", `{"city":"Paris"}`}, {"weather", `{"city":"Rome"}`}}})
	p := &fakeTools{started: make(chan struct{})}
	e := setup(t, m, p)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-p.started:
		case <-time.After(10 * time.Second):
		}
		cancel()
	}()
	info, _ := runAgent(t, ctx, e, doc(FunctionCalling, 3, "slow", "weather"))
	if info.Status == run.StatusSucceeded {
		t.Fatalf("run succeeded after stop")
	}
}

func TestUnknownStrategyFailsAtRunTime(t *testing.T) {
	m := newModel(t)
	e := setup(t, m, &fakeTools{})
	info, ev := runAgent(t, context.Background(), e, doc("tree_of_thought", 3, "weather"))
	if info.Status != run.StatusFailed || ev.Node(t, "ag").Error != "Failed to get agent strategy: Agent strategy tree_of_thought not found" {
		t.Fatalf("status %s error %q", info.Status, info.Error)
	}
}

func TestUnconfiguredToolFails(t *testing.T) {
	m := newModel(t)
	e := setup(t, m, &fakeTools{})
	src := strings.Replace(doc(FunctionCalling, 3, "weather"), "provider_name: fake", "provider_name: langgenius/tavily/tavily", 1)
	info, _ := runAgent(t, context.Background(), e, src)
	if info.Status != run.StatusFailed || !strings.Contains(info.Error, "plugin provider langgenius/tavily/tavily not found") {
		t.Fatalf("status %s error %q", info.Status, info.Error)
	}
}

// BenchmarkAgentIteration measures one function_calling round with one
// tool call against a loopback model that answers at once: the node's
// overhead beyond the model's time, plus the loopback HTTP round trips.
func BenchmarkAgentIteration(b *testing.B) {
	m := newModel(b)
	m.turns = nil
	e := setup(b, m, &fakeTools{})
	wf, err := e.Compile([]byte(doc(FunctionCalling, 1, "weather")))
	if err != nil {
		b.Fatal(err)
	}
	in, _ := wf.PrepareInputs(map[string]any{"q": "hi"})
	b.ResetTimer()
	for b.Loop() {
		info := e.Run(context.Background(), wf, run.Params{RunID: "r", TaskID: "t", Inputs: in}, nil)
		if info.Status != run.StatusSucceeded {
			b.Fatal(info.Error)
		}
	}
}

// BenchmarkModelCall is the model's own time in BenchmarkAgentIteration:
// one streamed call to the same loopback server, without the node.
func BenchmarkModelCall(b *testing.B) {
	m := newModel(b)
	models, err := llm.NewModels(llm.Config{Providers: map[string]llm.Provider{"openai": {BaseURL: m.URL}}})
	if err != nil {
		b.Fatal(err)
	}
	model := models.Resolve(nil, "langgenius/openai/openai", "gpt-4o", nil)
	for b.Loop() {
		if _, err := model.Chat(context.Background(), &llm.Call{Messages: nil}); err != nil {
			b.Fatal(err)
		}
	}
}
