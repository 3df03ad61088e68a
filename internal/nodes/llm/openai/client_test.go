package openai

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func server(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return &Client{BaseURL: s.URL + "/v1/", APIKey: "k", HTTP: s.Client()}
}

func TestStreamParsing(t *testing.T) {
	t.Parallel()
	var body map[string]any
	c := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer k" || r.Header.Get("Accept") != "text/event-stream" {
			http.Error(w, "bad request line", 400)
			return
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		// CRLF line ends, a comment, an event: field, a data field split
		// over two lines, tool call deltas and usage in the last event.
		io.WriteString(w, ": keep-alive\r\n\r\n")
		io.WriteString(w, "event: message\r\ndata: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hm\"}}]}\r\n\r\n")
		io.WriteString(w, "data: {\"choices\":[{\"delta\":\ndata: {\"content\":\"Hi\"}}]}\n\n")
		io.WriteString(w, `data: {"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]}}]}`+"\n\n")
		io.WriteString(w, `data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]}`+"\n\n")
		io.WriteString(w, `data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`+"\n\n")
		io.WriteString(w, "data: [DONE]\n\n")
	})
	var deltas []Delta
	res, err := c.Chat(context.Background(), &ChatRequest{Model: "m", Messages: []Message{{Role: "user", Content: "x"}}, Stream: true,
		Params: map[string]any{"temperature": 0.5, "model": "overridden"}}, func(d Delta) { deltas = append(deltas, d) })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(deltas, []Delta{{Reasoning: "hm"}, {Content: "Hi"}, {ToolCall: true}, {ToolCall: true}}) {
		t.Fatalf("deltas %+v", deltas)
	}
	want := &Result{Content: "Hi", Reasoning: "hm", FinishReason: "tool_calls",
		ToolCalls: []ToolCall{{ID: "c1", Type: "function", Function: FunctionCall{Name: "f", Arguments: `{"a":1}`}}},
		Usage:     &Usage{PromptTokens: 3, CompletionTokens: 2, TotalTokens: 5}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("result %+v", res)
	}
	if body["model"] != "m" || body["temperature"] != 0.5 || body["stream"] != true ||
		!reflect.DeepEqual(body["stream_options"], map[string]any{"include_usage": true}) {
		t.Fatalf("body %v", body)
	}
}

func TestBlocking(t *testing.T) {
	t.Parallel()
	c := server(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"ok","tool_calls":[{"id":"x","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	})
	res, err := c.Chat(context.Background(), &ChatRequest{Model: "m"}, nil)
	if err != nil || res.Content != "ok" || res.FinishReason != "stop" || len(res.ToolCalls) != 1 || res.Usage.TotalTokens != 2 {
		t.Fatalf("%+v, %v", res, err)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	c := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("X-Case") {
		case "status":
			http.Error(w, `{"error":{"message":"nope"}}`, http.StatusTooManyRequests)
		case "instream":
			io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"overloaded\"}}\n\n")
		case "garbage":
			io.WriteString(w, "data: {oops\n\n")
		}
	})
	call := func(name string) error {
		hc := *c.HTTP
		hc.Transport = headerRT{name, c.HTTP.Transport}
		cc := *c
		cc.HTTP = &hc
		_, err := cc.Chat(context.Background(), &ChatRequest{Model: "m", Stream: true}, nil)
		return err
	}
	var api *APIError
	if err := call("status"); !errors.As(err, &api) || api.Status != 429 || err.Error() != `Error code: 429 - {"error":{"message":"nope"}}` {
		t.Fatalf("status: %v", err)
	}
	if err := call("instream"); !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "overloaded") {
		t.Fatalf("instream: %v", err)
	}
	if err := call("garbage"); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("garbage: %v", err)
	}
}

type headerRT struct {
	v    string
	next http.RoundTripper
}

func (h headerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Case", h.v)
	return h.next.RoundTrip(r)
}

func TestCancelAndIdleTimeout(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 2)
	c := server(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n")
		w.(http.Flusher).Flush()
		started <- struct{}{}
		<-r.Context().Done()
	})
	stop := errors.New("stopped")
	ctx, cancel := context.WithCancelCause(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Chat(ctx, &ChatRequest{Model: "m", Stream: true}, nil)
		errc <- err
	}()
	<-started
	cancel(stop)
	if err := <-errc; !errors.Is(err, stop) {
		t.Fatalf("cancel: %v", err)
	}

	c.IdleTimeout = 30 * time.Millisecond
	_, err := c.Chat(context.Background(), &ChatRequest{Model: "m", Stream: true}, nil)
	if !errors.Is(err, ErrConnection) || !errors.Is(err, ErrIdleTimeout) {
		t.Fatalf("idle: %v", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	s := httptest.NewServer(http.NotFoundHandler())
	s.Close()
	c := &Client{BaseURL: s.URL}
	_, err := c.Chat(context.Background(), &ChatRequest{Model: "m"}, nil)
	var ce *ConnectionError
	if !errors.As(err, &ce) || !errors.Is(err, ErrConnection) {
		t.Fatalf("%v", err)
	}
}
