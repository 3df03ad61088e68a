package mcp_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/flowrun/flowrun/internal/tools"
	mcptool "github.com/flowrun/flowrun/internal/tools/mcp"
)

// registry builds a registry from tools.yaml text through the mcp kind,
// closed when the test ends.
func registry(t *testing.T, yaml string, opts mcptool.Options) *tools.Registry {
	t.Helper()
	cfg, err := tools.ParseConfig([]byte(yaml), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := tools.Build(context.Background(), cfg, tools.Kinds{mcptool.Kind: mcptool.Factory(opts)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	return reg
}

// provider returns a provider of srv, closed when the test ends.
func provider(t *testing.T, cfg tools.MCPConfig, opts mcptool.Options) *mcptool.Provider {
	t.Helper()
	p, err := mcptool.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func call(t *testing.T, p tools.Provider, tool string, args map[string]any) ([]tools.Message, error) {
	t.Helper()
	return tools.Collect(ctxT(t), p, &tools.Call{Tool: tool, Args: args})
}

func mustCall(t *testing.T, p tools.Provider, tool string, args map[string]any) []tools.Message {
	t.Helper()
	msgs, err := call(t, p, tool, args)
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return msgs
}

func TestPluginIDMappedToServer(t *testing.T) {
	srv := newServer(t, serverOptions{pageSize: 3})
	reg := registry(t, fmt.Sprintf(`
providers:
- id: langgenius/tavily/tavily
  kind: mcp
  aliases: [search-server]
  url: %s
  headers: {Authorization: Bearer secret}
  timeout: 5s
`, srv.URL), mcptool.Options{})

	for _, c := range []struct{ typ, id string }{
		{"builtin", "langgenius/tavily/tavily"},
		{"plugin", "tavily"}, // Dify's bare form of a langgenius plugin id
		{"mcp", "search-server"},
	} {
		p, tool, err := reg.Lookup(ctxT(t), c.typ, c.id, "echo")
		if err != nil {
			t.Fatalf("%s %s: %v", c.typ, c.id, err)
		}
		args, err := tool.Cast(map[string]any{"text": "hi", "times": "3"})
		if err != nil {
			t.Fatal(err)
		}
		if args["times"] != int64(3) {
			t.Errorf("times cast to %#v, want 3", args["times"])
		}
		msgs := mustCall(t, p, tool.Name, args)
		if !reflect.DeepEqual(msgs, []tools.Message{tools.TextMessage("hi")}) {
			t.Errorf("%s: messages %+v", c.id, msgs)
		}
	}
	if h := srv.headers.Load(); h == nil || h.Get("Authorization") != "Bearer secret" {
		t.Errorf("configured header not sent: %v", h)
	}
	if n := srv.sessions.Load(); n != 1 {
		t.Errorf("%d sessions for sequential calls, want 1", n)
	}

	_, _, err := reg.Lookup(ctxT(t), "mcp", "search-server", "nope")
	if !errors.Is(err, tools.ErrToolNotFound) || err.Error() != "Tool with name nope not found" {
		t.Errorf("unknown tool: %v", err)
	}
}

func TestToolsFromSchema(t *testing.T) {
	srv := newServer(t, serverOptions{pageSize: 2}) // several pages
	p := provider(t, tools.MCPConfig{URL: srv.URL}, mcptool.Options{})
	list, err := p.Tools(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range list {
		names = append(names, tl.Name)
	}
	want := []string{"args", "broken", "echo", "failing", "giant", "media", "nothing", "reply", "slow", "undeclared", "weather"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("tools %v, want %v", names, want)
	}
	var echo, weather tools.Tool
	for _, tl := range list {
		switch tl.Name {
		case "echo":
			echo = tl
		case "weather":
			weather = tl
		}
	}
	if echo.Description != "echo tool" || echo.Label != "echo" || echo.OutputSchema != nil {
		t.Errorf("echo: %+v", echo)
	}
	types := map[string]tools.ParamType{}
	for _, prm := range echo.Params {
		types[prm.Name] = prm.Type
		if prm.Form != tools.FormLLM || prm.Schema == nil {
			t.Errorf("param %s: form %q, schema %v", prm.Name, prm.Form, prm.Schema)
		}
	}
	wantTypes := map[string]tools.ParamType{"text": "string", "times": "number", "tags": "array", "opts": "object", "flag": "boolean", "any": "string"}
	if !reflect.DeepEqual(types, wantTypes) {
		t.Errorf("param types %v, want %v", types, wantTypes)
	}
	text, _ := echo.Param("text")
	if !text.Required || text.Description != "what to say" {
		t.Errorf("text param: %+v", text)
	}
	// A model gets each property's own schema.
	in := echo.InputSchema()
	props := in["properties"].(map[string]any)
	if tags := props["tags"].(map[string]any); tags["items"] == nil {
		t.Errorf("tags schema lost its items: %v", tags)
	}
	if !reflect.DeepEqual(in["required"], []any{"text"}) {
		t.Errorf("required %v", in["required"])
	}
	if len(weather.OutputSchema) == 0 {
		t.Error("weather's output schema is missing")
	}
}

func TestResultMessages(t *testing.T) {
	srv := newServer(t, serverOptions{})
	p := provider(t, tools.MCPConfig{URL: srv.URL}, mcptool.Options{})
	blob := func(data, mime string) tools.Message { return tools.BlobMessage([]byte(data), mime, "") }
	cases := []struct {
		name string
		tool string
		args map[string]any
		want []tools.Message
	}{
		{"plain text", "reply", map[string]any{"text": "hello"}, []tools.Message{tools.TextMessage("hello")}},
		{"object", "reply", map[string]any{"text": ` {"a": 1, "b": [true, null]} `},
			[]tools.Message{tools.JSONMessage(map[string]any{"a": int64(1), "b": []any{true, nil}})}},
		{"objects", "reply", map[string]any{"text": `[{"a": 1}, {"b": 2.5}]`},
			[]tools.Message{tools.JSONMessage(map[string]any{"a": int64(1)}), tools.JSONMessage(map[string]any{"b": 2.5})}},
		{"mixed list: Python's str", "reply", map[string]any{"text": `[1, "it's", true, null, 2.0, {"k": "v"}]`},
			[]tools.Message{tools.TextMessage(`[1, "it's", True, None, 2.0, {'k': 'v'}]`)}},
		{"empty list", "reply", map[string]any{"text": `[]`}, []tools.Message{}},
		{"bad json", "reply", map[string]any{"text": `{not json}`}, []tools.Message{tools.TextMessage(`{not json}`)}},
		{"isError comes back as output", "failing", nil, []tools.Message{tools.TextMessage("quota exceeded")}},
		{"media", "media", nil, []tools.Message{
			blob("PNG", "image/png"), blob("WAV", "audio/wav"),
			tools.TextMessage("resource text"), blob("\x00\x01\x02", "application/octet-stream"),
		}},
		{"structured content with an output schema", "weather", nil, []tools.Message{
			tools.JSONMessage(map[string]any{"temp": 21.5, "city": "Oslo"}),
			tools.VariableMessage("city", "Oslo"), tools.VariableMessage("temp", 21.5),
		}},
		{"structured content without one", "undeclared", nil, []tools.Message{}},
		{"nothing", "nothing", nil, []tools.Message{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msgs := mustCall(t, p, c.tool, c.args)
			if msgs == nil {
				msgs = []tools.Message{}
			}
			if !reflect.DeepEqual(msgs, c.want) {
				t.Errorf("messages\n got %#v\nwant %#v", msgs, c.want)
			}
		})
	}
}

func TestArgumentsDropNullAndBlank(t *testing.T) {
	srv := newServer(t, serverOptions{})
	p := provider(t, tools.MCPConfig{URL: srv.URL}, mcptool.Options{})
	msgs := mustCall(t, p, "args", map[string]any{"a": "x", "n": nil, "blank": " \t", "zero": int64(0), "list": []any{}})
	want := []tools.Message{tools.JSONMessage(map[string]any{"a": "x", "zero": int64(0), "list": []any{}})}
	if !reflect.DeepEqual(msgs, want) {
		t.Errorf("server got %+v, want %+v", msgs, want)
	}
}

func TestErrors(t *testing.T) {
	srv := newServer(t, serverOptions{})
	p := provider(t, tools.MCPConfig{URL: srv.URL}, mcptool.Options{})
	_, err := call(t, p, "broken", nil)
	if want := "Failed to connect to MCP server: code=0 message='database is down' data=None"; err == nil || err.Error() != want {
		t.Errorf("handler error: %v, want %q", err, want)
	}
	if tools.TypeOf(err) != tools.ErrTypeInvoke {
		t.Errorf("error type %q", tools.TypeOf(err))
	}
	_, err = call(t, p, "missing", nil)
	if want := `Failed to connect to MCP server: code=-32602 message='unknown tool "missing"' data=None`; err == nil || err.Error() != want {
		t.Errorf("unknown tool: %v, want %q", err, want)
	}
	// The session survives errors answered by the server.
	mustCall(t, p, "reply", map[string]any{"text": "still here"})
	if n := srv.sessions.Load(); n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}

	down := provider(t, tools.MCPConfig{URL: "http://127.0.0.1:1/mcp", Timeout: tools.Duration(2 * time.Second)}, mcptool.Options{})
	_, err = call(t, down, "reply", nil)
	if err == nil || !strings.HasPrefix(err.Error(), "Failed to connect to MCP server: ") || tools.TypeOf(err) != tools.ErrTypeInvoke {
		t.Errorf("server down: %v", err)
	}
	if _, err := down.Tools(ctxT(t)); err == nil || !strings.HasPrefix(err.Error(), "Failed to connect to MCP server: ") {
		t.Errorf("listing, server down: %v", err)
	}
}

func TestCancelAndTimeout(t *testing.T) {
	srv := newServer(t, serverOptions{})
	p := provider(t, tools.MCPConfig{URL: srv.URL}, mcptool.Options{})
	mustCall(t, p, "reply", nil) // open the session

	// The node's stop or timeout: ctx ends while the tool runs.
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan error, 1)
	go func() { done <- p.Invoke(ctx, &tools.Call{Tool: "slow"}, func(tools.Message) error { return nil }) }()
	<-srv.slowStarted
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v", err)
	}
	if err := <-srv.slowDone; !errors.Is(err, context.Canceled) {
		t.Errorf("the server's tool was not cancelled: %v", err)
	}

	// The configured sse_read_timeout bounds a call.
	short := provider(t, tools.MCPConfig{URL: srv.URL, SSEReadTimeout: tools.Duration(50 * time.Millisecond)}, mcptool.Options{})
	go func() { _, err := call(t, short, "slow", nil); done <- err }()
	<-srv.slowStarted
	err := <-done
	if err == nil || !strings.HasPrefix(err.Error(), "Failed to invoke tool: no answer from the MCP server within its timeout") || tools.TypeOf(err) != tools.ErrTypeInvoke {
		t.Errorf("timed out call: %v", err)
	}
	<-srv.slowDone
	// Both sessions are still usable.
	mustCall(t, p, "reply", nil)
	mustCall(t, short, "reply", nil)
	if n := srv.sessions.Load(); n != 2 {
		t.Errorf("%d sessions, want 2", n)
	}
}

func TestReconnect(t *testing.T) {
	srv := newServer(t, serverOptions{})
	p := provider(t, tools.MCPConfig{URL: srv.URL, Timeout: tools.Duration(2 * time.Second)}, mcptool.Options{})
	mustCall(t, p, "reply", map[string]any{"text": "one"})

	// A restarted server no longer knows the session: the call is sent
	// again on a new one.
	srv.restart()
	if msgs := mustCall(t, p, "reply", map[string]any{"text": "two"}); msgs[0].Text != "two" {
		t.Errorf("after restart: %+v", msgs)
	}

	// A server that is down fails the call; once it is back, the next
	// call connects again.
	srv.stop()
	if _, err := call(t, p, "reply", nil); err == nil {
		t.Fatal("call to a stopped server succeeded")
	}
	srv.start()
	if msgs := mustCall(t, p, "reply", map[string]any{"text": "three"}); msgs[0].Text != "three" {
		t.Errorf("after stop and start: %+v", msgs)
	}
	if _, err := p.Tools(ctxT(t)); err != nil {
		t.Error(err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	srv := newServer(t, serverOptions{})
	p := provider(t, tools.MCPConfig{URL: srv.URL}, mcptool.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := range 16 {
		wg.Go(func() {
			for i := range 10 {
				want := fmt.Sprintf("g%d-%d", g, i)
				msgs, err := call(t, p, "reply", map[string]any{"text": want})
				switch {
				case err != nil:
					errs <- err
					return
				case len(msgs) != 1 || msgs[0].Text != want:
					errs <- fmt.Errorf("got %+v, want %s", msgs, want)
					return
				}
				if _, err := p.Tools(ctxT(t)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.sessions.Load(); n != 1 {
		t.Errorf("%d sessions for concurrent calls, want 1", n)
	}
}

func TestGiantResultIsBounded(t *testing.T) {
	for _, o := range []serverOptions{{}, {json: true}} {
		t.Run(fmt.Sprintf("json=%v", o.json), func(t *testing.T) {
			srv := newServer(t, o)
			p := provider(t, tools.MCPConfig{URL: srv.URL}, mcptool.Options{MaxResponseBytes: 1 << 20})
			_, err := call(t, p, "giant", nil)
			if want := "Failed to invoke tool: the MCP server's response exceeds 1.0 MiB"; err == nil || err.Error() != want {
				t.Errorf("giant result: %v, want %q", err, want)
			}
			mustCall(t, p, "reply", nil) // and the provider recovers
		})
	}
}

func TestSSE(t *testing.T) {
	srv := newServer(t, serverOptions{sse: true})
	p := provider(t, tools.MCPConfig{URL: srv.URL, Headers: map[string]string{"X-Key": "k"}}, mcptool.Options{})
	if msgs := mustCall(t, p, "reply", map[string]any{"text": "over sse"}); msgs[0].Text != "over sse" {
		t.Errorf("messages %+v", msgs)
	}
	if list, err := p.Tools(ctxT(t)); err != nil || len(list) == 0 {
		t.Errorf("tools %v, %v", list, err)
	}
	if h := srv.headers.Load(); h.Get("X-Key") != "k" {
		t.Errorf("header not sent over SSE: %v", h)
	}
}

func TestRefreshFindsNewTool(t *testing.T) {
	srv := newServer(t, serverOptions{})
	reg := registry(t, "providers:\n- {id: srv, kind: mcp, url: "+srv.URL+"}\n", mcptool.Options{ListTTL: time.Hour})
	if _, _, err := reg.Lookup(ctxT(t), "mcp", "srv", "echo"); err != nil {
		t.Fatal(err)
	}
	srv.mcp.AddTool(&mcp.Tool{Name: "added", InputSchema: schema(`{"type": "object"}`)}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return text("new"), nil
	})
	p, tool, err := reg.Lookup(ctxT(t), "mcp", "srv", "added")
	if err != nil {
		t.Fatalf("a tool added after listing: %v", err)
	}
	if msgs := mustCall(t, p, tool.Name, nil); msgs[0].Text != "new" {
		t.Errorf("messages %+v", msgs)
	}
}

func TestConfig(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"{id: a, kind: mcp}", "url is required"},
		{"{id: a, kind: mcp, url: 'ftp://x/mcp'}", `scheme must be http or https`},
		{"{id: a, kind: mcp, url: 'http:///mcp'}", "has no host"},
		{"{id: a, kind: mcp, url: 'http://x/mcp', tiemout: 3}", `unknown field "tiemout"`},
		{"{id: a, kind: mcp, url: 'http://x/mcp', headers: {'a b': c}}", "bad header name"},
	} {
		cfg, err := tools.ParseConfig([]byte("providers:\n- "+c.yaml+"\n"), "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = tools.Build(context.Background(), cfg, tools.Kinds{mcptool.Kind: mcptool.Factory(mcptool.Options{})}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, tools.ErrInvalidConfig) {
			t.Errorf("%s: %v, want %q", c.yaml, err, c.want)
		}
	}
}

func TestClosed(t *testing.T) {
	srv := newServer(t, serverOptions{})
	p := provider(t, tools.MCPConfig{URL: srv.URL}, mcptool.Options{})
	mustCall(t, p, "reply", nil)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	_ = p.Close()
	if _, err := call(t, p, "reply", nil); !errors.Is(err, mcptool.ErrClosed) {
		t.Errorf("call after Close: %v", err)
	}
}

func TestEndlessListingIsBounded(t *testing.T) {
	srv := newServer(t, serverOptions{pageSize: 4})
	// A server whose last page says there is another: itself.
	srv.mcp.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			if l, ok := res.(*mcp.ListToolsResult); ok && l != nil && l.NextCursor == "" {
				l.NextCursor = req.(*mcp.ListToolsRequest).Params.Cursor
			}
			return res, err
		}
	})
	p := provider(t, tools.MCPConfig{URL: srv.URL}, mcptool.Options{})
	_, err := p.Tools(ctxT(t))
	if want := "Failed to invoke tool: the MCP server's tools/list has more than 1000 pages"; err == nil || err.Error() != want {
		t.Errorf("endless listing: %v, want %q", err, want)
	}
	// Too many tools.
	p = provider(t, tools.MCPConfig{URL: srv.URL}, mcptool.Options{MaxTools: 5})
	_, err = p.Tools(ctxT(t))
	if want := "Failed to invoke tool: the MCP server lists more than 5 tools"; err == nil || err.Error() != want {
		t.Errorf("too many tools: %v, want %q", err, want)
	}
}
