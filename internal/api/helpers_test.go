package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/app/apptest"
	"github.com/flowrun/flowrun/internal/record"
	"github.com/flowrun/flowrun/internal/repo/memory"
	"github.com/flowrun/flowrun/internal/run"
)

// Fixed ids of the test apps.
const (
	echoApp       = "35a953c7-4255-4b7a-bcab-983e6f30c43f"
	echoWF        = "899bd8ac-3b4b-4b53-8e79-8cb2e3541f07"
	echoKey       = "app-test-echo-key"
	chain3App     = "433c5666-65ca-4d27-b7bd-944f92f47d0e"
	chain3WF      = "72ae29e8-3828-4026-91af-b1337ee0e007"
	chain3Key     = "app-test-chain3-key"
	diamondApp    = "44afcde3-18a6-437b-8842-9937074327e4"
	diamondWF     = "0d3d7671-51cc-4263-94c9-97645780c4cb"
	diamondKey    = "app-test-diamond-key"
	blockApp      = "011d426b-e2e2-42bb-8167-17112d960102"
	blockWF       = "81baef1e-eab7-4732-9257-5546aab5e6ac"
	blockKey      = "app-test-block-key"
	chatApp       = "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
	chatWF        = "8d2e3f4a-5b6c-4d7e-9f8a-0b1c2d3e4f5a"
	chatKey       = "app-test-chat-key"
	chatBlockApp  = "2b9f3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	chatBlockWF   = "3c0a4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e"
	chatBlockKey  = "app-test-chat-block-key"
	chain3ChatApp = "5d1b5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
	chain3ChatWF  = "6e2c6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f70"
	chain3ChatKey = "app-test-chain3-chat-key"
	adminKey      = "admin-test-key"
)

// fixedTime is the clock of deterministic tests.
var fixedTime = time.Unix(1739000000, 0)

// blockDSL runs Start -> test-block -> End; the block node waits until the
// test releases it or the run is cancelled.
const blockDSL = `
app: {mode: workflow, name: block}
workflow:
  graph:
    nodes:
    - id: start
      data:
        type: start
        title: Start
        variables:
        - {variable: query, label: query, type: text-input, required: true}
    - id: block
      data: {type: test-block, title: Block}
    - id: end
      data:
        type: end
        title: End
        outputs:
        - {variable: answer, value_selector: [block, output], value_type: string}
    edges:
    - {id: e1, source: start, target: block}
    - {id: e2, source: block, target: end}
`

// chatBlockDSL is a chatflow Start -> test-block -> Answer.
const chatBlockDSL = `
app: {mode: advanced-chat, name: chat-block}
workflow:
  graph:
    nodes:
    - {id: start, data: {type: start, title: Start, variables: []}}
    - {id: block, data: {type: test-block, title: Block}}
    - {id: answer, data: {type: answer, title: Answer, answer: "{{#block.output#}}"}}
    edges:
    - {id: e1, source: start, target: block}
    - {id: e2, source: block, target: answer}
`

// blocker controls the test-block nodes of one bundle. A run's block node
// reports its run id on started, then waits for release(query) (the run's
// "query" input names the gate) or for the run to be cancelled. A query
// starting with "deaf" makes it ignore cancellation, as a buggy node would.
type blocker struct {
	started chan string
	mu      sync.Mutex
	gates   map[string]chan struct{}
}

func (b *blocker) gate(name string) chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	g, ok := b.gates[name]
	if !ok {
		g = make(chan struct{})
		b.gates[name] = g
	}
	return g
}

// release lets the block nodes waiting on gate name go on.
func (b *blocker) release(name string) { close(b.gate(name)) }

func (b *blocker) nodeType() run.NodeType {
	return run.NodeType{Name: "test-block", Build: func(*run.Build) (run.Executor, error) {
		return run.ExecutorFunc(func(ctx context.Context, x *run.Exec) (*run.Result, error) {
			q, ok := x.Pool.Get(run.Selector{"start", "query"})
			if !ok {
				q, _ = x.Pool.Get(run.Selector{"sys", "query"}) // a chatflow
			}
			name, _ := q.(string)
			if name == "fail" {
				return nil, errors.New("the block node failed")
			}
			b.started <- x.RunID()
			if strings.HasPrefix(name, "deaf") {
				<-b.gate(name)
				return &run.Result{Outputs: run.Vars{{Name: "output", Value: "released " + name}}}, nil
			}
			select {
			case <-b.gate(name):
				return &run.Result{Outputs: run.Vars{{Name: "output", Value: "released " + name}}}, nil
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
		}), nil
	}}
}

// counterIDs returns a deterministic id generator: prefix-0001, -0002, ...
func counterIDs(prefix string) func() string {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, n.Add(1)) }
}

type bundle struct {
	srv     *api.Server
	eng     *run.Engine
	store   *app.Memory
	blocker *blocker
	logs    *syncBuffer
}

type options struct {
	deterministic bool // fixed clock and counter ids
	mutate        func(*api.Config)
	// apps are served besides the test apps.
	apps []apptest.App
}

// mockLLM is an "llm" node that streams "mocked llm response" word by
// word, as the mock LLM of Dify's graph engine tests (test_mock_nodes.py)
// does, without its final empty chunk.
func mockLLM() run.NodeType {
	return run.NodeType{Name: "llm", Build: func(*run.Build) (run.Executor, error) {
		return run.ExecutorFunc(func(_ context.Context, x *run.Exec) (*run.Result, error) {
			const text = "mocked llm response"
			for i, w := range strings.Split(text, " ") {
				if i > 0 {
					w = " " + w
				}
				x.Stream("text", w)
			}
			return &run.Result{Outputs: run.Vars{{Name: "text", Value: text}}}, nil
		}), nil
	}}
}

// stubTool is a "tool" node that outputs nothing: GET /meta reads tool
// nodes from the graph, and tests need apps that have them.
func stubTool() run.NodeType {
	return run.NodeType{Name: "tool", Build: func(*run.Build) (run.Executor, error) {
		return run.ExecutorFunc(func(context.Context, *run.Exec) (*run.Result, error) {
			return &run.Result{}, nil
		}), nil
	}}
}

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func setup(t testing.TB, o options) *bundle {
	t.Helper()
	bl := &blocker{started: make(chan string, 1024), gates: map[string]chan struct{}{}}
	reg := run.NewRegistry()
	reg.Register(bl.nodeType())
	reg.Register(mockLLM())
	reg.Register(stubTool())
	rcfg := run.Config{}
	cfg := api.Config{AdminKey: adminKey}
	if o.deterministic {
		clock := func() time.Time { return fixedTime }
		rcfg.Clock, rcfg.NewID = clock, counterIDs("eeeeeeee")
		cfg.Clock, cfg.NewID = clock, counterIDs("aaaaaaaa")
	}
	logs := &syncBuffer{}
	rcfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	eng := run.New(rcfg, reg)
	store := app.NewMemory(func() time.Time { return fixedTime })
	apptest.Put(t, store, eng, append([]apptest.App{
		{ID: echoApp, WF: echoWF, Key: echoKey, File: "echo.yml"},
		{ID: chain3App, WF: chain3WF, Key: chain3Key, File: "chain3.yml"},
		{ID: diamondApp, WF: diamondWF, Key: diamondKey, File: "diamond.yml"},
		{ID: blockApp, WF: blockWF, Key: blockKey, DSL: blockDSL},
		{ID: chatApp, WF: chatWF, Key: chatKey, File: "chat.yml"},
		{ID: chatBlockApp, WF: chatBlockWF, Key: chatBlockKey, DSL: chatBlockDSL},
		{ID: chain3ChatApp, WF: chain3ChatWF, Key: chain3ChatKey, File: "../internal/api/testdata/chain3_chat.yml"},
	}, o.apps...)...)
	cfg.Apps, cfg.Engine = store, eng
	records, _ := memory.New(memory.Config{})
	cfg.Records, cfg.Reader = record.Memory(records), records
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	srv, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{srv: srv, eng: eng, store: store, blocker: bl, logs: logs}
}

// do sends one request through the router in-process.
func (b *bundle) do(method, path, key, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	b.srv.ServeHTTP(rec, req)
	return rec
}

// waitStarted waits for a test-block node to start and returns its run id.
func (b *bundle) waitStarted(t testing.TB) string {
	t.Helper()
	select {
	case id := <-b.blocker.started:
		return id
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a block node to start")
		return ""
	}
}

// drain waits until the server has no run in flight.
func (b *bundle) drain(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.srv.Shutdown(ctx); err != nil {
		t.Fatalf("runs still in flight: %v", err)
	}
}

// errBody is a Dify error response.
type errBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// sseReader reads SSE frames from a live response.
type sseReader struct {
	r *bufio.Reader
}

// next returns the next frame without its trailing blank line: either
// "event: ping" or the JSON of a data frame.
func (s *sseReader) next() (string, error) {
	var frame strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if line == "\n" {
			return frame.String(), nil
		}
		frame.WriteString(strings.TrimSuffix(line, "\n"))
	}
}

// event is the common part of a data frame.
type event struct {
	Event         string          `json:"event"`
	WorkflowRunID string          `json:"workflow_run_id"`
	TaskID        string          `json:"task_id"`
	Data          json.RawMessage `json:"data"`
}

func parseEvent(t testing.TB, frame string) event {
	t.Helper()
	js, ok := strings.CutPrefix(frame, "data: ")
	if !ok {
		t.Fatalf("not a data frame: %q", frame)
	}
	var ev event
	if err := json.Unmarshal([]byte(js), &ev); err != nil {
		t.Fatalf("bad event JSON %q: %v", js, err)
	}
	return ev
}

// finished is workflow_finished data (and the blocking data object).
type finished struct {
	ID      string         `json:"id"`
	Status  string         `json:"status"`
	Outputs map[string]any `json:"outputs"`
	Error   *string        `json:"error"`
}

// readUntilFinished reads frames until workflow_finished and returns all
// data frames and its data.
func readUntilFinished(t testing.TB, s *sseReader) ([]event, finished) {
	t.Helper()
	var evs []event
	for {
		frame, err := s.next()
		if err != nil {
			t.Fatalf("stream ended before workflow_finished: %v (after %d events)", err, len(evs))
		}
		if frame == "event: ping" {
			continue
		}
		ev := parseEvent(t, frame)
		evs = append(evs, ev)
		if ev.Event == "workflow_finished" {
			var f finished
			if err := json.Unmarshal(ev.Data, &f); err != nil {
				t.Fatal(err)
			}
			return evs, f
		}
	}
}

// startStream posts a streaming run to a live server.
func startStream(ctx context.Context, t testing.TB, base, key, body string) (*http.Response, *sseReader) {
	t.Helper()
	return startStreamAt(ctx, t, base+"/v1/workflows/run", key, body)
}

// startStreamAt is startStream for any streaming endpoint.
func startStreamAt(ctx context.Context, t testing.TB, url, key, body string) (*http.Response, *sseReader) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, &sseReader{r: bufio.NewReader(resp.Body)}
}

func streamBody(query string) string {
	return fmt.Sprintf(`{"inputs": {"query": %q}, "user": "abc-123", "response_mode": "streaming"}`, query)
}

func blockingBody(query string) string {
	return fmt.Sprintf(`{"inputs": {"query": %q}, "user": "abc-123", "response_mode": "blocking"}`, query)
}
