package tool

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/sharedtest"
	"github.com/flowrun/flowrun/internal/tools"
)

// kit declares the tools of the fake provider.
func kit(funcs map[string]invokeFunc) *fakeProvider {
	return &fakeProvider{funcs: funcs, tools: []tools.Tool{
		{Name: "emit"},
		{Name: "search", Params: []tools.Param{
			{Name: "query", Type: tools.TypeString, Required: true, Form: tools.FormLLM},
			{Name: "limit", Type: tools.TypeNumber, Form: tools.FormLLM},
			{Name: "exact", Type: tools.TypeBoolean, Form: tools.FormLLM},
			{Name: "tags", Type: tools.TypeArray, Form: tools.FormLLM},
			{Name: "region", Type: tools.TypeSelect, Form: tools.FormForm, Options: []string{"eu", "us"}, Default: "eu"},
			{Name: "depth", Type: tools.TypeNumber, Form: tools.FormForm, Required: true},
			{Name: "note", Type: tools.TypeString, Form: tools.FormForm},
		}},
	}}
}

// TestMessagesToOutputs: each message kind lands where Dify puts it, and
// text streams as it comes.
func TestMessagesToOutputs(t *testing.T) {
	t.Parallel()
	file := map[string]any{"type": "document", "transfer_method": "remote_url", "url": "http://x/a.pdf"}
	prov := kit(map[string]invokeFunc{"emit": emits(nil,
		tools.TextMessage("hello "),
		tools.JSONMessage(map[string]any{}), // empty: dropped
		tools.JSONMessage(map[string]any{"k": int64(1)}),
		tools.LinkMessage("http://x/page"),
		tools.Message{Kind: tools.KindLink, Text: "http://x/a.pdf", File: file},
		tools.BlobMessage([]byte("PNG"), "image/png", "chart.png"),
		tools.Message{Kind: tools.KindImage, Text: "http://x/img/cat.jpg?s=1"},
		tools.FileMessage(file),
		tools.VariableMessage("score", 0.5),
		tools.StreamMessage("story", "once "),
		tools.StreamMessage("story", "upon"),
		tools.JSONMessage([]any{"x"}),
		tools.Message{Kind: tools.KindLog, Log: &tools.Log{ID: "1", Label: "ROUND 1", Status: "start"}},
		tools.VariableMessage("score", 0.75),
		tools.TextMessage("world"),
	)})
	h := newHarness(t, run.Config{}, prov)
	o := h.run(t, context.Background(), doc(toolData("emit", nil), "text", "story", "score"), nil)
	n := o.Node(t, "tool")
	if n.Status != run.StatusSucceeded {
		t.Fatalf("status %s: %s", n.Status, n.Error)
	}
	if got := sharedtest.JSON(t, n.Outputs); !strings.HasPrefix(got, `{"text":"hello Link: http://x/page\nFile: http://x/a.pdf\nworld","files":[`) ||
		!strings.HasSuffix(got, `"json":[{"k":1},["x"]],"score":0.75,"story":"once upon"}`) {
		t.Fatalf("outputs %s", got)
	}
	files, _ := n.Outputs.Get("files")
	fl := files.([]any)
	if len(fl) != 4 {
		t.Fatalf("files %s", sharedtest.JSON(t, fl))
	}
	blob := fl[1].(map[string]any)
	if blob["filename"] != "chart.png" || blob["type"] != "image" || blob["url"] != "data:image/png;base64,UE5H" || blob["transfer_method"] != "tool_file" {
		t.Fatalf("blob file %v", blob)
	}
	img := fl[2].(map[string]any)
	if img["filename"] != "cat.jpg" || img["type"] != "image" || img["remote_url"] != "http://x/img/cat.jpg?s=1" || img["transfer_method"] != "remote_url" {
		t.Fatalf("image file %v", img)
	}
	// The End node streams text, story and score, one per line.
	if got := o.Text(); got != "hello Link: http://x/page\nFile: http://x/a.pdf\nworld\nonce upon\n0.75" {
		t.Fatalf("streamed %q", got)
	}
	// Text streams while the tool runs, before the node finishes.
	for _, e := range o.All() {
		if e.Type == run.EventNodeFinished && e.Node.NodeID == "tool" {
			t.Fatal("the tool node finished before its text streamed")
		}
		if e.Type == run.EventTextChunk {
			if e.Chunk.Text != "hello " {
				t.Fatalf("first chunk %q", e.Chunk.Text)
			}
			break
		}
	}
	if got := sharedtest.JSON(t, n.Metadata["tool_info"]); got != `{"plugin_unique_identifier":null,"provider_id":"acme/kit/kit","provider_type":"builtin"}` {
		t.Fatalf("tool_info %s", got)
	}
	// No json message: Dify's placeholder.
	prov.funcs["emit"] = emits(nil, tools.TextMessage("x"))
	o = h.run(t, context.Background(), doc(toolData("emit", nil)), nil)
	if got := sharedtest.JSON(t, o.Node(t, "tool").Outputs); got != `{"text":"x","files":[],"json":[{"data":[]}]}` {
		t.Fatalf("outputs %s", got)
	}
}

// TestArguments: tool_parameters and tool_configurations resolve and cast
// as in Dify.
func TestArguments(t *testing.T) {
	t.Parallel()
	prov := kit(map[string]invokeFunc{"search": emits(nil, tools.TextMessage("ok"))})
	h := newHarness(t, run.Config{}, prov)
	data := toolData("search", map[string]any{
		"tool_parameters": map[string]any{
			"query":   map[string]any{"type": "mixed", "value": "find {{#start.a#}}"},
			"limit":   map[string]any{"type": "mixed", "value": "{{#start.b#}}"},
			"exact":   map[string]any{"type": "constant", "value": true},
			"tags":    map[string]any{"type": "constant", "value": `["a", "b"]`},
			"unknown": map[string]any{"type": "variable", "value": []any{"start", "a"}},
			"dropped": map[string]any{"type": "mixed", "value": nil},
			"depth":   map[string]any{"type": "constant", "value": "9"},
		},
		"tool_configurations": map[string]any{
			"region": map[string]any{"type": "constant", "value": "us"},
			"depth":  map[string]any{"type": "variable", "value": []any{"start", "b"}},
			"note":   map[string]any{"type": "mixed", "value": "by {{#sys.user_id#}}"},
			"skip":   map[string]any{"type": "constant", "value": nil},
			"query":  "plain values are skipped in current nodes",
		},
	})
	o := h.run(t, context.Background(), doc(data, "text"), map[string]any{"a": "cats", "b": "12"})
	if n := o.Node(t, "tool"); n.Status != run.StatusSucceeded {
		t.Fatalf("status %s: %s %s", n.Status, n.ErrorType, n.Error)
	}
	call := prov.lastCall(t)
	if got := sharedtest.JSON(t, call.Args); got != `{"depth":12,"exact":true,"limit":12,"note":"by u-1","query":"find cats","region":"us","tags":["a","b"],"unknown":null}` {
		t.Fatalf("args %s", got)
	}
	if call.Tool != "search" || call.User != "u-1" || call.AppID != "app-1" {
		t.Fatalf("call %+v", call)
	}
	if got := sharedtest.JSON(t, o.Node(t, "tool").Inputs); got != `{"depth":"9","exact":"True","limit":"12","query":"find cats","tags":"[\"a\", \"b\"]","unknown":null}` {
		t.Fatalf("inputs %s", got)
	}
}

// TestLegacySettings: nodes without tool_node_version take plain settings,
// with defaults and option checks.
func TestLegacySettings(t *testing.T) {
	t.Parallel()
	prov := kit(map[string]invokeFunc{"search": emits(nil, tools.TextMessage("ok"))})
	h := newHarness(t, run.Config{}, prov)
	legacy := func(cfg map[string]any) map[string]any {
		d := toolData("search", map[string]any{"tool_configurations": cfg,
			"tool_parameters": map[string]any{"query": map[string]any{"type": "mixed", "value": "q"}}})
		delete(d, "tool_node_version")
		return d
	}
	o := h.run(t, context.Background(), doc(legacy(map[string]any{"depth": int64(3), "region": ""})), nil)
	if got := sharedtest.JSON(t, prov.lastCall(t).Args); got != `{"depth":3,"note":"","query":"q","region":"eu"}` {
		t.Fatalf("args %s (node %s %s)", got, o.Node(t, "tool").Status, o.Node(t, "tool").Error)
	}
	o = h.run(t, context.Background(), doc(legacy(map[string]any{"depth": int64(0), "region": "mars"})), nil)
	wantFailure(t, o.Node(t, "tool"), ErrTypeNode, "tool parameter region value mars not in options ['eu', 'us']")
	o = h.run(t, context.Background(), doc(legacy(map[string]any{})), nil)
	wantFailure(t, o.Node(t, "tool"), ErrTypeNode, "tool parameter depth not found in tool config")
}

// TestFailures: each way a tool node fails, with Dify's message and type.
func TestFailures(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name          string
		data          map[string]any
		behave        invokeFunc
		errType, want string
	}{
		{"plugin not configured", map[string]any{"provider_id": "langgenius/tavily/tavily"}, nil,
			ErrTypeNode, "plugin provider langgenius/tavily/tavily not found"},
		{"mcp not configured", map[string]any{"provider_id": "srv", "provider_type": "mcp"}, nil,
			ErrTypeNode, "mcp provider srv not found"},
		{"tool not offered", map[string]any{"tool_name": "nope"}, nil,
			ErrTypeNode, "Tool with name nope not found"},
		{"tool error", nil, func(context.Context, *tools.Call, tools.Emit) error {
			return tools.InvokeErrorf("rate limited")
		}, tools.ErrTypeInvoke, "Failed to invoke tool kit: rate limited"},
		{"other error", nil, func(context.Context, *tools.Call, tools.Emit) error {
			return errors.New("boom")
		}, ErrTypeNode, "boom"},
		{"typed error", nil, func(context.Context, *tools.Call, tools.Emit) error {
			return &tools.Error{Type: "ToolSSRFError", Err: errors.New("refused")}
		}, "ToolSSRFError", "refused"},
		{"reserved variable", nil, emits(nil, tools.VariableMessage("json", 1)),
			ErrTypeNode, "The variable name 'json' is reserved."},
		{"streamed non-string", nil, emits(nil, tools.Message{Kind: tools.KindVariable, Variable: "v", Value: 1, Stream: true}),
			ErrTypeNode, "When 'stream' is True, 'variable_value' must be a string."},
		{"missing variable", map[string]any{"tool_parameters": map[string]any{
			"query": map[string]any{"type": "variable", "value": []any{"start", "nope"}}}}, nil,
			ErrTypeNode, "Variable ['start', 'nope'] does not exist"},
		{"missing setting variable", map[string]any{"tool_configurations": map[string]any{
			"depth": map[string]any{"type": "variable", "value": []any{"sys", "nope"}}}}, nil,
			ErrTypeParameter, "Failed to get tool runtime: Variable ['sys', 'nope'] does not exist"},
		{"bad setting entry", map[string]any{"tool_configurations": map[string]any{
			"depth": map[string]any{"type": "mixed", "value": 3}}}, nil,
			ErrTypeNode, "tool_configurations.depth: value must be a string"},
		{"required missing", map[string]any{"tool_parameters": map[string]any{}}, nil,
			ErrTypeParameter, "tool parameter query not found in tool config"},
		{"cast", map[string]any{"tool_parameters": map[string]any{
			"query": map[string]any{"type": "constant", "value": "q"},
			"limit": map[string]any{"type": "mixed", "value": "ten"}}}, nil,
			ErrTypeNode, "invalid literal for int() with base 10: 'ten'"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			prov := kit(map[string]invokeFunc{"search": c.behave})
			h := newHarness(t, run.Config{}, prov)
			extra := map[string]any{
				"tool_parameters":     map[string]any{"query": map[string]any{"type": "mixed", "value": "q"}},
				"tool_configurations": map[string]any{"depth": map[string]any{"type": "constant", "value": 1}},
			}
			for k, v := range c.data {
				extra[k] = v
			}
			o := h.run(t, context.Background(), doc(toolData("search", extra)), nil)
			wantFailure(t, o.Node(t, "tool"), c.errType, c.want)
			if o.info.Status != run.StatusFailed || o.info.Error != c.want {
				t.Fatalf("run %s %q", o.info.Status, o.info.Error)
			}
		})
	}
}

// TestErrorStrategies: a node naming an unconfigured provider loads, and
// its error strategy applies when it fails.
func TestErrorStrategies(t *testing.T) {
	t.Parallel()
	h := newHarness(t, run.Config{}, kit(nil))
	missing := map[string]any{"provider_id": "langgenius/jina/jina", "provider_type": "plugin"}
	d := toolData("search", missing)
	d["error_strategy"] = "default-value"
	d["default_value"] = []any{map[string]any{"key": "text", "type": "string", "value": "fallback"}}
	o := h.run(t, context.Background(), doc(d, "text"), nil)
	n := o.Node(t, "tool")
	if n.Status != run.StatusException || o.info.Status != run.StatusPartialSucceeded {
		t.Fatalf("node %s, run %s: %s", n.Status, o.info.Status, o.info.Error)
	}
	if got := sharedtest.JSON(t, o.info.Outputs); got != `{"text":"fallback"}` {
		t.Fatalf("outputs %s", got)
	}
	if got, _ := n.Outputs.Get("error_message"); got != "plugin provider langgenius/jina/jina not found" {
		t.Fatalf("error_message %v", got)
	}
}

// TestRetry: retry_config retries a failing tool.
func TestRetry(t *testing.T) {
	t.Parallel()
	attempts := 0
	prov := kit(map[string]invokeFunc{"emit": func(_ context.Context, _ *tools.Call, emit tools.Emit) error {
		attempts++
		if attempts < 3 {
			return tools.InvokeErrorf("flaky %d", attempts)
		}
		return emit(tools.TextMessage("third time"))
	}})
	h := newHarness(t, run.Config{}, prov)
	d := toolData("emit", map[string]any{"retry_config": map[string]any{"retry_enabled": true, "max_retries": 3, "retry_interval": 1}})
	o := h.run(t, context.Background(), doc(d, "text"), nil)
	if n := o.Node(t, "tool"); n.Status != run.StatusSucceeded || len(o.retries()) != 2 || o.retries()[0].Error != "Failed to invoke tool kit: flaky 1" {
		t.Fatalf("node %s, %d retries", n.Status, len(o.retries()))
	}
	if got := sharedtest.JSON(t, o.info.Outputs); got != `{"text":"third time"}` {
		t.Fatalf("outputs %s", got)
	}
}

// blocking is a tool that signals it started and waits for its context.
func blocking(started chan struct{}) invokeFunc {
	return func(ctx context.Context, _ *tools.Call, _ tools.Emit) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}
}

// TestTimeoutAndStop: the node's timeout and the run's stop cancel a tool
// call in flight.
func TestTimeoutAndStop(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	h := newHarness(t, run.Config{NodeTimeout: 50 * time.Millisecond}, kit(map[string]invokeFunc{"emit": blocking(started)}))
	o := h.run(t, context.Background(), doc(toolData("emit", nil)), nil)
	if n := o.Node(t, "tool"); n.Status != run.StatusFailed || n.ErrorType != "TimeoutError" {
		t.Fatalf("node %s %s %q", n.Status, n.ErrorType, n.Error)
	}

	started = make(chan struct{})
	h = newHarness(t, run.Config{}, kit(map[string]invokeFunc{"emit": blocking(started)}))
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	go func() {
		wait(t, started)
		cancel(run.ErrStopped)
	}()
	o = h.run(t, ctx, doc(toolData("emit", nil)), nil)
	if o.info.Status != run.StatusStopped || o.Node(t, "tool").Status != run.StatusStopped {
		t.Fatalf("run %s, node %s", o.info.Status, o.Node(t, "tool").Status)
	}
}

// TestLoadProblems: what Dify's ToolNodeData refuses is reported at load;
// an unconfigured provider is not.
func TestLoadProblems(t *testing.T) {
	t.Parallel()
	h := newHarness(t, run.Config{}, kit(nil))
	for _, c := range []struct {
		data map[string]any
		want string
	}{
		{map[string]any{"provider_type": "rest"}, `provider_type: "rest" is not one of builtin, plugin, api, workflow, app, dataset-retrieval, mcp`},
		{map[string]any{"tool_name": ""}, "tool_name is required"},
		{map[string]any{"tool_parameters": map[string]any{"q": map[string]any{"type": "mixed", "value": 1}}}, "tool_parameters.q: value must be a string"},
		{map[string]any{"tool_parameters": map[string]any{"q": map[string]any{"type": "variable", "value": "start.a"}}}, "tool_parameters.q: value must be a list"},
		{map[string]any{"tool_parameters": map[string]any{"q": map[string]any{"type": "formula", "value": "x"}}}, `tool_parameters.q: type must be mixed, variable or constant, not "formula"`},
		{map[string]any{"tool_parameters": map[string]any{"q": map[string]any{"type": "mixed", "value": "{{#ghost.x#}}"}}}, `tool_parameters.q: references unknown node "ghost"`},
		{map[string]any{"tool_parameters": []any{}}, "tool_parameters must be a dictionary"},
		{map[string]any{"tool_configurations": "x"}, "tool_configurations must be a dictionary"},
	} {
		_, err := h.eng.Compile(doc(toolData("search", c.data)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: compile error %v, want %q", c.data, err, c.want)
		}
	}
	if _, err := h.eng.Compile(doc(toolData("search", map[string]any{"provider_id": "not/configured/here"}))); err != nil {
		t.Fatalf("unconfigured provider: %v", err)
	}
}

// TestPlainParameters: plain values in tool_parameters (Dify's test
// fixtures) are taken as mixed text or constants.
func TestPlainParameters(t *testing.T) {
	t.Parallel()
	prov := kit(map[string]invokeFunc{"search": emits(nil, tools.TextMessage("ok"))})
	h := newHarness(t, run.Config{}, prov)
	d := toolData("search", map[string]any{"tool_parameters": map[string]any{"query": "about {{#start.a#}}", "limit": int64(5), "exact": nil},
		"tool_configurations": map[string]any{"depth": map[string]any{"type": "constant", "value": 1}}})
	o := h.run(t, context.Background(), doc(d), map[string]any{"a": "owls"})
	if n := o.Node(t, "tool"); n.Status != run.StatusSucceeded {
		t.Fatalf("node %s %s", n.Status, n.Error)
	}
	if got := sharedtest.JSON(t, prov.lastCall(t).Args); got != `{"depth":1,"limit":5,"query":"about owls"}` {
		t.Fatalf("args %s", got)
	}
}

// TestOutputBound: a tool that sends more than MaxOutputBytes fails its
// node, whether it stops at the refusal or carries on regardless.
func TestOutputBound(t *testing.T) {
	t.Parallel()
	chunk := strings.Repeat("x", 64<<10)
	var sent int
	prov := kit(map[string]invokeFunc{
		"emit": func(_ context.Context, _ *tools.Call, emit tools.Emit) error {
			for {
				if err := emit(tools.TextMessage(chunk)); err != nil {
					return err
				}
			}
		},
		"search": func(_ context.Context, _ *tools.Call, emit tools.Emit) error {
			for sent = 0; sent < 100; sent++ {
				_ = emit(tools.StreamMessage("v", chunk)) // ignores the refusal
			}
			return nil
		},
	})
	h := newHarness(t, run.Config{}, prov, Config{MaxOutputBytes: 1 << 20})
	want := "tool output too large: its messages exceed 1048576 bytes"
	o := h.run(t, context.Background(), doc(toolData("emit", nil)), nil)
	wantFailure(t, o.Node(t, "tool"), ErrTypeNode, want)
	o = h.run(t, context.Background(), doc(toolData("search", map[string]any{
		"tool_parameters":     map[string]any{"query": map[string]any{"type": "mixed", "value": "q"}},
		"tool_configurations": map[string]any{"depth": map[string]any{"type": "constant", "value": 1}},
	})), nil)
	wantFailure(t, o.Node(t, "tool"), ErrTypeNode, want)
	if sent != 100 {
		t.Fatalf("sent %d", sent)
	}
}
