package mcp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/tools"
	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

// Invoke calls the tool (tools/call) with the call's arguments, less
// those that are null or blank strings (as Dify does), and emits the
// result's messages (see result). The call is bounded by ctx and by the
// configured sse_read_timeout.
func (p *Provider) Invoke(ctx context.Context, call *tools.Call, emit tools.Emit) error {
	args := arguments(call.Args)
	before := p.oversized.Load()
	var res *mcp.CallToolResult
	err := p.do(ctx, unsent, func(ctx context.Context, s *mcp.ClientSession) error {
		ctx, cancel := context.WithTimeout(ctx, time.Duration(p.cfg.SSEReadTimeout))
		defer cancel()
		r, err := s.CallTool(ctx, &mcp.CallToolParams{Name: call.Tool, Arguments: args})
		res = r
		return err
	})
	if err != nil {
		if we, ok := serverError(err); ok && we.Code == jsonrpc.CodeInvalidParams {
			// How servers answer an unknown tool: it may have been
			// dropped, so list the tools again next time.
			p.cache.invalidate()
		}
		return p.failure(ctx, err, before)
	}
	return p.result(ctx, call.Tool, res, emit)
}

// arguments drops null and blank-string arguments (Dify's
// _handle_none_parameter).
func arguments(in map[string]any) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		if s, ok := v.(string); v == nil || ok && strings.TrimSpace(s) == "" {
			continue
		}
		out[k] = v
	}
	return out
}

// result emits a call's messages as Dify's MCPTool does:
//   - text: when its trimmed text is a JSON object, one json message; a
//     JSON array of objects, one json message each (none for []); any
//     other array, a text message with Python's str() of it; anything
//     else, the text as it is;
//   - image and audio: a blob with the content's MIME type;
//   - an embedded resource: its text, or its blob (MIME type defaulting
//     to application/octet-stream);
//   - other content (resource links): skipped;
//   - structuredContent, when the tool declares an output schema and it
//     is a non-empty object: one variable message per key (in key order).
//
// isError is not looked at, as in Dify: the error's content comes back
// as the tool's output.
func (p *Provider) result(ctx context.Context, tool string, res *mcp.CallToolResult, emit tools.Emit) error {
	for _, c := range res.Content {
		var msgs []tools.Message
		switch c := c.(type) {
		case *mcp.TextContent:
			m, err := textMessages(c.Text)
			if err != nil {
				return err
			}
			msgs = m
		case *mcp.ImageContent:
			msgs = []tools.Message{tools.BlobMessage(c.Data, c.MIMEType, "")}
		case *mcp.AudioContent:
			msgs = []tools.Message{tools.BlobMessage(c.Data, c.MIMEType, "")}
		case *mcp.EmbeddedResource:
			m, err := resourceMessage(c.Resource)
			if err != nil {
				return err
			}
			msgs = []tools.Message{m}
		}
		for _, m := range msgs {
			if err := emit(m); err != nil {
				return err
			}
		}
	}
	obj, _ := res.StructuredContent.(map[string]any)
	if len(obj) == 0 || !p.declaresOutput(ctx, tool) {
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if err := emit(tools.VariableMessage(k, obj[k])); err != nil {
			return err
		}
	}
	return nil
}

// declaresOutput reports whether the tool declares an output schema,
// listing the tools when they are not cached.
func (p *Provider) declaresOutput(ctx context.Context, tool string) bool {
	if _, ok := p.cache.get(p.opts.ListTTL); !ok {
		if _, err := p.Tools(ctx); err != nil {
			return false
		}
	}
	return p.cache.hasOutput(tool)
}

// textMessages maps a text content (see result).
func textMessages(text string) ([]tools.Message, error) {
	t := strings.TrimSpace(text)
	if t == "" || !strings.ContainsRune("{[", rune(t[0])) || !strings.ContainsRune("}]", rune(t[len(t)-1])) {
		return []tools.Message{tools.TextMessage(text)}, nil
	}
	v, err := pyjson.Loads(t)
	var depth *pyjson.DepthError
	switch {
	case errors.As(err, &depth):
		return nil, err // Python's RecursionError, which fails the node
	case err != nil:
		return []tools.Message{tools.TextMessage(text)}, nil
	}
	switch x := v.(type) {
	case *pyjson.Object:
		return []tools.Message{tools.JSONMessage(x.Map())}, nil
	case []any:
		msgs := make([]tools.Message, 0, len(x))
		for _, e := range x {
			o, ok := e.(*pyjson.Object)
			if !ok {
				return []tools.Message{tools.TextMessage(py.Str(pyjson.Plain(x)))}, nil
			}
			msgs = append(msgs, tools.JSONMessage(o.Map()))
		}
		return msgs, nil
	}
	return []tools.Message{tools.TextMessage(py.Str(pyjson.Plain(v)))}, nil
}

// resourceMessage maps an embedded resource (see result).
func resourceMessage(r *mcp.ResourceContents) (tools.Message, error) {
	switch {
	case r == nil:
		return tools.Message{}, tools.InvokeErrorf("Unsupported embedded resource type: %T", r)
	case r.Blob != nil:
		mime := r.MIMEType
		if mime == "" {
			mime = "application/octet-stream"
		}
		return tools.BlobMessage(r.Blob, mime, ""), nil
	}
	return tools.TextMessage(r.Text), nil
}

// failure maps a failed call or listing to the error Dify reports, a
// ToolInvokeError (the tool node says "Failed to invoke tool <provider>:
// <message>"):
//   - an error answer from the server: "Failed to connect to MCP server:
//     code=<code> message='<message>' data=<data>", Python's rendering of
//     the error Dify's session raises;
//   - no session: "Failed to connect to MCP server: <error>";
//   - a response beyond Options.MaxResponseBytes, the configured timeout,
//     or another failure: "Failed to invoke tool: <error>".
//
// When ctx ended, its error is returned as it is: the node reports its
// own timeout or stop. oversized is the count of cut responses before
// the call.
func (p *Provider) failure(ctx context.Context, err error, oversized int64) error {
	var ce *connectError
	we, answered := serverError(err)
	if !answered {
		errors.As(err, &we) // an HTTP error status with a JSON-RPC error body
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, ErrClosed):
		return tools.InvokeErrorf("Failed to invoke tool: %w", err)
	case p.oversized.Load() != oversized:
		return tools.InvokeErrorf("Failed to invoke tool: %w", &tooLargeError{p.opts.MaxResponseBytes})
	case we != nil && we.Code != errRejected.Code:
		return tools.InvokeErrorf("Failed to connect to MCP server: %s", errorData(we))
	case errors.As(err, &ce):
		return tools.InvokeErrorf("Failed to connect to MCP server: %w", ce.err)
	case errors.Is(err, context.DeadlineExceeded):
		return tools.InvokeErrorf("Failed to invoke tool: no answer from the MCP server within its timeout: %w", err)
	}
	return tools.InvokeErrorf("Failed to invoke tool: %w", err)
}

// rpcError is a JSON-RPC error.
type rpcError = jsonrpc.Error

// errRejected matches the SDK's error for a request that did not reach
// the server, or that it refused with an HTTP error status (it matches by
// code).
var errRejected = &rpcError{Code: -32005}

// serverError returns the error the server answered a request with.
func serverError(err error) (*rpcError, bool) {
	var e *rpcError
	return e, errors.As(err, &e) && !errors.Is(err, errRejected)
}

// connectError is a failure to open a session.
type connectError struct{ err error }

func (e *connectError) Error() string { return e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// errorData renders a JSON-RPC error as Python prints Dify's ErrorData.
func errorData(e *rpcError) string {
	data := "None"
	if len(e.Data) > 0 {
		if v, err := pyjson.Loads(string(e.Data)); err == nil {
			data = py.Repr(pyjson.Plain(v))
		}
	}
	return fmt.Sprintf("code=%d message=%s data=%s", e.Code, py.Repr(e.Message), data)
}
