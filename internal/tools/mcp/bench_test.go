package mcp_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/tools"
	mcptool "github.com/flowrun/flowrun/internal/tools/mcp"
)

// BenchmarkMCPCall is one tool call over loopback on an open session,
// through tools.Provider, to a tool that answers at once: what a call
// costs beyond the tool's own time (the client, HTTP over TCP, and the
// SDK's server). The server answers with an SSE stream (the SDK's
// default) or with JSON. Each reports its p50 (target: 300 µs).
func BenchmarkMCPCall(b *testing.B) {
	for _, c := range []struct {
		name string
		o    serverOptions
	}{{"sse-answer", serverOptions{}}, {"json-answer", serverOptions{json: true}}} {
		b.Run(c.name, func(b *testing.B) {
			srv := newServer(b, c.o)
			p, err := mcptool.New(tools.MCPConfig{URL: srv.URL}, mcptool.Options{})
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
