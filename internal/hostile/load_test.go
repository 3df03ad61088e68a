package hostile

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// chainDSL is a workflow of n template nodes in a row.
func chainDSL(n int) string {
	var b strings.Builder
	b.WriteString("app: {mode: workflow, name: chain}\nkind: app\nversion: 0.3.1\nworkflow:\n  graph:\n    nodes:\n")
	b.WriteString("    - {id: n0, data: {type: start, title: Start, variables: []}}\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "    - {id: n%d, data: {type: template-transform, title: T%d, variables: [], template: x}}\n", i, i)
	}
	fmt.Fprintf(&b, "    - {id: end, data: {type: end, title: End, outputs: [{variable: r, value_selector: [n%d, output]}]}}\n    edges:\n", n)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "    - {id: e%d, source: n%d, target: n%d}\n", i, i-1, i)
	}
	fmt.Fprintf(&b, "    - {id: eend, source: n%d, target: end}\n", n)
	return b.String()
}

// bigMappingDSL is a document whose one mapping has n keys.
func bigMappingDSL(n int) string {
	var b strings.Builder
	b.WriteString("app: {mode: workflow, name: big}\nextra:\n")
	for i := range n {
		fmt.Fprintf(&b, "  k%d: v\n", i)
	}
	return b.String()
}

// TestHostileDocuments loads documents through the admin API while a
// canary keeps answering: a 10,000-node graph loads, and documents over
// the stated limits are refused with a 400 that names the limit.
func TestHostileDocuments(t *testing.T) {
	for _, u := range users() {
		t.Run(u.name, func(t *testing.T) { hostileDocuments(t, u.uid) })
	}
}

func hostileDocuments(t *testing.T, uid int) {
	s := startServer(t, []app{canary}, uid)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, c := range []struct {
		name, doc string
		status    int
		names     string
	}{
		{"10k-node chain", chainDSL(10000), 201, ""},
		{"25k-node chain", chainDSL(25000), 400, "DSL_MAX_NODES"},
		{"100k-key mapping", bigMappingDSL(100000), 400, "DSL_MAX_"},
		{"oversized document", "app: {mode: workflow, name: big}\nx: '" + strings.Repeat("y", 11<<20) + "'\n", 413, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := "6f9619ff-8b86-4011-b42d-00cf4fc964ff"
			req, _ := http.NewRequestWithContext(ctx, http.MethodPut, s.url+"/admin/apps/"+id, strings.NewReader(c.doc))
			req.Header.Set("Authorization", "Bearer "+secretEnv["ADMIN_API_KEY"])
			start := time.Now()
			resp, err := s.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			t.Logf("%s: HTTP %d in %s", c.name, resp.StatusCode, time.Since(start).Round(time.Millisecond))
			if resp.StatusCode != c.status && !(c.status == 413 && resp.StatusCode == 400) {
				t.Fatalf("HTTP %d %s, want %d", resp.StatusCode, body, c.status)
			}
			if c.names != "" && !strings.Contains(string(body), c.names) {
				t.Fatalf("body %s does not name %s", body, c.names)
			}
			if c.status == 201 {
				req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, s.url+"/admin/apps/"+id, nil)
				req.Header.Set("Authorization", "Bearer "+secretEnv["ADMIN_API_KEY"])
				if resp, err := s.http.Do(req); err == nil {
					resp.Body.Close()
				}
			}
			s.alive()
			if r, err := s.run(ctx, canary, map[string]any{"n": "4"}); err != nil || r.Outputs["answer"] != "8-9" {
				t.Fatalf("canary after %s: %v %+v", c.name, err, r)
			}
		})
	}
	rss := s.peakRSS()
	t.Logf("api peak RSS %.1f MiB (ceiling %d MiB)", float64(rss)/(1<<20), rssCeiling>>20)
	if rss > rssCeiling {
		t.Errorf("api peak RSS %d bytes over the ceiling %d", rss, rssCeiling)
	}
}
