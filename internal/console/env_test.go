package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/app/apptest"
	"github.com/flowrun/flowrun/internal/console"
	"github.com/flowrun/flowrun/internal/record"
	"github.com/flowrun/flowrun/internal/repo/memory"
	"github.com/flowrun/flowrun/internal/run"
)

const (
	consoleKey = "console-test-key-0123"
	adminKey   = "admin-test-key-0123"
)

var (
	diamond = apptest.App{ID: "11111111-1111-4111-8111-111111111111", WF: "11111111-1111-4111-8111-aaaaaaaaaaaa", Key: "app-diamond-test", File: "diamond.yml"}
	block   = apptest.App{ID: "22222222-2222-4222-8222-222222222222", WF: "22222222-2222-4222-8222-aaaaaaaaaaaa", Key: "app-block-test", DSL: blockDSL}
	iter    = apptest.App{ID: "33333333-3333-4333-8333-333333333333", WF: "33333333-3333-4333-8333-aaaaaaaaaaaa", Key: "app-iter-test", DSL: iterDSL}
	chat    = apptest.App{ID: "44444444-4444-4444-8444-444444444444", WF: "44444444-4444-4444-8444-aaaaaaaaaaaa", Key: "app-chat-test", File: "chat.yml"}
)

// blockDSL is Start -> test-block -> End: the run waits for its gate.
const blockDSL = `
app: {mode: workflow, name: block}
workflow:
  graph:
    nodes:
    - {id: start, data: {type: start, title: Start, variables: [{variable: query, label: query, type: text-input, required: true}]}}
    - {id: block, data: {type: test-block, title: Block}}
    - {id: end, data: {type: end, title: End, outputs: [{variable: answer, value_selector: [block, output], value_type: string}]}}
    edges:
    - {id: e1, source: start, target: block}
    - {id: e2, source: block, target: end}
`

// iterDSL formats each item of a list in an iteration.
const iterDSL = `
app: {mode: workflow, name: iteration}
workflow:
  graph:
    nodes:
    - {id: start, data: {type: start, title: Start, variables: [{variable: data, label: data, type: json_object, required: true}]}}
    - id: it
      data: {type: iteration, title: Each, iterator_selector: [start, data, items], output_selector: [fmt, output], start_node_id: itstart, is_parallel: false}
    - {id: itstart, parentId: it, data: {type: iteration-start, title: '', isInIteration: true}}
    - id: fmt
      parentId: it
      data: {type: template-transform, title: Format, isInIteration: true, iteration_id: it, variables: [{variable: x, value_selector: [it, item]}], template: 'item {{ x }}'}
    - {id: end, data: {type: end, title: End, outputs: [{variable: out, value_selector: [it, output], value_type: 'array[string]'}]}}
    edges:
    - {id: e1, source: start, target: it}
    - {id: e2, source: itstart, target: fmt}
    - {id: e3, source: it, target: end}
`

// gate holds test-block nodes until released, and reports their runs.
type gate struct {
	started chan string
	mu      sync.Mutex
	open    chan struct{}
}

func (g *gate) nodeType() run.NodeType {
	return run.NodeType{Name: "test-block", Build: func(*run.Build) (run.Executor, error) {
		return run.ExecutorFunc(func(ctx context.Context, x *run.Exec) (*run.Result, error) {
			g.started <- x.RunID()
			g.mu.Lock()
			open := g.open
			g.mu.Unlock()
			select {
			case <-open:
				return &run.Result{Outputs: run.Vars{{Name: "output", Value: "released"}}}, nil
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
		}), nil
	}}
}

// env is an api server with the console, in memory mode.
type env struct {
	url  string
	gate *gate
	hub  *console.Hub
}

func newEnv(t *testing.T) *env {
	t.Helper()
	g := &gate{started: make(chan string, 16), open: make(chan struct{})}
	reg := run.NewRegistry()
	reg.Register(g.nodeType())
	eng := run.New(run.Config{}, reg)
	apps := app.NewMemory(time.Now)
	apptest.Put(t, apps, eng, diamond, block, iter, chat)
	store, err := memory.New(memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hub := console.NewHub(0)
	cons, err := console.New(console.Config{Keys: []string{consoleKey, adminKey}, Apps: apps, Runs: store, Summary: store,
		Conversations: store, Chats: store, Hub: hub, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Apps: apps, Engine: eng, Records: record.Memory(store), Reader: store,
		AdminKey: adminKey, Console: cons, Observer: hub, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hub.Close()
		g.mu.Lock()
		select {
		case <-g.open:
		default:
			close(g.open)
		}
		g.mu.Unlock()
		hs.Close()
	})
	return &env{url: hs.URL, gate: g, hub: hub}
}

// release lets the blocked runs finish.
func (e *env) release() {
	e.gate.mu.Lock()
	defer e.gate.mu.Unlock()
	select {
	case <-e.gate.open:
	default:
		close(e.gate.open)
	}
}

// waitBlocked returns the id of the next run whose block node started.
func (e *env) waitBlocked(t *testing.T) string {
	t.Helper()
	select {
	case id := <-e.gate.started:
		return id
	case <-time.After(20 * time.Second):
		t.Fatal("no block node started")
		return ""
	}
}

// post sends a request to the service API with an app key and returns
// the decoded JSON answer.
func (e *env) post(t *testing.T, path, key string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, res.StatusCode, data)
	}
	return out
}

// runWorkflow runs app with inputs (blocking) and returns the run id.
func (e *env) runWorkflow(t *testing.T, a apptest.App, inputs map[string]any) string {
	t.Helper()
	out := e.post(t, "/v1/workflows/run", a.Key, map[string]any{"inputs": inputs, "user": "tester", "response_mode": "blocking"})
	id, _ := out["workflow_run_id"].(string)
	if id == "" {
		t.Fatalf("no run id in %v", out)
	}
	return id
}

// get fetches a console path with the given Authorization header ("":
// none) and returns the status and body.
func (e *env) get(t *testing.T, path, auth string, cookies ...*http.Cookie) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.url+path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	res, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

var errNoChromium = errors.New("chromium not found")

// chromium finds the browser: $CHROMIUM, or Debian's chromium on PATH.
func chromium() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errNoChromium
}

// contains reports whether s holds every one of subs.
func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
