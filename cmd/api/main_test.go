package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/repo/memory"
	"github.com/flowrun/flowrun/internal/run"
)

// The tests below set environment variables, so they cannot run in
// parallel.

func TestRunMainRejectsBadConfig(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantErr string
	}{
		{map[string]string{"WORKFLOW_REPO_MODE": "sync"}, "WORKFLOW_REPO_MODE=sync needs DATABASE_URL"},
		{map[string]string{"WORKFLOW_REPO_MODE": "async"}, "WORKFLOW_REPO_MODE=async needs [REDIS_URL DATABASE_URL (for reading runs)]"},
		{map[string]string{"WORKFLOW_REPO_MODE": "async", "DATABASE_URL": "postgres://127.0.0.1:1/x"}, "WORKFLOW_REPO_MODE=async needs [REDIS_URL]"},
		{map[string]string{"WORKFLOW_REPO_MODE": "sync", "DATABASE_URL": "postgres://flowrun@127.0.0.1:1/x?connect_timeout=2"}, "connect database"},
		{map[string]string{"WORKFLOW_REPO_MODE": "nope"}, `invalid WORKFLOW_REPO_MODE "nope": want memory, sync or async`},
		{map[string]string{"APP_MAX_ACTIVE_REQUESTS": "many"}, "APP_MAX_ACTIVE_REQUESTS"},
		{map[string]string{"LOG_LEVEL": "loud"}, "invalid LOG_LEVEL"},
		{map[string]string{"APPS_DIR": t.TempDir()}, "loading apps"},
		{map[string]string{"WORKFLOW_MAX_EXECUTION_TIME": "0"}, "must be positive"},
		{map[string]string{"SHUTDOWN_GRACE": "0s"}, "SHUTDOWN_GRACE must be positive"},
		{map[string]string{"DSL_MAX_DEPTH": "-1"}, "DSL_MAX_DEPTH must be positive"},
		// Apps loaded at startup are held to the document limits too.
		{map[string]string{"DSL_MAX_NODES": "2"}, "(limit DSL_MAX_NODES=2)"},
		{map[string]string{"DSL_MAX_BYTES": "100"}, "(limit DSL_MAX_BYTES=100)"},
		{map[string]string{"ASYNC_ACK": "bogus"}, `invalid ASYNC_ACK "bogus": want buffered or enqueued`},
		{map[string]string{"CHAT_MODEL": "openai:gpt-4o"}, "CHAT_MODEL needs LLM_PROVIDERS"},
		{map[string]string{"TOOLS_FILE": "/nonexistent/tools.yaml"}, "configuration: TOOLS_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.wantErr, func(t *testing.T) {
			t.Setenv("APPS_DIR", "../../examples")
			t.Setenv("ADDR", "127.0.0.1:0")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			err := runMain(context.Background(), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("runMain = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// signalWriter captures the log and reports the listening address.
type signalWriter struct {
	mu      sync.Mutex
	buf     strings.Builder
	scanned int // bytes of buf in whole lines already matched
	addr    chan string
}

var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// Write matches whole lines only: from a pipe (a process's log) a line
// may come in pieces.
func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	rest := w.buf.String()[w.scanned:]
	if i := strings.LastIndexByte(rest, '\n'); i >= 0 {
		if m := listening.FindStringSubmatch(rest[:i]); m != nil {
			w.addr <- m[1]
		}
		w.scanned += i + 1
	}
	return len(p), nil
}

func TestRunMainServesExamplesAndShutsDown(t *testing.T) {
	t.Setenv("APPS_DIR", "../../examples")
	t.Setenv("ADDR", "127.0.0.1:0")
	t.Setenv("ADMIN_API_KEY", "")
	svc := startMain(t)
	addr := svc.addr
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/workflows/run",
		strings.NewReader(`{"inputs": {"query": "hi"}, "user": "u"}`))
	req.Header.Set("Authorization", "Bearer app-flowrun-echo-local-only")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"outputs": {"answer": "hi"}`) {
		t.Fatalf("run: %d %s", resp.StatusCode, body)
	}
	svc.stop(t)
}

func TestWorkflowEnv(t *testing.T) {
	t.Parallel()
	got := workflowEnv([]string{"WORKFLOW_ENV_API_KEY=a=b", "WORKFLOW_ENV_=x", "PATH=/bin", "WORKFLOW_ENVX=y"})
	if len(got) != 1 || got["API_KEY"] != "a=b" {
		t.Fatalf("workflowEnv = %v", got)
	}
}

func TestLLMConfigFromEnv(t *testing.T) {
	t.Parallel()
	nc := nodeConfig{LLMProviders: []string{"openai", "deep-seek"}, LLMModelMap: "gpt-4o=gpt-4o-mini", LLMDefaultProvider: "openai"}
	cfg, err := llmConfig(nc, []string{
		"LLM_PROVIDER_OPENAI_BASE_URL=http://127.0.0.1:9/v1", "LLM_PROVIDER_OPENAI_API_KEY=k",
		"LLM_PROVIDER_DEEP_SEEK_BASE_URL=http://127.0.0.1:8/v1", "LLM_PROVIDER_DEEP_SEEK_MODEL_MAP=gpt-4o=deepseek-chat", "LLM_PROVIDER_DEEP_SEEK_TOOL_CALLS=false",
	})
	if err != nil {
		t.Fatal(err)
	}
	o, d := cfg.Providers["openai"], cfg.Providers["deep-seek"]
	if o.APIKey != "k" || o.Models["gpt-4o"] != "gpt-4o-mini" || d.Models["gpt-4o"] != "deepseek-chat" || !d.NoToolCalls || cfg.DefaultProvider != "openai" {
		t.Fatalf("config %+v", cfg)
	}
	if _, err := llmConfig(nodeConfig{LLMProviders: []string{"x"}}, nil); err == nil || !strings.Contains(err.Error(), "LLM_PROVIDER_X_BASE_URL") {
		t.Fatalf("missing base url: %v", err)
	}
	if _, err := llmConfig(nodeConfig{LLMModelMap: "nonsense"}, nil); err == nil {
		t.Fatal("bad model map accepted")
	}
}

func TestMemoryLimit(t *testing.T) {
	def := config{AsyncMaxBuffered: 20000, RunHistorySize: 1000}
	if got := def.memoryLimit(); got != baseMemoryLimit {
		t.Errorf("default sizes: limit %d, want %d", got, baseMemoryLimit)
	}
	big := config{AsyncMaxBuffered: 120000, RunHistorySize: 11000, RunHistoryMaxBytes: memory.DefaultMaxBytes + 1<<30, SSEMaxBufferedTotal: api.DefaultStreamBufferBytesTotal + 1<<20,
		MaxBodyBytesInFlight: api.DefaultMaxBodyBytesInFlight + 1<<20}
	want := int64(baseMemoryLimit) + 100000*bufferedRecordBytes + 10000*historyRunBytes + 1<<30 + 1<<20 + 2<<20
	if got := big.memoryLimit(); got != want {
		t.Errorf("raised sizes: limit %d, want %d", got, want)
	}
}

// service is runMain serving in-process, configured by the environment.
type service struct {
	addr   string
	out    *signalWriter
	cancel context.CancelFunc
	done   chan error
}

// startMain runs runMain until the test ends or stop is called, and
// returns once it listens.
func startMain(t *testing.T, extra ...run.NodeType) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{out: &signalWriter{addr: make(chan string, 1)}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- runMain(ctx, s.out, extra...) }()
	t.Cleanup(cancel)
	select {
	case s.addr = <-s.out.addr:
	case err := <-s.done:
		t.Fatalf("runMain returned early: %v\n%s", err, s.out.String())
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start")
	}
	return s
}

// stop cancels runMain and checks that it returns nil in time.
func (s *service) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("runMain after cancel = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("runMain did not return after cancel")
	}
}

// String is what the service logged so far.
func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
