package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
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
	lat := newLatencies(b)
	defer lat.report()
	for b.Loop() {
		start := time.Now()
		req := httptest.NewRequest(http.MethodPost, "/v1/workflows/run", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+chain3Key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		bd.srv.ServeHTTP(rec, req)
		lat.add(time.Since(start))
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
	lat := newLatencies(b)
	defer lat.report()
	for b.Loop() {
		start := time.Now()
		req := httptest.NewRequest(http.MethodPost, "/v1/chat-messages", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+chain3ChatKey)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		bd.srv.ServeHTTP(rec, req)
		lat.add(time.Since(start))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkChatChain3NextTurn continues conversations: each turn reads
// its conversation (count, variables) before it runs. A conversation
// takes ten turns, then the next one starts, so that conversations stay
// as long as real ones rather than growing with b.N.
func BenchmarkChatChain3NextTurn(b *testing.B) {
	bd := setup(b, options{mutate: func(c *api.Config) { c.Logger = slog.New(slog.DiscardHandler) }})
	const turns = 10
	newConversation := func() string {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/v1/chat-messages", strings.NewReader(`{"query": "hello", "inputs": {"query": "hello"}, "user": "bench"}`))
		req.Header.Set("Authorization", "Bearer "+chain3ChatKey)
		bd.srv.ServeHTTP(rec, req)
		var conv struct {
			ID string `json:"conversation_id"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &conv); err != nil || conv.ID == "" {
			b.Fatalf("first turn: %s", rec.Body)
		}
		return conv.ID
	}
	var body string
	b.ReportAllocs()
	defer reportCPU(b)()
	lat := newLatencies(b)
	defer lat.report()
	i := 0
	for b.Loop() {
		if i%turns == 0 {
			b.StopTimer()
			body = `{"query": "hello", "inputs": {"query": "hello"}, "response_mode": "blocking", "user": "bench", "conversation_id": "` + newConversation() + `"}`
			b.StartTimer()
		}
		i++
		start := time.Now()
		req := httptest.NewRequest(http.MethodPost, "/v1/chat-messages", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+chain3ChatKey)
		rec := httptest.NewRecorder()
		bd.srv.ServeHTTP(rec, req)
		lat.add(time.Since(start))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// latencies collects per-operation latencies and reports their median as
// p50-ns/op: the chat API's target is stated as a ratio of medians.
type latencies struct {
	b  *testing.B
	ds []time.Duration
}

func newLatencies(b *testing.B) *latencies { return &latencies{b: b} }

func (l *latencies) add(d time.Duration) { l.ds = append(l.ds, d) }

func (l *latencies) report() {
	if len(l.ds) > 0 {
		l.b.ReportMetric(l.p50(), "p50-ns/op")
	}
}

// p50 is the median in nanoseconds, 0 when there is none.
func (l *latencies) p50() float64 {
	if len(l.ds) == 0 {
		return 0
	}
	slices.Sort(l.ds)
	return float64(l.ds[len(l.ds)/2].Nanoseconds())
}

// BenchmarkHTTPChain3 compares, over loopback TCP with keep-alive (what a
// client measures), a chain3 workflow run, the same graph's chat turn in
// a new conversation, and its next turns (ten per conversation). The
// three run interleaved, one request of each in turn, so that they share
// the machine's state; each reports its own p50.
func BenchmarkHTTPChain3(b *testing.B) {
	bd := setup(b, options{mutate: func(c *api.Config) { c.Logger = slog.New(slog.DiscardHandler) }})
	ts := httptest.NewServer(bd.srv)
	b.Cleanup(ts.Close)
	client := ts.Client()
	post := func(path, key, body string) []byte {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d %s", path, resp.StatusCode, raw)
		}
		return raw
	}
	const (
		runBody  = `{"inputs": {"query": "hello"}, "response_mode": "blocking", "user": "bench"}`
		chatBody = `{"query": "hello", "inputs": {"query": "hello"}, "response_mode": "blocking", "user": "bench", "conversation_id": "%s"}`
	)
	var runs, firsts, nexts []time.Duration
	timed := func(into *[]time.Duration, path, key, body string) []byte {
		start := time.Now()
		raw := post(path, key, body)
		*into = append(*into, time.Since(start))
		return raw
	}
	conv := ""
	i := 0
	for b.Loop() {
		timed(&runs, "/v1/workflows/run", chain3Key, runBody)
		if i%10 == 0 {
			var out struct {
				ID string `json:"conversation_id"`
			}
			json.Unmarshal(timed(&firsts, "/v1/chat-messages", chain3ChatKey, fmt.Sprintf(chatBody, "")), &out)
			conv = out.ID
		} else {
			timed(&nexts, "/v1/chat-messages", chain3ChatKey, fmt.Sprintf(chatBody, conv))
		}
		i++
	}
	p50 := func(ds []time.Duration) float64 {
		if len(ds) == 0 {
			return 0
		}
		slices.Sort(ds)
		return float64(ds[len(ds)/2].Nanoseconds())
	}
	b.ReportMetric(p50(runs), "run-p50-ns")
	b.ReportMetric(p50(firsts), "first-turn-p50-ns")
	b.ReportMetric(p50(nexts), "next-turn-p50-ns")
	if r := p50(runs); r > 0 {
		b.ReportMetric(p50(nexts)/r, "next/run-p50")
		b.ReportMetric(p50(firsts)/r, "first/run-p50")
	}
}
