package api_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/api"
)

// BenchmarkRunChain3Blocking measures one blocking chain3 run through the
// real router in-process: auth, body parsing, input validation, the run on
// its own goroutine, recording, and the response.
func BenchmarkRunChain3Blocking(b *testing.B) {
	bd := setup(b, options{mutate: func(c *api.Config) { c.Logger = slog.New(slog.DiscardHandler) }})
	const body = `{"inputs": {"query": "hello"}, "response_mode": "blocking", "user": "bench"}`
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/workflows/run", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+chain3Key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		bd.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkRunChain3Streaming is the same run answered as SSE.
func BenchmarkRunChain3Streaming(b *testing.B) {
	bd := setup(b, options{mutate: func(c *api.Config) { c.Logger = slog.New(slog.DiscardHandler) }})
	const body = `{"inputs": {"query": "hello"}, "response_mode": "streaming", "user": "bench"}`
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/workflows/run", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+chain3Key)
		rec := httptest.NewRecorder()
		bd.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// reportCPU adds a cpu-ns/op metric: process CPU time (user + system, all
// threads, GC included) per operation. Unlike ns/op it does not grow when
// other processes compete for the machine's cores.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkChatChain3Blocking is BenchmarkRunChain3Blocking's graph as a
// chatflow, one blocking turn of a new conversation each time: the chat
// API's cost over the workflow API's.
func BenchmarkChatChain3Blocking(b *testing.B) {
	bd := setup(b, options{mutate: func(c *api.Config) { c.Logger = slog.New(slog.DiscardHandler) }})
	const body = `{"query": "hello", "inputs": {"query": "hello"}, "response_mode": "blocking", "user": "bench"}`
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat-messages", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+chain3ChatKey)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		bd.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkChatChain3NextTurn continues one conversation: each turn reads
// the conversation (count, variables) before it runs.
func BenchmarkChatChain3NextTurn(b *testing.B) {
	bd := setup(b, options{mutate: func(c *api.Config) { c.Logger = slog.New(slog.DiscardHandler) }})
	first := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/chat-messages", strings.NewReader(`{"query": "hello", "inputs": {"query": "hello"}, "user": "bench"}`))
	req.Header.Set("Authorization", "Bearer "+chain3ChatKey)
	bd.srv.ServeHTTP(first, req)
	var conv struct {
		ID string `json:"conversation_id"`
	}
	if err := json.Unmarshal(first.Body.Bytes(), &conv); err != nil || conv.ID == "" {
		b.Fatalf("first turn: %s", first.Body)
	}
	body := `{"query": "hello", "inputs": {"query": "hello"}, "response_mode": "blocking", "user": "bench", "conversation_id": "` + conv.ID + `"}`
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat-messages", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+chain3ChatKey)
		rec := httptest.NewRecorder()
		bd.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
