package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/tools"
	mcptool "github.com/flowrun/flowrun/internal/tools/mcp"
)

// BenchmarkMCPCall is one tool call over loopback on an open session,
// through tools.Provider, to a tool that answers at once: what a call
// costs beyond the tool's own time. Against the SDK's server, answering
// with an SSE stream (its default) or with JSON, that includes the
// server's SDK; against a minimal server that answers from canned bytes,
// it is the client's cost and loopback HTTP. Each reports its p50
// (target: 300 µs).
func BenchmarkMCPCall(b *testing.B) {
	for _, c := range []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"sdk-server-sse-answer", func(b *testing.B) string { return newServer(b, serverOptions{}).URL }},
		{"sdk-server-json-answer", func(b *testing.B) string { return newServer(b, serverOptions{json: true}).URL }},
		{"minimal-server", minimalServer},
	} {
		b.Run(c.name, func(b *testing.B) {
			p, err := mcptool.New(tools.MCPConfig{URL: c.url(b)}, mcptool.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = p.Close() })
			ctx := context.Background()
			call := &tools.Call{Tool: "reply", Args: map[string]any{"text": "hello"}}
			var got string
			emit := func(m tools.Message) error { got = m.Text; return nil }
			if err := p.Invoke(ctx, call, emit); err != nil { // open the session
				b.Fatal(err)
			}
			var lat []time.Duration
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				if err := p.Invoke(ctx, call, emit); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			if got != "hello" {
				b.Fatalf("got %q", got)
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns/op")
		})
	}
}

// minimalServer starts a sessionless streamable HTTP MCP server that
// answers initialize and every tools/call at once, from canned JSON.
func minimalServer(b *testing.B) string {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if req.ID == nil {
			w.WriteHeader(http.StatusAccepted) // a notification
			return
		}
		var result string
		switch req.Method {
		case "initialize":
			result = `{"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "minimal", "version": "1"}}`
		case "tools/call":
			result = `{"content": [{"type": "text", "text": "hello"}]}`
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc": "2.0", "id": %s, "error": {"code": -32601, "message": "method not found"}}`, req.ID)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc": "2.0", "id": %s, "result": %s}`, req.ID, result)
	}))
	b.Cleanup(ts.Close)
	return ts.URL + "/mcp"
}
