package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/app/apptest"
	"github.com/flowrun/flowrun/internal/record"
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
	apptest.Put(t, b.store, b.eng, apptest.App{ID: id, WF: wf, Key: key, DSL: dsl})
}

// TestRunHistoryBoundedByBytes runs many workflows with 200 KB inputs in
// memory mode: the kept history never passes the store's MaxBytes, the latest
// runs stay readable and the oldest are gone.
func TestRunHistoryBoundedByBytes(t *testing.T) {
	t.Parallel()
	const limit = 2 << 20
	hist, err := memory.New(memory.Config{MaxBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, options{mutate: func(c *api.Config) { c.Records, c.Reader = record.Memory(hist), hist }})
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

// stalledWriter is a streaming client that reads nothing: its first Write
// keeps the bytes it was given and blocks until the test releases it.
type stalledWriter struct {
	header  http.Header
	first   chan string   // the first write's bytes
	release chan struct{} // closed to let writes through
	mu      sync.Mutex
	body    strings.Builder
	writes  int
}

func newStalledWriter() *stalledWriter {
	return &stalledWriter{header: http.Header{}, first: make(chan string, 1), release: make(chan struct{})}
}

func (w *stalledWriter) Header() http.Header { return w.header }
func (w *stalledWriter) WriteHeader(int)     {}
func (w *stalledWriter) FlushError() error   { return nil }

func (w *stalledWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes++
	n := w.writes
	w.body.Write(p)
	w.mu.Unlock()
	if n == 1 {
		w.first <- string(p)
	}
	<-w.release
	return len(p), nil
}

func (w *stalledWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.body.String()
}

// slowDSL pauses at a test-block node, then copies its paragraph input
// with a template: events with new, large values follow the pause.
const (
	slowApp = "7d3b8c2a-0e5c-4f90-9c73-2b4c8e1f5a33"
	slowWF  = "8e4c9d3b-1f6d-4a01-8d84-3c5d9f2a6b44"
	slowKey = "app-test-slow-key"
	slowDSL = `
app: {mode: workflow, name: slow}
workflow:
  graph:
    nodes:
    - {id: start, data: {type: start, title: S, variables: [{variable: query, label: query, type: paragraph, required: true}]}}
    - {id: block, data: {type: test-block, title: B}}
    - {id: t, data: {type: template-transform, title: T, template: '{{ q }}', variables: [{variable: q, value_selector: [start, query]}]}}
    - {id: end, data: {type: end, title: E, outputs: [{variable: answer, value_selector: [t, output], value_type: string}]}}
    edges:
    - {id: e1, source: start, target: block}
    - {id: e2, source: block, target: t}
    - {id: e3, source: t, target: end}
`
)

// TestSlowStreamIsCutRunGoesOn streams a run to a client that reads
// nothing: once the events waiting for it pass the stream's byte limit,
// the stream ends with Dify's error event (client_too_slow), while the run
// completes and is recorded, and every byte held for the stream is given
// back.
func TestSlowStreamIsCutRunGoesOn(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *api.Config) { c.StreamBufferBytes = 512 << 10 }})
	b.addApp(t, slowApp, slowWF, slowKey, slowDSL)
	// The events before the pause (~300 KB: the input, shared) fit in
	// 512 KiB and the client's first write takes them, then blocks; the
	// template's 300 KB copy after the pause does not fit behind them.
	input := strings.Repeat("z", 300_000)
	req := httptest.NewRequest("POST", "/v1/workflows/run", strings.NewReader(fmt.Sprintf(`{"inputs": {"query": %q}, "user": "u", "response_mode": "streaming"}`, input)))
	req.Header.Set("Authorization", "Bearer "+slowKey)
	w := newStalledWriter()
	served := make(chan struct{})
	go func() {
		defer close(served)
		b.srv.ServeHTTP(w, req)
	}()
	b.waitStarted(t)
	var first string
	select {
	case first = <-w.first:
	case <-time.After(10 * time.Second):
		t.Fatal("no event written")
	}
	// The first write is a piece of workflow_started (events are written
	// as they are encoded).
	const head = `data: {"event":"workflow_started","workflow_run_id":"`
	if !strings.HasPrefix(first, head) || len(first) < len(head)+36 {
		t.Fatalf("first write %.100q", first)
	}
	runID := first[len(head) : len(head)+36]
	b.blocker.release(input)
	b.drain(t) // the run ends while its client is stuck
	rec := b.do("GET", "/v1/workflows/run/"+runID, slowKey, "")
	var got struct {
		Status  string         `json:"status"`
		Outputs map[string]any `json:"outputs"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Status != "succeeded" || !strings.Contains(fmt.Sprint(got.Outputs), input) {
		t.Fatalf("run record: %d %.200s (%v)", rec.Code, rec.Body, err)
	}
	close(w.release)
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("stream did not end")
	}
	body := w.String()
	last := body[strings.LastIndex(strings.TrimSuffix(body, "\n\n"), "\n\n")+2:]
	var errEv struct {
		Event, Code, Message string
		Status               int
		WorkflowRunID        string `json:"workflow_run_id"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(last), "data: ")), &errEv); err != nil {
		t.Fatalf("last frame %.200q: %v", last, err)
	}
	if errEv.Event != "error" || errEv.Code != "client_too_slow" || errEv.Status != 429 || errEv.WorkflowRunID != runID || !strings.Contains(errEv.Message, "The run goes on and is recorded") {
		t.Fatalf("last frame %+v", errEv)
	}
	if strings.Contains(body, `"event":"workflow_finished"`) {
		t.Fatal("the cut stream still got workflow_finished")
	}
	if n := b.srv.StreamBytesInUse(); n != 0 {
		t.Fatalf("%d stream bytes still held after the stream ended", n)
	}
}

// TestBodiesInFlightAreBounded: while the bodies of runs in flight hold
// MaxBodyBytesInFlight, a request with a large body is refused with 503
// and Retry-After (its body dropped, never kept); small requests go
// through; the room comes back when the run ends.
func TestBodiesInFlightAreBounded(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *api.Config) { c.MaxBodyBytesInFlight = 1 << 20 }})
	large := func(q string) string {
		return fmt.Sprintf(`{"inputs": {"query": %q}, "user": "u", "response_mode": "blocking"}`, q+strings.Repeat(" ", 700_000))
	}
	first := make(chan *httptest.ResponseRecorder, 1)
	go func() { first <- b.do("POST", "/v1/workflows/run", blockKey, large("gate")) }()
	b.waitStarted(t)

	rec := b.do("POST", "/v1/workflows/run", blockKey, large("second"))
	var body errBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusServiceUnavailable ||
		body.Code != "service_unavailable" || !strings.Contains(body.Message, "too many large requests") || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("second large request: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if rec := b.do("POST", "/v1/workflows/run", chain3Key, blockingBody("small")); rec.Code != http.StatusOK {
		t.Fatalf("small request while the budget is full: %d %s", rec.Code, rec.Body)
	}
	b.blocker.release("gate" + strings.Repeat(" ", 700_000))
	select {
	case rec := <-first:
		if rec.Code != http.StatusOK {
			t.Fatalf("first large request: %d", rec.Code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("first run did not end")
	}
	third := make(chan *httptest.ResponseRecorder, 1)
	go func() { third <- b.do("POST", "/v1/workflows/run", blockKey, large("third")) }()
	b.waitStarted(t) // admitted: the first run gave its room back
	b.blocker.release("third" + strings.Repeat(" ", 700_000))
	if rec := <-third; rec.Code != http.StatusOK {
		t.Fatalf("third large request: %d %s", rec.Code, rec.Body)
	}
}
