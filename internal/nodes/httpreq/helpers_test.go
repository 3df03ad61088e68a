package httpreq

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/run/runtest"
	"github.com/flowrun/flowrun/internal/sharedtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// captured is one request the stub received.
type captured struct {
	Method   string
	Path     string
	RawQuery string
	Host     string
	Header   http.Header
	Body     []byte
}

// stub is a test HTTP server on 127.0.0.1 that records every request.
type stub struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []captured
}

func newStub(t *testing.T, h http.HandlerFunc) *stub {
	t.Helper()
	s := &stub{}
	s.Server = httptest.NewServer(s.wrap(h))
	t.Cleanup(s.Close)
	return s
}

func newTLSStub(t *testing.T, h http.HandlerFunc) *stub {
	t.Helper()
	s := &stub{}
	s.Server = httptest.NewUnstartedServer(s.wrap(h))
	// Handshakes refused by the client under test are expected.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *stub) wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, captured{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Host: r.Host, Header: r.Header.Clone(), Body: body})
		s.mu.Unlock()
		if h == nil {
			_, _ = io.WriteString(w, "ok")
			return
		}
		h(w, r)
	}
}

func (s *stub) requests() []captured {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]captured(nil), s.reqs...)
}

// last returns the only request the stub received.
func (s *stub) only(t *testing.T) captured {
	t.Helper()
	reqs := s.requests()
	if len(reqs) != 1 {
		t.Fatalf("stub received %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

// outcome is a finished test run and its events.
type outcome struct {
	info *run.RunInfo
	*runtest.Recorder
}

// retries are the node_retry records.
func (o *outcome) retries() []*run.NodeRun { return o.Nodes(run.EventNodeRetry, "") }

// http returns the node_finished record of the first http node.
func (o *outcome) http(t *testing.T) *run.NodeRun {
	t.Helper()
	return o.Node(t, "http")
}

func (o *outcome) out(t *testing.T, name string) any {
	t.Helper()
	v, ok := o.http(t).Outputs.Get(name)
	if !ok {
		t.Fatalf("http node has no output %q (outputs %v, error %q)", name, o.http(t).Outputs, o.http(t).Error)
	}
	return v
}

// harness runs workflows through run.New with the node registered.
type harness struct {
	eng *run.Engine
	cs  *clients
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	reg := run.NewRegistry()
	cs, err := register(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cs.closeIdle)
	return &harness{eng: run.New(run.Config{}, reg), cs: cs}
}

// allowStub is the config tests use to reach the stub on 127.0.0.1.
func allowStub() Config { return Config{Allow: []string{"127.0.0.1"}} }

func (h *harness) run(t *testing.T, ctx context.Context, doc []byte, inputs map[string]any) *outcome {
	t.Helper()
	info, rec := runtest.Run(t, ctx, h.eng, runtest.Compile(t, h.eng, doc), run.Params{}, inputs, nil)
	return &outcome{info: info, Recorder: rec}
}

// runHTTP runs start → http → end with data as the http node's data.
func (h *harness) runHTTP(t *testing.T, data map[string]any, inputs map[string]any) *outcome {
	t.Helper()
	return h.run(t, context.Background(), chainDoc(inputNames(inputs), data), inputs)
}

func inputNames(inputs map[string]any) []string {
	var names []string
	for k := range inputs {
		names = append(names, k)
	}
	return names
}

// chainDoc builds start → http → http2 → ... → end as a JSON document (a
// YAML document too). The start node declares vars as optional text
// inputs; end outputs the last http node's outputs.
func chainDoc(vars []string, datas ...map[string]any) []byte {
	var in []map[string]any
	for _, v := range vars {
		in = append(in, sharedtest.Input(v, "text-input"))
	}
	nodes := []sharedtest.Node{sharedtest.Start(in...)}
	for i, d := range datas {
		id := "http"
		if i > 0 {
			id = fmt.Sprintf("http%d", i+1)
		}
		data := map[string]any{"type": TypeName, "title": id, "method": "get", "authorization": map[string]any{"type": "no-auth"}, "headers": "", "params": "", "body": map[string]any{"type": "none", "data": []any{}}}
		maps.Copy(data, d)
		nodes = append(nodes, sharedtest.Node{ID: id, Data: data})
	}
	nodes = append(nodes, sharedtest.End(nodes[len(nodes)-1].ID, "status_code", "body", "headers", "files"))
	return sharedtest.Chain("http-test", nodes...)
}

// body returns a body map with one text item.
func textBody(typ, value string) map[string]any {
	return map[string]any{"type": typ, "data": []any{map[string]any{"type": "text", "key": "", "value": value}}}
}

// wantFailure checks the node failed (or ended in exception) with errType
// and a message containing msg.
func wantFailure(t *testing.T, n *run.NodeRun, errType, msg string) {
	t.Helper()
	if n.Status != run.StatusFailed && n.Status != run.StatusException {
		t.Fatalf("status %s, want failed (outputs %v)", n.Status, n.Outputs)
	}
	if n.ErrorType != errType || !strings.Contains(n.Error, msg) {
		t.Fatalf("error %s %q, want %s containing %q", n.ErrorType, n.Error, errType, msg)
	}
}

func wantSucceeded(t *testing.T, o *outcome) {
	t.Helper()
	n := o.http(t)
	if n.Status != run.StatusSucceeded {
		t.Fatalf("http node %s: %s %s", n.Status, n.ErrorType, n.Error)
	}
}

// fakeResolver answers from a table; a name with several answers gives
// them in turn, the last one repeatedly. It counts lookups.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]string
	lookups map[string]int
}

func newResolver(answers map[string][]string) *fakeResolver {
	return &fakeResolver{answers: answers, lookups: map[string]int{}}
}

func (r *fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	as, ok := r.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	i := min(r.lookups[host], len(as)-1)
	r.lookups[host]++
	var out []net.IPAddr
	for _, a := range strings.Split(as[i], ",") {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	return out, nil
}

func (r *fakeResolver) count(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups[host]
}

// stubPort returns the stub's port.
func (s *stub) port() string {
	_, p, _ := net.SplitHostPort(s.Listener.Addr().String())
	return p
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func jsonMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
