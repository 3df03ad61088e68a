// Package openai is a small client for OpenAI-compatible chat completion
// APIs (POST {base}/chat/completions), streaming or not. It knows the wire
// format only; Dify's semantics live in package llm.
package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Errors a call can wrap, besides *APIError and the context's errors.
var (
	// ErrConnection matches every *ConnectionError.
	ErrConnection = errors.New("connection error")
	// ErrIdleTimeout is the cause when the server sends nothing for
	// Client.IdleTimeout; it comes wrapped in a *ConnectionError.
	ErrIdleTimeout = errors.New("no data from the model server within the idle timeout")
	// ErrBadResponse wraps a response that is not the expected JSON or
	// server-sent events, or an error object inside a stream.
	ErrBadResponse = errors.New("malformed response")
)

// ConnectionError is a failure to reach the server or to read its
// response. errors.Is(err, ErrConnection) holds for it.
type ConnectionError struct {
	Err error
}

func (e *ConnectionError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ConnectionError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrConnection) hold.
func (e *ConnectionError) Is(target error) bool { return target == ErrConnection }

// APIError is a non-2xx response. Its message follows openai-python's
// ("Error code: 429 - {body}"), which Dify shows in node errors.
type APIError struct {
	Status int
	Body   string
}

func (e *APIError) Error() string { return fmt.Sprintf("Error code: %d - %s", e.Status, e.Body) }

// Client calls one OpenAI-compatible server. The zero value is not usable:
// BaseURL is required.
type Client struct {
	// BaseURL is the API root, e.g. "https://api.openai.com/v1".
	BaseURL string
	// APIKey is sent as a bearer token when not empty.
	APIKey string
	// HTTP sends the requests (nil: http.DefaultClient).
	HTTP *http.Client
	// IdleTimeout bounds the wait for the response headers and, when
	// streaming, for each further piece of the body (0: no bound).
	IdleTimeout time.Duration
}

// Message is one chat message.
type Message struct {
	Role       string     `json:"role"`
	Content    string     `json:"content"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// ToolCall is a function call made by the assistant.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function FunctionCall `json:"function"`
}

// FunctionCall names the function and carries its JSON arguments.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Tool declares a function the model may call.
type Tool struct {
	Type     string   `json:"type"`
	Function Function `json:"function"`
}

// Function describes a callable function; Parameters is a JSON schema.
type Function struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Parameters  any    `json:"parameters,omitempty"`
}

// Usage is the token accounting of a completion.
type Usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

// ChatRequest is a chat completion request.
type ChatRequest struct {
	Model    string
	Messages []Message
	// Stream asks for server-sent events; usage is requested with
	// stream_options.include_usage.
	Stream bool
	Tools  []Tool
	// Params are further body fields (temperature, max_tokens, stop,
	// response_format, ...), sent as given.
	Params map[string]any
}

// MarshalJSON encodes the request body.
func (r *ChatRequest) MarshalJSON() ([]byte, error) {
	body := make(map[string]any, len(r.Params)+5)
	for k, v := range r.Params {
		body[k] = v
	}
	body["model"] = r.Model
	body["messages"] = r.Messages
	if r.Stream {
		body["stream"] = true
		body["stream_options"] = map[string]any{"include_usage": true}
	}
	if len(r.Tools) > 0 {
		body["tools"] = r.Tools
	}
	return json.Marshal(body)
}

// Delta is one streamed piece of the answer: visible content or reasoning
// (the reasoning_content some servers stream separately), or, with
// ToolCall set, the news that the chunk carried a piece of a tool call.
type Delta struct {
	Content   string
	Reasoning string
	ToolCall  bool
}

// Result is a finished completion.
type Result struct {
	Content      string
	Reasoning    string
	ToolCalls    []ToolCall
	FinishReason string
	// Usage is nil when the server did not report it.
	Usage *Usage
}

// Chat sends req. When req.Stream is set, onDelta (which may be nil)
// receives each piece as it arrives, on the calling goroutine (a tool
// call's pieces as Delta.ToolCall; the calls themselves are in the
// Result). Cancelling
// ctx aborts the request and the stream.
func (c *Client) Chat(ctx context.Context, req *ChatRequest, onDelta func(Delta)) (*Result, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := c.startIdle(cancel)
	defer idle.stop()

	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.BaseURL, "/")+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, &ConnectionError{Err: err}
	}
	hreq.Header.Set("Content-Type", "application/json")
	if req.Stream {
		hreq.Header.Set("Accept", "text/event-stream")
	}
	if c.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hreq)
	if err != nil {
		return nil, c.readErr(ctx, err)
	}
	defer resp.Body.Close()
	idle.touch()
	if resp.StatusCode/100 != 2 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, &APIError{Status: resp.StatusCode, Body: strings.TrimSpace(string(data))}
	}
	if !req.Stream {
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, c.readErr(ctx, err)
		}
		return decodeResponse(data)
	}
	res, err := readStream(resp.Body, idle, onDelta)
	if err != nil {
		return res, c.readErr(ctx, err)
	}
	return res, nil
}

// readErr turns a transport or read error into the error the caller sees:
// the caller's own cancellation as is, an idle timeout or I/O failure as
// ErrConnection.
func (c *Client) readErr(ctx context.Context, err error) error {
	if errors.Is(err, ErrBadResponse) {
		return err
	}
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, ErrIdleTimeout):
		return &ConnectionError{Err: ErrIdleTimeout}
	case cause != nil:
		// The caller's context ended: report its cause, not the read error.
		return cause
	}
	return &ConnectionError{Err: err}
}

// idleTimer cancels the request when nothing arrives for the idle timeout.
type idleTimer struct {
	t *time.Timer
	d time.Duration
}

func (c *Client) startIdle(cancel context.CancelCauseFunc) *idleTimer {
	if c.IdleTimeout <= 0 {
		return &idleTimer{}
	}
	return &idleTimer{t: time.AfterFunc(c.IdleTimeout, func() { cancel(ErrIdleTimeout) }), d: c.IdleTimeout}
}

func (t *idleTimer) touch() {
	if t.t != nil {
		t.t.Reset(t.d)
	}
}

func (t *idleTimer) stop() {
	if t.t != nil {
		t.t.Stop()
	}
}

type wireError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    any    `json:"code"`
}

type wireToolCall struct {
	Index    int    `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type wireMessage struct {
	Content          *string        `json:"content"`
	ReasoningContent *string        `json:"reasoning_content"`
	Reasoning        *string        `json:"reasoning"`
	ToolCalls        []wireToolCall `json:"tool_calls"`
}

type wireChunk struct {
	Choices []struct {
		Delta        wireMessage `json:"delta"`
		Message      wireMessage `json:"message"`
		FinishReason *string     `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage     `json:"usage"`
	Error *wireError `json:"error"`
}

func (m *wireMessage) reasoning() string {
	if m.ReasoningContent != nil {
		return *m.ReasoningContent
	}
	if m.Reasoning != nil {
		return *m.Reasoning
	}
	return ""
}

func decodeResponse(data []byte) (*Result, error) {
	var w wireChunk
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	if w.Error != nil {
		return nil, fmt.Errorf("%w: %s", ErrBadResponse, w.Error.Message)
	}
	res := &Result{Usage: w.Usage}
	if len(w.Choices) > 0 {
		ch := w.Choices[0]
		if ch.Message.Content != nil {
			res.Content = *ch.Message.Content
		}
		res.Reasoning = ch.Message.reasoning()
		if ch.FinishReason != nil {
			res.FinishReason = *ch.FinishReason
		}
		for _, tc := range ch.Message.ToolCalls {
			res.ToolCalls = append(res.ToolCalls, ToolCall{ID: tc.ID, Type: tc.Type, Function: FunctionCall{Name: tc.Function.Name, Arguments: tc.Function.Arguments}})
		}
	}
	return res, nil
}

// readStream consumes server-sent events until [DONE] or the end of the
// body, calling onDelta for each piece of content or reasoning.
func readStream(body io.Reader, idle *idleTimer, onDelta func(Delta)) (*Result, error) {
	res := &Result{}
	var content, reasoning strings.Builder
	calls := map[int]*ToolCall{}
	var order []int
	br := bufio.NewReaderSize(body, 32<<10)
	var data []byte
	finish := func() *Result {
		res.Content, res.Reasoning = content.String(), reasoning.String()
		for _, i := range order {
			res.ToolCalls = append(res.ToolCalls, *calls[i])
		}
		return res
	}
	handle := func(payload []byte) (done bool, err error) {
		payload = bytes.TrimSpace(payload)
		if len(payload) == 0 {
			return false, nil
		}
		if string(payload) == "[DONE]" {
			return true, nil
		}
		var w wireChunk
		if err := json.Unmarshal(payload, &w); err != nil {
			return false, fmt.Errorf("%w: stream event: %v", ErrBadResponse, err)
		}
		if w.Error != nil {
			return false, fmt.Errorf("%w: %s", ErrBadResponse, w.Error.Message)
		}
		if w.Usage != nil {
			res.Usage = w.Usage
		}
		for _, ch := range w.Choices {
			d := Delta{Reasoning: ch.Delta.reasoning(), ToolCall: len(ch.Delta.ToolCalls) > 0}
			if ch.Delta.Content != nil {
				d.Content = *ch.Delta.Content
			}
			content.WriteString(d.Content)
			reasoning.WriteString(d.Reasoning)
			if (d.Content != "" || d.Reasoning != "" || d.ToolCall) && onDelta != nil {
				onDelta(d)
			}
			for _, tc := range ch.Delta.ToolCalls {
				call, ok := calls[tc.Index]
				if !ok {
					call = &ToolCall{Type: "function"}
					calls[tc.Index] = call
					order = append(order, tc.Index)
				}
				if tc.ID != "" {
					call.ID = tc.ID
				}
				if tc.Type != "" {
					call.Type = tc.Type
				}
				call.Function.Name += tc.Function.Name
				call.Function.Arguments += tc.Function.Arguments
			}
			if ch.FinishReason != nil && *ch.FinishReason != "" && res.FinishReason == "" {
				res.FinishReason = *ch.FinishReason
			}
		}
		return false, nil
	}
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			idle.touch()
		}
		trimmed := bytes.TrimRight(line, "\r\n")
		switch {
		case len(trimmed) == 0 && len(line) > 0:
			// A blank line ends an event.
			done, herr := handle(data)
			data = data[:0]
			if herr != nil || done {
				return finish(), herr
			}
		case bytes.HasPrefix(trimmed, []byte("data:")):
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, bytes.TrimPrefix(bytes.TrimPrefix(trimmed, []byte("data:")), []byte(" "))...)
		}
		// Other fields (event:, id:, retry:) and comments are ignored.
		if err != nil {
			if err == io.EOF {
				done, herr := handle(data)
				_ = done
				return finish(), herr
			}
			return finish(), err
		}
	}
}
