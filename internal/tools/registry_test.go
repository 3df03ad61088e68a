package tools

import (
	"context"
	"errors"
	"testing"

	"github.com/flowrun/flowrun/internal/sharedtest"
)

// fake is a provider with fixed tools that echoes its arguments.
type fake struct {
	tools  []Tool
	closed int
}

func (f *fake) Tools(context.Context) ([]Tool, error) { return f.tools, nil }

func (f *fake) Invoke(_ context.Context, call *Call, emit Emit) error {
	if err := emit(TextMessage("called " + call.Tool)); err != nil {
		return err
	}
	return emit(JSONMessage(map[string]any{"args": call.Args}))
}

func (f *fake) Close() error { f.closed++; return nil }

func TestLookup(t *testing.T) {
	t.Parallel()
	time := &fake{tools: []Tool{{Name: "current_time"}}}
	tavily := &fake{tools: []Tool{{Name: "tavily_search"}}}
	flow := &fake{tools: []Tool{{Name: "wf"}}}
	reg := NewRegistry()
	for _, err := range []error{
		reg.Add("time", time),
		reg.Add("langgenius/tavily/tavily", tavily, "tavily-search"),
		reg.Add("8f1c", flow),
		reg.Add("langgenius/jina_tool/jina", flow),
		reg.Add("stepfun", flow),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for _, c := range []struct {
		typ, id, tool string
		want          Provider
		err           string
		sentinel      error
	}{
		{"builtin", "time", "current_time", time, "", nil},
		{"builtin", "langgenius/time/time", "current_time", time, "", nil},
		{"builtin", "tavily", "tavily_search", tavily, "", nil},
		{"plugin", "langgenius/tavily/tavily", "tavily_search", tavily, "", nil},
		{"mcp", "tavily-search", "tavily_search", tavily, "", nil},
		{"workflow", "8f1c", "any_name", flow, "", nil},
		{"builtin", "jina", "wf", flow, "", nil},
		{"plugin", "langgenius/stepfun_tool/stepfun", "wf", flow, "", nil},
		{"builtin", "time", "nope", nil, "builtin tool nope not found", ErrToolNotFound},
		{"builtin", "tavily", "nope", nil, "Tool with name nope not found", ErrToolNotFound},
		{"api", "tavily", "nope", nil, "tool nope not found", ErrToolNotFound},
		{"builtin", "langgenius/jina/jina", "x", nil, "plugin provider langgenius/jina/jina not found", ErrProviderNotFound},
		{"builtin", "langgenius/time_tool/time", "x", nil, "plugin provider langgenius/time_tool/time not found", ErrProviderNotFound},
		{"builtin", "webscraper", "x", nil, "builtin provider webscraper not found", ErrProviderNotFound},
		{"plugin", "org/p/p", "x", nil, "plugin provider org/p/p not found", ErrProviderNotFound},
		{"api", "9c2e", "x", nil, "api provider 9c2e not found", ErrProviderNotFound},
		{"workflow", "9c2e", "x", nil, "workflow provider 9c2e not found", ErrProviderNotFound},
		{"mcp", "srv", "x", nil, "mcp provider srv not found", ErrProviderNotFound},
		{"app", "srv", "x", nil, "app provider not implemented", ErrProviderNotFound},
		{"dataset-retrieval", "srv", "x", nil, "provider type dataset-retrieval not found", ErrProviderNotFound},
		{"builtin", "langgenius/other/tavily", "x", nil, "plugin provider langgenius/other/tavily not found", ErrProviderNotFound},
	} {
		p, tool, err := reg.Lookup(ctx, c.typ, c.id, c.tool)
		if c.err != "" {
			if err == nil || err.Error() != c.err || !errors.Is(err, c.sentinel) || TypeOf(err) != ErrTypeProviderNotFound {
				t.Errorf("Lookup(%s, %s, %s) error = %v, want %q", c.typ, c.id, c.tool, err, c.err)
			}
			continue
		}
		if err != nil || p != c.want || tool == nil {
			t.Errorf("Lookup(%s, %s, %s) = %v, %v, %v", c.typ, c.id, c.tool, p, tool, err)
		}
	}
	if err := reg.Add("tavily-search", time); !errors.Is(err, ErrDuplicateProvider) {
		t.Fatalf("Add(taken alias) = %v", err)
	}
	if err := reg.Add("x", time, "y", "y"); !errors.Is(err, ErrDuplicateProvider) {
		t.Fatalf("Add(alias twice) = %v", err)
	}
	if err := reg.Close(); err != nil || time.closed != 1 || tavily.closed != 1 {
		t.Fatalf("Close = %v (closed %d, %d)", err, time.closed, tavily.closed)
	}
}

func TestCollectAndText(t *testing.T) {
	t.Parallel()
	msgs, err := Collect(context.Background(), &fake{}, &Call{Tool: "t", Args: map[string]any{"q": "é"}})
	if err != nil || len(msgs) != 2 {
		t.Fatalf("Collect = %v, %v", msgs, err)
	}
	if got := Text(msgs); got != `called t{"args": {"q": "é"}}` {
		t.Fatalf("Text = %q", got)
	}
	got := Text([]Message{
		TextMessage(`{"a": 1}`), LinkMessage("http://x/y"), {Kind: KindImage, Text: "http://x/i.png"},
		JSONMessage(map[string]any{"a": int64(1)}), {Kind: KindJSON, JSON: []any{}, Suppress: true},
		VariableMessage("v", 1), BlobMessage([]byte("x"), "text/plain", "x.txt"),
	})
	want := `{"a": 1}result link: http://x/y. please tell user to check it.image has been created and sent to user already, you do not need to create it, just tell the user to check it now.`
	if got != want {
		t.Fatalf("Text = %q\nwant %q", got, want)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		m    Message
		want string
	}{
		{TextMessage("x"), ""},
		{VariableMessage("text", 1), "The variable name 'text' is reserved."},
		{StreamMessage("v", "piece"), ""},
		{Message{Kind: KindVariable, Variable: "v", Value: 1, Stream: true}, "When 'stream' is True, 'variable_value' must be a string."},
		{JSONMessage("s"), "json message holds string, not an object or an array"},
		{JSONMessage([]any{}), ""},
		{Message{Kind: KindFile}, "File message is missing 'file' key in meta"},
		{Message{Kind: "blob_chunk"}, `unknown tool message type "blob_chunk"`},
		{Message{Kind: KindLog}, "log message without a log entry"},
	} {
		err := c.m.Validate()
		if (err == nil) != (c.want == "") || (err != nil && err.Error() != c.want) {
			t.Errorf("Validate(%+v) = %v, want %q", c.m, err, c.want)
		}
	}
}

func TestInputSchema(t *testing.T) {
	t.Parallel()
	tool := Tool{Name: "t", Params: []Param{
		{Name: "q", Type: TypeString, Required: true, Description: "query", Form: FormLLM},
		{Name: "mode", Type: TypeSelect, Form: FormLLM, Options: []string{"a", "b"}},
		{Name: "n", Type: TypeNumber, Form: FormLLM},
		{Name: "doc", Type: TypeFile, Form: FormLLM},
		{Name: "cfg", Type: TypeString, Form: FormForm},
		{Name: "raw", Type: TypeObject, Form: FormLLM, Schema: map[string]any{"type": "object", "properties": map[string]any{}}},
	}}
	got := sharedtest.JSON(t, tool.InputSchema())
	want := `{"properties":{"mode":{"description":"","enum":["a","b"],"type":"string"},"n":{"description":"","type":"number"},"q":{"description":"query","type":"string"},"raw":{"properties":{},"type":"object"}},"required":["q"],"type":"object"}`
	if got != want {
		t.Fatalf("InputSchema = %s\nwant %s", got, want)
	}
}
