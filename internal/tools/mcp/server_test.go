package mcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// server is a real MCP server on loopback, built with the SDK, offering
// the test tools (addTools).
type server struct {
	t    testing.TB
	opts serverOptions
	mcp  *mcp.Server
	ts   *httptest.Server
	// URL is the endpoint: <base>/mcp, or <base>/sse for SSE.
	URL string
	// sessions counts initialized sessions.
	sessions atomic.Int64
	// headers holds the last request's headers.
	headers atomic.Pointer[http.Header]
	// slowStarted receives when the slow tool starts, slowDone when its
	// context ends (the call was cancelled); release ends it normally.
	slowStarted chan struct{}
	slowDone    chan error
	release     chan struct{}
}

type serverOptions struct {
	sse      bool
	json     bool // streamable answers as application/json
	pageSize int
}

func newServer(t testing.TB, o serverOptions) *server {
	t.Helper()
	s := &server{t: t, opts: o, slowStarted: make(chan struct{}, 16), slowDone: make(chan error, 16), release: make(chan struct{})}
	s.ts = httptest.NewServer(s.handler())
	s.URL = s.ts.URL + s.path()
	t.Cleanup(s.close)
	return s
}

func (s *server) path() string {
	if s.opts.sse {
		return "/sse"
	}
	return "/mcp"
}

// handler returns a new MCP server's handler: it has no sessions.
func (s *server) handler() http.Handler {
	s.mcp = mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, &mcp.ServerOptions{
		PageSize:           s.opts.pageSize,
		InitializedHandler: func(context.Context, *mcp.InitializedRequest) { s.sessions.Add(1) },
	})
	addTools(s)
	srv := s.mcp
	var h http.Handler
	if s.opts.sse {
		h = mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	} else {
		h = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{JSONResponse: s.opts.json})
	}
	mux := http.NewServeMux()
	mux.Handle(s.path(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := r.Header.Clone()
		s.headers.Store(&hd)
		h.ServeHTTP(w, r)
	}))
	return mux
}

func (s *server) close() {
	select {
	case <-s.release:
	default:
		close(s.release)
	}
	s.stop()
}

// restart stops the server and starts it again.
func (s *server) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

// stop closes the server; start serves again on the same address, with
// a new MCP server that knows none of the old sessions.
func (s *server) stop() {
	s.ts.CloseClientConnections()
	s.ts.Close()
	for ss := range s.mcp.Sessions() {
		_ = ss.Close()
	}
}

func (s *server) start() {
	s.t.Helper()
	addr := s.ts.Listener.Addr().String()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		s.t.Fatalf("listen again on %s: %v", addr, err)
	}
	s.ts = httptest.NewUnstartedServer(s.handler())
	_ = s.ts.Listener.Close()
	s.ts.Listener = l
	s.ts.Start()
}

func schema(js string) json.RawMessage { return json.RawMessage(js) }

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

func arguments(req *mcp.CallToolRequest) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(req.Params.Arguments, &m)
	return m
}

// GiantSize is the size of the giant tool's text.
const GiantSize = 3 << 20

// addTools installs the test tools.
func addTools(s *server) {
	obj := schema(`{"type": "object"}`)
	add := func(name string, in json.RawMessage, h mcp.ToolHandler) {
		s.mcp.AddTool(&mcp.Tool{Name: name, Description: name + " tool", InputSchema: in}, h)
	}
	add("echo", schema(`{"type": "object", "properties": {
		"text": {"type": "string", "description": "what to say"},
		"times": {"type": ["integer", "null"], "description": "how often"},
		"tags": {"type": "array", "items": {"type": "string"}},
		"opts": {"type": "object"},
		"flag": {"type": "boolean"},
		"any": {}
	}, "required": ["text"]}`), func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		a := arguments(req)
		t, _ := a["text"].(string)
		return text(t), nil
	})
	add("args", obj, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return text(string(req.Params.Arguments)), nil
	})
	add("reply", schema(`{"type": "object", "properties": {"text": {"type": "string"}}}`), func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		t, _ := arguments(req)["text"].(string)
		return text(t), nil
	})
	add("failing", obj, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "quota exceeded"}}}, nil
	})
	add("broken", obj, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return nil, errors.New("database is down")
	})
	add("slow", obj, func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		s.slowStarted <- struct{}{}
		select {
		case <-ctx.Done():
			s.slowDone <- ctx.Err()
			return nil, ctx.Err()
		case <-s.release:
			return text("done"), nil
		}
	})
	add("media", obj, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{
			&mcp.ImageContent{Data: []byte("PNG"), MIMEType: "image/png"},
			&mcp.AudioContent{Data: []byte("WAV"), MIMEType: "audio/wav"},
			&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "file:///a.txt", Text: "resource text"}},
			&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "file:///b.bin", Blob: []byte{0, 1, 2}}},
			&mcp.ResourceLink{URI: "file:///c", Name: "c"},
		}}, nil
	})
	s.mcp.AddTool(&mcp.Tool{
		Name: "weather", InputSchema: obj,
		OutputSchema: schema(`{"type": "object", "properties": {"temp": {"type": "number"}, "city": {"type": "string"}}}`),
	}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{
			Content:           []mcp.Content{&mcp.TextContent{Text: `{"temp": 21.5, "city": "Oslo"}`}},
			StructuredContent: map[string]any{"temp": 21.5, "city": "Oslo"},
		}, nil
	})
	add("undeclared", obj, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{}, StructuredContent: map[string]any{"x": 1}}, nil
	})
	add("giant", obj, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return text(strings.Repeat("x", GiantSize)), nil
	})
	add("nothing", obj, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{}}, nil
	})
}
