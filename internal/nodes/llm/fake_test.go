package llm

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
)

// reply scripts one response of the fake OpenAI-compatible server.
type reply struct {
	// Status, when not 200, fails the request with Body.
	Status int
	Body   string
	// Chunks are the content pieces, streamed one event each (joined when
	// the request does not stream). Reasoning pieces are streamed first as
	// reasoning_content.
	Chunks    []string
	Reasoning []string
	ToolCalls []openai.ToolCall
	// Usage defaults to 7 prompt tokens and one completion token per chunk.
	Usage  *openai.Usage
	Finish string
	// Gate, when set, is waited for after the first chunk: the test sees
	// that chunk arrive before the rest is sent.
	Gate chan struct{}
	// Block keeps the response open after the chunks until the client
	// goes away.
	Block bool
}

// received is a request as the fake server saw it.
type received struct {
	Body    map[string]any
	Req     openai.ChatRequest
	Header  http.Header
	Arrived time.Time
	// FirstByte is when the first body byte was written.
	FirstByte time.Time
	// Aborted is closed when the handler saw the client go away.
	Aborted chan struct{}
}

// fakeServer is an OpenAI-compatible chat completion server for tests.
type fakeServer struct {
	*httptest.Server
	mu    sync.Mutex
	reqs  []*received
	reply func(n int, r *received) reply
}

func newFake(t testing.TB, script func(n int, r *received) reply) *fakeServer {
	t.Helper()
	f := &fakeServer{reply: script}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// say answers every request with the same text, in the given pieces.
func say(pieces ...string) func(int, *received) reply {
	return func(int, *received) reply { return reply{Chunks: pieces} }
}

// step is one request of a scripted exchange: the exact messages it must
// carry ("role: content", as messages renders them) and the answer.
type step struct {
	want   []string
	answer string
}

// expect answers request n with steps[n].answer once it has checked that
// the request carries exactly steps[n].want. A request that differs, or
// one more than scripted, fails the test and is refused with a 400, so
// the node fails too.
func expect(t testing.TB, steps ...step) func(int, *received) reply {
	return func(n int, r *received) reply {
		got := messages(r.Req.Messages)
		if n >= len(steps) {
			t.Errorf("request %d was not expected:\n  %s", n, strings.Join(got, "\n  "))
			return reply{Status: http.StatusBadRequest, Body: `{"error": {"message": "unexpected request"}}`}
		}
		if !slices.Equal(got, steps[n].want) {
			t.Errorf("request %d messages\n got:\n  %s\nwant:\n  %s", n, strings.Join(got, "\n  "), strings.Join(steps[n].want, "\n  "))
			return reply{Status: http.StatusBadRequest, Body: `{"error": {"message": "unexpected messages"}}`}
		}
		return reply{Chunks: []string{steps[n].answer}}
	}
}

// requests returns copies of the requests received so far.
func (f *fakeServer) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]received, len(f.reqs))
	for i, r := range f.reqs {
		out[i] = *r
	}
	return out
}

// wrote records the first byte written for rec.
func (f *fakeServer) wrote(rec *received) {
	f.mu.Lock()
	if rec.FirstByte.IsZero() {
		rec.FirstByte = time.Now()
	}
	f.mu.Unlock()
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	rec := &received{Header: r.Header.Clone(), Arrived: time.Now(), Aborted: make(chan struct{})}
	if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	var raw json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_ = json.Unmarshal(raw, &rec.Body)
	var wire struct {
		Model    string           `json:"model"`
		Messages []openai.Message `json:"messages"`
		Stream   bool             `json:"stream"`
		Tools    []openai.Tool    `json:"tools"`
	}
	_ = json.Unmarshal(raw, &wire)
	rec.Req = openai.ChatRequest{Model: wire.Model, Messages: wire.Messages, Stream: wire.Stream, Tools: wire.Tools}
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, rec)
	f.mu.Unlock()

	rp := f.reply(n, rec)
	if rp.Status != 0 && rp.Status != http.StatusOK {
		f.wrote(rec)
		w.WriteHeader(rp.Status)
		fmt.Fprint(w, rp.Body)
		return
	}
	usage := rp.Usage
	if usage == nil {
		usage = &openai.Usage{PromptTokens: 7, CompletionTokens: int64(len(rp.Chunks) + len(rp.Reasoning))}
		usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
	}
	finish := rp.Finish
	if finish == "" {
		finish = "stop"
		if len(rp.ToolCalls) > 0 {
			finish = "tool_calls"
		}
	}
	if !wire.Stream {
		msg := map[string]any{"role": "assistant", "content": strings.Join(rp.Chunks, "")}
		if len(rp.ToolCalls) > 0 {
			msg["tool_calls"] = rp.ToolCalls
		}
		if len(rp.Reasoning) > 0 {
			msg["reasoning_content"] = strings.Join(rp.Reasoning, "")
		}
		body, _ := json.Marshal(map[string]any{
			"id": "cmpl-1", "object": "chat.completion", "model": wire.Model,
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
			"usage":   usage,
		})
		w.Header().Set("Content-Type", "application/json")
		f.wrote(rec)
		_, _ = w.Write(body)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	send := func(v any) bool {
		b, _ := json.Marshal(v)
		f.wrote(rec)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	delta := func(d map[string]any) map[string]any {
		return map[string]any{"id": "cmpl-1", "object": "chat.completion.chunk", "model": wire.Model,
			"choices": []any{map[string]any{"index": 0, "delta": d, "finish_reason": nil}}}
	}
	pieces := 0
	gate := func() bool {
		pieces++
		if pieces == 1 && rp.Gate != nil {
			select {
			case <-rp.Gate:
			case <-r.Context().Done():
				close(rec.Aborted)
				return false
			}
		}
		return true
	}
	for _, s := range rp.Reasoning {
		if !send(delta(map[string]any{"role": "assistant", "reasoning_content": s})) || !gate() {
			return
		}
	}
	for _, s := range rp.Chunks {
		if !send(delta(map[string]any{"role": "assistant", "content": s})) || !gate() {
			return
		}
	}
	for i, tc := range rp.ToolCalls {
		send(delta(map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": tc.ID, "type": "function",
			"function": map[string]any{"name": tc.Function.Name, "arguments": tc.Function.Arguments}}}}))
	}
	if rp.Block {
		<-r.Context().Done()
		close(rec.Aborted)
		return
	}
	send(map[string]any{"id": "cmpl-1", "object": "chat.completion.chunk", "model": wire.Model,
		"choices": []any{map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": finish}}})
	send(map[string]any{"id": "cmpl-1", "object": "chat.completion.chunk", "model": wire.Model, "choices": []any{}, "usage": usage})
	fmt.Fprint(w, "data: [DONE]\n\n")
	fl.Flush()
}

// config points every provider at the fake server.
func (f *fakeServer) config() Config {
	return Config{
		Providers:       map[string]Provider{"openai": {BaseURL: f.URL + "/v1", APIKey: "sk-test"}},
		DefaultProvider: "openai",
		HTTPClient:      f.Client(),
	}
}
