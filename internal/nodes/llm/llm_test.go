package llm

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/run/runtest"
	"github.com/flowrun/flowrun/internal/sharedtest"
)

func llmYAML(id, data string) string {
	return `{id: ` + id + `, data: {type: llm, title: ` + id + `, ` + data + `}}`
}

const chatModel = `model: {provider: langgenius/openai/openai, name: gpt-4o, mode: chat, completion_params: {temperature: 0.7, top_p: 1, max_tokens: 512, presence_penalty: 0, frequency_penalty: 0.5, stop: ["END"], response_format: json_object, enable_thinking: true}}`

func messages(ms []openai.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Role + ": " + m.Content
	}
	return out
}

func TestChatPromptStreamsAndReportsUsage(t *testing.T) {
	t.Parallel()
	fake := newFake(t, say("Hel", "lo ", "world"))
	cfg := fake.config()
	cfg.Providers = map[string]Provider{"openai": {BaseURL: fake.URL + "/v1", APIKey: "sk-test", Models: map[string]string{"gpt-4o": "gpt-4o-mini"}}}
	e := engine(t, cfg)
	src := sharedtest.Graph([]string{startNode,
		llmYAML("llm", chatModel+`, prompt_template: [{role: system, text: "Be brief."}, {role: user, text: "Q: {{#start.q#}} n={{#start.n#}}"}, {role: assistant, text: ""}], context: {enabled: false}`),
		endNode("llm, text")}, "start->llm", "llm->end")
	info, ev := runDoc(t, e, src, map[string]any{"q": "hi", "n": 3})
	wantStatus(t, info, run.StatusSucceeded)

	reqs := fake.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	sharedtest.EqualLines(t, messages(r.Req.Messages), []string{"system: Be brief.", "user: Q: hi n=3"})
	if r.Req.Model != "gpt-4o-mini" || !r.Req.Stream {
		t.Fatalf("model %q stream %v", r.Req.Model, r.Req.Stream)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer sk-test" {
		t.Fatalf("authorization %q", got)
	}
	body := r.Body
	for k, want := range map[string]any{
		"temperature": 0.7, "top_p": 1.0, "max_tokens": 512.0, "presence_penalty": 0.0, "frequency_penalty": 0.5,
		"stop": []any{"END"}, "response_format": map[string]any{"type": "json_object"},
		"stream_options": map[string]any{"include_usage": true}, "user": "user-1",
	} {
		if !reflect.DeepEqual(body[k], want) {
			t.Errorf("body[%s] = %#v, want %#v", k, body[k], want)
		}
	}
	if _, ok := body["enable_thinking"]; ok {
		t.Error("unknown completion param was sent")
	}

	// The tokens stream as text_chunk events, in order, before the node
	// finishes; the End node does not send the text again.
	sharedtest.EqualLines(t, trace(ev), []string{
		"workflow_started running",
		"node_started start running",
		"node_finished start succeeded",
		"node_started llm running",
		`chunk llm.text "Hel"`,
		`chunk llm.text "lo "`,
		`chunk llm.text "world"`,
		"node_finished llm succeeded",
		"node_started end running",
		"node_finished end succeeded",
		"workflow_finished succeeded",
	})
	rec := ev.Node(t, "llm")
	if got := get(t, rec.Outputs, "text"); got != "Hello world" {
		t.Fatalf("text %q", got)
	}
	if got := get(t, rec.Outputs, "finish_reason"); got != "stop" {
		t.Fatalf("finish_reason %v", got)
	}
	if got := get(t, rec.Outputs, "reasoning_content"); got != "" {
		t.Fatalf("reasoning_content %q", got)
	}
	usage := get(t, rec.Outputs, "usage").(map[string]any)
	if usage["prompt_tokens"] != int64(7) || usage["completion_tokens"] != int64(3) || usage["total_tokens"] != int64(10) || usage["currency"] != "USD" {
		t.Fatalf("usage %v", usage)
	}
	if rec.Tokens != 10 || info.TotalTokens != 10 || rec.Metadata["total_tokens"] != int64(10) {
		t.Fatalf("tokens: node %d run %d metadata %v", rec.Tokens, info.TotalTokens, rec.Metadata)
	}
	names := []string{}
	for _, v := range rec.Outputs {
		names = append(names, v.Name)
	}
	sharedtest.EqualLines(t, names, []string{"text", "reasoning_content", "usage", "finish_reason"})
	if got := get(t, rec.ProcessData, "prompts"); len(got.([]any)) != 2 {
		t.Fatalf("prompts %v", got)
	}
	if info.Outputs[0].Value != "Hello world" {
		t.Fatalf("run outputs %v", info.Outputs)
	}
}

func TestChunksAreLive(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	fake := newFake(t, func(int, *received) reply { return reply{Chunks: []string{"first", " second"}, Gate: gate} })
	e := engine(t, fake.config())
	wf := runtest.Compile(t, e, sharedtest.Graph([]string{startNode, llmYAML("llm", chatModel+`, prompt_template: [{role: user, text: go}]`), endNode("llm, text")}, "start->llm", "llm->end"))
	chunks := make(chan string, 4)
	ev := &runtest.Recorder{Chunks: chunks}
	done := make(chan *run.RunInfo, 1)
	go func() {
		info, _ := runtest.Run(t, context.Background(), e, wf, run.Params{}, nil, ev)
		done <- info
	}()
	// The first piece reaches the listener while the server still holds
	// the second one back.
	if got := waitChunk(t, chunks); got != "first" {
		t.Fatalf("first chunk %q", got)
	}
	close(gate)
	wantStatus(t, <-done, run.StatusSucceeded)
	if ev.Text() != "first second" {
		t.Fatalf("chunks %q", ev.Text())
	}
}

func TestCompletionTemplate(t *testing.T) {
	t.Parallel()
	fake := newFake(t, say("done"))
	e := engine(t, fake.config())
	src := sharedtest.Graph([]string{startNode,
		llmYAML("llm", `model: {provider: openai, name: gpt-3.5-turbo-instruct, mode: completion}, prompt_template: {text: "Say {{#start.q#}}", edition_type: basic}`),
		endNode("llm, text")}, "start->llm", "llm->end")
	info, _ := runDoc(t, e, src, map[string]any{"q": "hi"})
	wantStatus(t, info, run.StatusSucceeded)
	// Dify puts the (empty) histories and a newline before the prompt.
	sharedtest.EqualLines(t, messages(fake.requests()[0].Req.Messages), []string{"user: \nSay hi"})
}

func TestJinja2Prompt(t *testing.T) {
	t.Parallel()
	fake := newFake(t, say("ok"))
	e := engine(t, fake.config())
	src := sharedtest.Graph([]string{startNode,
		llmYAML("llm", chatModel+`, prompt_template: [
			{role: system, edition_type: jinja2, text: "stale {{#gone.x#}}", jinja2_text: "{% for w in words %}[{{ w }}]{% endfor %} n={{ n }}"},
			{role: user, edition_type: jinja2, jinja2_text: ""},
			{role: user, text: "basic {{#start.q#}}"}],
			prompt_config: {jinja2_variables: [{variable: words, value_selector: [start, q]}, {variable: n, value_selector: [start, n]}]}`),
		endNode("llm, text")}, "start->llm", "llm->end")
	info, _ := runDoc(t, e, src, map[string]any{"q": "ab", "n": 2})
	wantStatus(t, info, run.StatusSucceeded)
	sharedtest.EqualLines(t, messages(fake.requests()[0].Req.Messages), []string{"system: [a][b] n=2", "user: basic ab"})
}

func TestContext(t *testing.T) {
	t.Parallel()
	fake := newFake(t, say("ok"))
	e := engine(t, fake.config())
	src := sharedtest.Graph([]string{startNode,
		llmYAML("llm", chatModel+`, context: {enabled: true, variable_selector: [start, q]}, prompt_template: [{role: system, text: "Use {{#context#}} only."}, {role: user, text: "{{#start.n#}}"}]`),
		endNode("llm, text")}, "start->llm", "llm->end")
	info, ev := runDoc(t, e, src, map[string]any{"q": "the facts", "n": 1})
	wantStatus(t, info, run.StatusSucceeded)
	// Dify replaces "{#context#}", leaving the editor's outer braces.
	sharedtest.EqualLines(t, messages(fake.requests()[0].Req.Messages), []string{"system: Use {the facts} only.", "user: 1"})
	if got := get(t, ev.Node(t, "llm").Inputs, "#context#"); got != "the facts" {
		t.Fatalf("inputs %v", got)
	}
}

func TestContextFromRetrievalResults(t *testing.T) {
	t.Parallel()
	got, err := contextTextOf([]any{
		map[string]any{"content": "alpha", "metadata": map[string]any{"_source": "knowledge"}},
		"plain",
		map[string]any{"content": "beta", "summary": "B"},
	})
	if err != nil || got != "alpha\nplain\nB\nbeta" {
		t.Fatalf("%q, %v", got, err)
	}
	_, err = contextTextOf([]any{map[string]any{"title": "no content"}})
	var ne *run.NodeError
	if !errors.As(err, &ne) || ne.Type != "InvalidContextStructureError" {
		t.Fatalf("err %v", err)
	}
	if got, _ := contextTextOf(map[string]any{"content": "x"}); got != "" {
		t.Fatalf("an object is no context: %q", got)
	}
}

func contextTextOf(v any) (string, error) {
	p := run.NewPool(nil)
	p.Set("kb", run.Vars{{Name: "result", Value: v}})
	text, _, err := contextText(p, run.Selector{"kb", "result"})
	return text, err
}

// TestContextRetrieverResources: each knowledge result in the context
// gives a retriever resource (Dify's RetrievalSourceMetadata); other
// items give none.
func TestContextRetrieverResources(t *testing.T) {
	t.Parallel()
	p := run.NewPool(nil)
	p.Set("kb", run.Vars{{Name: "result", Value: []any{
		"plain",
		map[string]any{"content": "c1", "summary": "s1", "title": "t", "files": nil, "metadata": map[string]any{
			"_source": "knowledge", "dataset_id": "d", "dataset_name": "D", "document_id": "doc", "document_name": "n.md",
			"data_source_type": "upload_file", "segment_id": "seg", "retriever_from": "workflow", "score": 0.5,
			"segment_hit_count": int64(3), "segment_word_count": int64(9), "segment_position": int64(2),
			"segment_index_node_hash": "h", "doc_metadata": map[string]any{"a": "b"}, "position": int64(1)}},
		map[string]any{"content": "c2", "metadata": map[string]any{"_source": "web"}},
	}}})
	text, res, err := contextText(p, run.Selector{"kb", "result"})
	if err != nil || text != "plain\ns1\nc1\nc2" {
		t.Fatalf("%q %v", text, err)
	}
	got, _ := json.Marshal(res)
	want := `[{"content":"c1","data_source_type":"upload_file","dataset_id":"d","dataset_name":"D","doc_metadata":{"a":"b"},` +
		`"document_id":"doc","document_name":"n.md","files":null,"hit_count":3,"index_node_hash":"h","page":null,"position":1,` +
		`"retriever_from":"workflow","score":0.5,"segment_id":"seg","segment_position":2,"summary":"s1","title":null,"word_count":9}]`
	if string(got) != want {
		t.Fatalf("resources =\n%s\nwant\n%s", got, want)
	}
}

func TestNoPromptFails(t *testing.T) {
	t.Parallel()
	fake := newFake(t, say("never"))
	e := engine(t, fake.config())
	src := sharedtest.Graph([]string{startNode, llmYAML("llm", chatModel+`, prompt_template: [{role: user, text: "{{#start.q#}}"}]`), endNode("llm, text")}, "start->llm", "llm->end")
	info, ev := runDoc(t, e, src, map[string]any{"q": ""})
	wantStatus(t, info, run.StatusFailed)
	rec := ev.Node(t, "llm")
	if rec.ErrorType != "NoPromptFoundError" || !strings.HasPrefix(rec.Error, "No prompt found in the LLM configuration.") {
		t.Fatalf("%s: %s", rec.ErrorType, rec.Error)
	}
	if len(fake.requests()) != 0 {
		t.Fatal("the model was called")
	}
}

func TestStructuredOutputPromptMode(t *testing.T) {
	t.Parallel()
	fake := newFake(t, say("```json\n{\"name\": \"Ann\", \"age\": 3", "0}\n```"))
	e := engine(t, fake.config())
	src := sharedtest.Graph([]string{startNode,
		llmYAML("llm", chatModel+`, prompt_template: [{role: system, text: "Extract."}, {role: system, text: "dropped"}, {role: user, text: "{{#start.q#}}"}],
			structured_output_enabled: true, structured_output: {schema: {type: object, properties: {name: {type: string}, age: {type: number}, ok: {type: boolean}}}}`),
		endNode("llm, structured_output")}, "start->llm", "llm->end")
	info, ev := runDoc(t, e, src, map[string]any{"q": "Ann is 30"})
	wantStatus(t, info, run.StatusSucceeded)
	msgs := fake.requests()[0].Req.Messages
	if len(msgs) != 2 || msgs[0].Role != "system" || msgs[1].Content != "Ann is 30" {
		t.Fatalf("messages %v", messages(msgs))
	}
	wantSchema := `{"properties": {"age": {"type": "number"}, "name": {"type": "string"}, "ok": {"type": "boolean"}}, "type": "object"}`
	if !strings.Contains(msgs[0].Content, wantSchema+"\n\n\nExtract.") {
		t.Fatalf("system prompt:\n%s", msgs[0].Content)
	}
	got := get(t, ev.Node(t, "llm").Outputs, "structured_output")
	if !reflect.DeepEqual(got, map[string]any{"name": "Ann", "age": int64(30)}) {
		t.Fatalf("structured_output %#v", got)
	}
	if sharedtest.JSON(t, info.Outputs) != `{"o0":{"age":30,"name":"Ann"}}` {
		t.Fatalf("outputs %s", sharedtest.JSON(t, info.Outputs))
	}
}

func TestStructuredOutputJSONSchemaMode(t *testing.T) {
	t.Parallel()
	fake := newFake(t, say(`{"ok": "true"}`))
	cfg := fake.config()
	cfg.Providers["openai"] = Provider{BaseURL: fake.URL + "/v1", StructuredOutput: StructuredOutputJSONSchema}
	e := engine(t, cfg)
	src := sharedtest.Graph([]string{startNode,
		llmYAML("llm", `model: {provider: openai, name: gpt-4o, mode: chat}, prompt_template: [{role: user, text: "x"}],
			structured_output_enabled: true, structured_output: {schema: {type: object, properties: {ok: {type: boolean}}}}`),
		endNode("llm, text")}, "start->llm", "llm->end")
	info, _ := runDoc(t, e, src, nil)
	wantStatus(t, info, run.StatusSucceeded)
	want := map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "llm_response",
		"schema": map[string]any{"type": "object", "properties": map[string]any{"ok": map[string]any{"type": "string"}}}}}
	if got := fake.requests()[0].Body["response_format"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("response_format %#v", got)
	}
}

func TestStructuredOutputInvalidJSONFails(t *testing.T) {
	t.Parallel()
	fake := newFake(t, say("I cannot do that."))
	e := engine(t, fake.config())
	src := sharedtest.Graph([]string{startNode,
		llmYAML("llm", chatModel+`, prompt_template: [{role: user, text: "x"}], structured_output_enabled: true, structured_output: {schema: {type: object}}`),
		endNode("llm, text")}, "start->llm", "llm->end")
	info, ev := runDoc(t, e, src, nil)
	wantStatus(t, info, run.StatusFailed)
	rec := ev.Node(t, "llm")
	if rec.ErrorType != "LLMNodeError" || rec.Error != "Failed to parse structured output: Failed to parse structured output: I cannot do that." {
		t.Fatalf("%s: %s", rec.ErrorType, rec.Error)
	}
}

func TestParseStructured(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`{"a": 1}`, `{"a":1}`},
		{`[{"a": 1}, {"b": 2}]`, `{"a":1}`},
		{`[1, 2]`, `{}`},
		{"<think>\n{maybe}\n</think>\n{\"a\": [1, \"}\"]}", `{"a":[1,"}"]}`},
		{"Here: {\"a\": {\"b\": 1}} done", `{"a":{"b":1}}`},
		{`{"a": "cut`, `{"a":"cut"}`},
	} {
		got, err := parseStructured(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if s := sharedtest.JSON(t, got); s != tc.want {
			t.Errorf("%q: got %s, want %s", tc.in, s, tc.want)
		}
	}
	for _, in := range []string{"42", "no json", ""} {
		if _, err := parseStructured(in); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}

func TestReasoningStreamedSeparately(t *testing.T) {
	t.Parallel()
	fake := newFake(t, func(int, *received) reply {
		return reply{Reasoning: []string{"let me ", "think"}, Chunks: []string{"Answer", "."}}
	})
	e := engine(t, fake.config())
	tagged := sharedtest.Graph([]string{startNode, llmYAML("llm", chatModel+`, prompt_template: [{role: user, text: x}]`), endNode("llm, text")}, "start->llm", "llm->end")
	info, ev := runDoc(t, e, tagged, nil)
	wantStatus(t, info, run.StatusSucceeded)
	const full = "<think>\nlet me think\n</think>Answer."
	if got := get(t, ev.Node(t, "llm").Outputs, "text"); got != full || ev.Text() != full {
		t.Fatalf("text %q chunks %q", got, ev.Text())
	}
	separated := strings.Replace(tagged, "prompt_template:", "reasoning_format: separated, prompt_template:", 1)
	info, ev = runDoc(t, e, separated, nil)
	wantStatus(t, info, run.StatusSucceeded)
	out := ev.Node(t, "llm").Outputs
	if get(t, out, "text") != "Answer." || get(t, out, "reasoning_content") != "let me think" {
		t.Fatalf("outputs %v", out)
	}
}

func TestRetryConfig(t *testing.T) {
	t.Parallel()
	fake := newFake(t, func(n int, _ *received) reply {
		if n < 2 {
			return reply{Status: 503, Body: `{"error": {"message": "overloaded"}}`}
		}
		return reply{Chunks: []string{"fine"}}
	})
	e := engine(t, fake.config())
	src := sharedtest.Graph([]string{startNode,
		llmYAML("llm", chatModel+`, prompt_template: [{role: user, text: x}], retry_config: {retry_enabled: true, max_retries: 3, retry_interval: 1}`),
		endNode("llm, text")}, "start->llm", "llm->end")
	info, ev := runDoc(t, e, src, nil)
	wantStatus(t, info, run.StatusSucceeded)
	var retries []string
	for _, e := range ev.All() {
		if e.Type == run.EventNodeRetry {
			retries = append(retries, e.Node.ErrorType+": "+e.Node.Error)
		}
	}
	want := `InvokeServerUnavailableError: [openai] Server Unavailable Error, Error code: 503 - {"error": {"message": "overloaded"}}`
	sharedtest.EqualLines(t, retries, []string{want, want})
	if len(fake.requests()) != 3 || info.Outputs[0].Value != "fine" {
		t.Fatalf("%d requests, outputs %v", len(fake.requests()), info.Outputs)
	}
}

func TestInvokeErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status     int
		typ, error string
	}{
		{401, "InvokeAuthorizationError", "[openai] Incorrect model credentials provided, please check and try again. "},
		{429, "InvokeRateLimitError", "[openai] Rate Limit Error, Error code: 429 - slow down"},
		{400, "InvokeBadRequestError", "[openai] Bad Request Error, Error code: 400 - slow down"},
	} {
		fake := newFake(t, func(int, *received) reply { return reply{Status: tc.status, Body: "slow down"} })
		e := engine(t, fake.config())
		info, ev := runDoc(t, e, sharedtest.Graph([]string{startNode, llmYAML("llm", chatModel+`, prompt_template: [{role: user, text: x}]`), endNode("llm, text")}, "start->llm", "llm->end"), nil)
		wantStatus(t, info, run.StatusFailed)
		rec := ev.Node(t, "llm")
		if rec.ErrorType != tc.typ || rec.Error != tc.error || info.Error != tc.error {
			t.Errorf("%d: %s: %s (run: %s)", tc.status, rec.ErrorType, rec.Error, info.Error)
		}
	}
}

func TestUnconfiguredProviderAndUnreachableServer(t *testing.T) {
	t.Parallel()
	fake := newFake(t, say("x"))
	e := engine(t, Config{Providers: map[string]Provider{"openai": {BaseURL: fake.URL + "/v1"}}, HTTPClient: fake.Client()})
	doc := sharedtest.Graph([]string{startNode, llmYAML("llm", `model: {provider: langgenius/anthropic/anthropic, name: claude, mode: chat}, prompt_template: [{role: user, text: x}]`), endNode("llm, text")}, "start->llm", "llm->end")
	info, ev := runDoc(t, e, doc, nil)
	wantStatus(t, info, run.StatusFailed)
	if rec := ev.Node(t, "llm"); rec.ErrorType != "ProviderTokenNotInitError" {
		t.Fatalf("%s: %s", rec.ErrorType, rec.Error)
	}

	closed := newFake(t, say("x"))
	closed.Close()
	e = engine(t, closed.config())
	info, ev = runDoc(t, e, strings.ReplaceAll(doc, "langgenius/anthropic/anthropic", "openai"), nil)
	wantStatus(t, info, run.StatusFailed)
	if rec := ev.Node(t, "llm"); rec.ErrorType != "InvokeConnectionError" || !strings.HasPrefix(rec.Error, "[openai] Connection Error, ") {
		t.Fatalf("%s: %s", rec.ErrorType, rec.Error)
	}
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	fake := newFake(t, func(int, *received) reply { return reply{Chunks: []string{"partial"}, Block: true} })
	cfg := fake.config()
	cfg.IdleTimeout = 50 * 1000 * 1000 // 50ms
	e := engine(t, cfg)
	info, ev := runDoc(t, e, sharedtest.Graph([]string{startNode, llmYAML("llm", chatModel+`, prompt_template: [{role: user, text: x}]`), endNode("llm, text")}, "start->llm", "llm->end"), nil)
	wantStatus(t, info, run.StatusFailed)
	rec := ev.Node(t, "llm")
	if rec.ErrorType != "InvokeConnectionError" || !strings.Contains(rec.Error, openai.ErrIdleTimeout.Error()) {
		t.Fatalf("%s: %s", rec.ErrorType, rec.Error)
	}
}

func TestStopMidStream(t *testing.T) {
	t.Parallel()
	fake := newFake(t, func(int, *received) reply { return reply{Chunks: []string{"partial"}, Block: true} })
	e := engine(t, fake.config())
	wf := runtest.Compile(t, e, sharedtest.Graph([]string{startNode, llmYAML("llm", chatModel+`, prompt_template: [{role: user, text: x}]`), endNode("llm, text")}, "start->llm", "llm->end"))
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	chunks := make(chan string, 4)
	ev := &runtest.Recorder{Chunks: chunks}
	done := make(chan *run.RunInfo, 1)
	go func() {
		info, _ := runtest.Run(t, ctx, e, wf, run.Params{}, nil, ev)
		done <- info
	}()
	waitChunk(t, chunks)
	cancel(run.ErrStopped)
	info := <-done
	wantStatus(t, info, run.StatusStopped)
	if rec := ev.Node(t, "llm"); rec.Status != run.StatusStopped {
		t.Fatalf("node status %s", rec.Status)
	}
	// The request was aborted, not left running.
	<-fake.requests()[0].Aborted
}

func TestTokensAddUpAcrossNodes(t *testing.T) {
	t.Parallel()
	fake := newFake(t, func(n int, _ *received) reply {
		return reply{Chunks: []string{"x"}, Usage: &openai.Usage{PromptTokens: int64(10 * (n + 1)), CompletionTokens: 1, TotalTokens: int64(10*(n+1) + 1)}}
	})
	e := engine(t, fake.config())
	src := sharedtest.Graph([]string{startNode,
		llmYAML("a", chatModel+`, prompt_template: [{role: user, text: x}]`),
		llmYAML("b", chatModel+`, prompt_template: [{role: user, text: "{{#a.text#}}"}]`),
		endNode("b, text")}, "start->a", "a->b", "b->end")
	info, ev := runDoc(t, e, src, nil)
	wantStatus(t, info, run.StatusSucceeded)
	if info.TotalTokens != 11+21 {
		t.Fatalf("total_tokens %d", info.TotalTokens)
	}
	// Only b, which the End starts with, streams to the client.
	if ev.Text() != "x" {
		t.Fatalf("chunks %q", ev.Text())
	}
}

func TestMissingVariableFails(t *testing.T) {
	t.Parallel()
	fake := newFake(t, say("x"))
	e := engine(t, fake.config())
	src := sharedtest.Graph([]string{startNode,
		`{id: br, data: {type: if-else, title: br, cases: [{case_id: 'yes', logical_operator: and, conditions: [{variable_selector: [start, q], comparison_operator: is, value: 'yes'}]}]}}`,
		llmYAML("a", chatModel+`, prompt_template: [{role: user, text: x}]`),
		`{id: agg, data: {type: variable-aggregator, title: agg, variables: [[a, text], [start, q]]}}`,
		llmYAML("b", chatModel+`, prompt_template: [{role: user, text: "{{#agg.output#}} {{#a.text#}}"}]`),
		endNode("b, text")}, "start->br", "br->a:yes", "br->agg:false", "a->agg", "agg->b", "b->end")
	info, ev := runDoc(t, e, src, map[string]any{"q": "no"})
	wantStatus(t, info, run.StatusFailed)
	if rec := ev.Node(t, "b"); rec.ErrorType != "VariableNotFoundError" || rec.Error != "Variable #a.text# not found" {
		t.Fatalf("%s: %s", rec.ErrorType, rec.Error)
	}
}

func TestRegisterRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{Providers: map[string]Provider{"x": {}}},
		{Providers: map[string]Provider{"x": {BaseURL: "http://h", StructuredOutput: "native"}}},
		{DefaultProvider: "nope"},
	} {
		if err := Register(run.NewRegistry(), cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

// TestJinja2PromptLimit checks that a jinja2 prompt that goes over the
// template limits fails the node before the model is called.
func TestJinja2PromptLimit(t *testing.T) {
	t.Parallel()
	fake := newFake(t, say("ok"))
	e := engine(t, fake.config())
	src := sharedtest.Graph([]string{startNode,
		llmYAML("llm", chatModel+`, prompt_template: [{role: user, edition_type: jinja2, jinja2_text: "{{ 'x' * 10**12 }}"}]`),
		endNode("llm, text")}, "start->llm", "llm->end")
	info, ev := runDoc(t, e, src, map[string]any{"q": "hi"})
	wantStatus(t, info, run.StatusFailed)
	node := ev.Node(t, "llm")
	if want := "template value exceeds 16777216 bytes: string repeat"; node.Error != want || node.ErrorType != "CodeExecutionError" {
		t.Fatalf("node error %s %q, want CodeExecutionError %q", node.ErrorType, node.Error, want)
	}
	if n := len(fake.requests()); n != 0 {
		t.Fatalf("%d model requests", n)
	}
}
