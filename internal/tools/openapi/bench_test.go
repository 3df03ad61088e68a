package openapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/flowrun/flowrun/internal/nodes/httpreq"
	"github.com/flowrun/flowrun/internal/tools"
)

// BenchmarkInvoke is one OpenAPI tool call over loopback (keep-alive,
// SSRF guard on, a small JSON response): request building, the round
// trip and the response's messages.
func BenchmarkInvoke(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id": 7, "name": "Tom"}`)
	}))
	defer srv.Close()
	reg := registry(b, plain, srv.URL, httpreq.Config{Allow: []string{"127.0.0.1"}})
	p, tl, err := reg.Lookup(context.Background(), "api", "pets", "getPet")
	if err != nil {
		b.Fatal(err)
	}
	call := &tools.Call{Tool: tl.Name, Args: map[string]any{"petId": int64(7), "verbose": true}}
	emit := func(tools.Message) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Invoke(context.Background(), call, emit); err != nil {
			b.Fatal(err)
		}
	}
}
