package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/repo/memory"
)

// Fixed ids of the "big" app: a paragraph input without max_length,
// echoed by the End node, so a run carries whatever the body carries.
const (
	bigApp = "5b1f6f0e-8c3a-4d7e-9a51-0f2a6c9d3e11"
	bigWF  = "6c2a7b1f-9d4b-4e8f-8b62-1a3b7d0e4f22"
	bigKey = "app-test-big-key"
	bigDSL = `
app: {mode: workflow, name: big}
workflow:
  graph:
    nodes:
    - {id: start, data: {type: start, title: S, variables: [{variable: q, label: q, type: paragraph, required: true}]}}
    - {id: end, data: {type: end, title: E, outputs: [{variable: answer, value_selector: [start, q], value_type: string}]}}
    edges:
    - {id: e1, source: start, target: end}
`
)

// addApp adds an app to a bundle's store.
func (b *bundle) addApp(t testing.TB, id, wf, key, dsl string) {
	t.Helper()
	ap, err := app.New(b.eng, id, wf, []byte(dsl))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := b.store.Put(ctx, ap); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.AddKey(ctx, id, key); err != nil {
		t.Fatal(err)
	}
}

// TestRunHistoryBoundedByBytes runs many workflows with 200 KB inputs in
// memory mode: the kept history never passes RunHistoryBytes, the latest
// runs stay readable and the oldest are gone.
func TestRunHistoryBoundedByBytes(t *testing.T) {
	t.Parallel()
	const limit = 2 << 20
	hist, err := memory.New(memory.Config{MaxBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, options{mutate: func(c *api.Config) { c.Writer, c.Reader, c.InlineWrites = hist, hist, true }})
	b.addApp(t, bigApp, bigWF, bigKey, bigDSL)
	input := strings.Repeat("q", 200_000)
	var ids []string
	for i := range 30 {
		rec := b.do("POST", "/v1/workflows/run", bigKey, fmt.Sprintf(`{"inputs": {"q": %q}, "user": "u", "response_mode": "blocking"}`, input))
		if rec.Code != http.StatusOK {
			t.Fatalf("run %d: %d %s", i, rec.Code, rec.Body.Bytes()[:min(200, rec.Body.Len())])
		}
		var body struct {
			RunID string `json:"workflow_run_id"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, body.RunID)
		if got := hist.Bytes(); got > limit {
			t.Fatalf("after run %d the history holds %d bytes > %d", i, got, limit)
		}
	}
	kept := hist.Len()
	if kept < 5 || kept > 10 {
		t.Fatalf("%d runs of 200 KB kept within 2 MiB", kept)
	}
	get := func(i int) int { return b.do("GET", "/v1/workflows/run/"+ids[i], bigKey, "").Code }
	if code := get(0); code != http.StatusNotFound {
		t.Fatalf("first run, evicted long ago: GET answered %d", code)
	}
	// Reading a run builds its records: JSON copies of the input in the
	// run's and each node's record hold several times what the shared
	// events did. Older runs make room; the run read stays.
	for i := len(ids) - 1; i >= len(ids)-2; i-- {
		if code := get(i); code != http.StatusOK {
			t.Fatalf("run %d of %d: GET answered %d", i, len(ids), code)
		}
		if got := hist.Bytes(); got > limit {
			t.Fatalf("after reading run %d the history holds %d bytes > %d", i, got, limit)
		}
	}
	if hist.Len() >= kept {
		t.Fatalf("reading two runs' records evicted nothing: %d runs kept", hist.Len())
	}
}
