package httpreq

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/run"
	"go.yaml.in/yaml/v3"
)

// blockUntilGone is a handler that never answers: it returns when the
// client goes away.
func blockUntilGone(started chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if started != nil {
			started <- struct{}{}
		}
		<-r.Context().Done()
	}
}

func TestReadTimeout(t *testing.T) {
	t.Parallel()
	s := newStub(t, blockUntilGone(nil))
	h := newHarness(t, allowStub())
	begin := time.Now()
	o := h.runHTTP(t, map[string]any{"url": s.URL, "timeout": map[string]any{"connect": 5, "read": 1, "write": 5}}, nil)
	wantFailure(t, o.http(t), ErrTypeNode, "Request timed out")
	if d := time.Since(begin); d < time.Second || d > 8*time.Second {
		t.Fatalf("took %s for a 1 s read timeout", d)
	}
}

func TestReadTimeoutIsCappedByConfig(t *testing.T) {
	t.Parallel()
	s := newStub(t, blockUntilGone(nil))
	cfg := allowStub()
	cfg.MaxReadTimeout = time.Second
	h := newHarness(t, cfg)
	o := h.runHTTP(t, map[string]any{"url": s.URL, "timeout": map[string]any{"read": 100000}}, nil)
	wantFailure(t, o.http(t), ErrTypeNode, "Request timed out")
	// No timeout in the DSL: the configured maximum applies.
	o = h.runHTTP(t, map[string]any{"url": s.URL, "timeout": nil}, nil)
	wantFailure(t, o.http(t), ErrTypeNode, "Request timed out")
}

func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	// A connect that never completes: the dial waits for its context.
	hang := func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	h := newHarness(t, Config{Allow: []string{"127.0.0.1"}, dial: hang})
	begin := time.Now()
	o := h.runHTTP(t, map[string]any{"url": "http://127.0.0.1:9/", "timeout": map[string]any{"connect": 1}}, nil)
	wantFailure(t, o.http(t), ErrTypeNode, "Request timed out")
	if d := time.Since(begin); d < time.Second || d > 8*time.Second {
		t.Fatalf("took %s for a 1 s connect timeout", d)
	}
}

func TestWriteTimeout(t *testing.T) {
	t.Parallel()
	// The peer never reads: the first write blocks until its deadline.
	var mu sync.Mutex
	var peers []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range peers {
			_ = p.Close()
		}
	})
	deaf := func(context.Context, string, string) (net.Conn, error) {
		c, p := net.Pipe()
		mu.Lock()
		peers = append(peers, p)
		mu.Unlock()
		return c, nil
	}
	h := newHarness(t, Config{Allow: []string{"127.0.0.1"}, dial: deaf})
	o := h.runHTTP(t, map[string]any{"method": "post", "url": "http://127.0.0.1:9/", "timeout": map[string]any{"write": 1}, "body": textBody("raw-text", "payload")}, nil)
	wantFailure(t, o.http(t), ErrTypeNode, "Request timed out")
}

// TestStopCancelsRequest: stopping the run cancels the request in flight.
func TestStopCancelsRequest(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	s := newStub(t, blockUntilGone(started))
	h := newHarness(t, allowStub())
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	go func() {
		<-started
		cancel(run.ErrStopped)
	}()
	o := h.run(t, ctx, chainDoc(nil, map[string]any{"url": s.URL}), nil)
	if o.info.Status != run.StatusStopped || o.http(t).Status != run.StatusStopped {
		t.Fatalf("run %s, node %s %q", o.info.Status, o.http(t).Status, o.http(t).Error)
	}
}

func TestSSLVerify(t *testing.T) {
	t.Parallel()
	s := newTLSStub(t, nil)
	h := newHarness(t, allowStub())

	o := h.runHTTP(t, map[string]any{"url": s.URL}, nil)
	wantFailure(t, o.http(t), ErrTypeNode, "certificate")
	o = h.runHTTP(t, map[string]any{"url": s.URL, "ssl_verify": true}, nil)
	wantFailure(t, o.http(t), ErrTypeNode, "certificate")
	o = h.runHTTP(t, map[string]any{"url": s.URL, "ssl_verify": false}, nil)
	wantSucceeded(t, o)

	// A base transport that trusts the server: verification passes.
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	cfg := allowStub()
	cfg.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	o = newHarness(t, cfg).runHTTP(t, map[string]any{"url": s.URL, "ssl_verify": true}, nil)
	wantSucceeded(t, o)

	// InsecureSkipVerify in the base transport does not survive
	// ssl_verify: true (or unset).
	cfg.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the point of the test
	o = newHarness(t, cfg).runHTTP(t, map[string]any{"url": s.URL}, nil)
	wantFailure(t, o.http(t), ErrTypeNode, "certificate")
}

// TestYAMLWorkflow runs a DSL written as Dify exports it.
func TestYAMLWorkflow(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"echo":"` + r.URL.Query().Get("q") + `","auth":"` + r.Header.Get("Authorization") + `"}`))
	})
	doc := `app:
  mode: workflow
  name: yaml-http
kind: app
version: 0.3.1
workflow:
  environment_variables:
  - {name: TOKEN, value_type: secret, value: '', selector: [env, TOKEN]}
  graph:
    edges:
    - {id: e1, source: start, sourceHandle: source, target: http, targetHandle: target}
    - {id: e2, source: http, sourceHandle: source, target: end, targetHandle: target}
    nodes:
    - id: start
      data:
        type: start
        title: Start
        variables:
        - {variable: url, label: url, type: text-input, required: true, max_length: 256}
        - {variable: q, label: q, type: text-input, required: true}
    - id: http
      data:
        type: http-request
        title: HTTP Request
        method: GET
        url: '{{#start.url#}}/search'
        authorization:
          type: api-key
          config: {type: bearer, api_key: '{{#env.TOKEN#}}', header: ''}
        headers: 'Accept: application/json'
        params: 'q:{{#start.q#}}'
        body: {type: none, data: ''}
        timeout: {connect: 10, read: 30, write: 30}
        ssl_verify: true
        retry_config: {max_retries: 3, retry_interval: 100, retry_enabled: false}
    - id: end
      data:
        type: end
        title: End
        outputs:
        - {variable: status, value_selector: [http, status_code], value_type: number}
        - {variable: body, value_selector: [http, body], value_type: string}
`
	reg := run.NewRegistry()
	cs, err := register(reg, allowStub())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cs.closeIdle)
	e := run.New(run.Config{}, reg)
	wf, err := e.Compile([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	in, err := wf.PrepareInputs(map[string]any{"url": s.URL, "q": "go lang"})
	if err != nil {
		t.Fatal(err)
	}
	info := e.Run(context.Background(), wf, run.Params{RunID: "r", Inputs: in, Env: map[string]string{"TOKEN": "s3cret"}}, nil)
	if info.Status != run.StatusSucceeded {
		t.Fatalf("run %s: %s", info.Status, info.Error)
	}
	// The stub echoed the secret back: the node sent the real value, and
	// the engine masked it in what leaves the run.
	want := `{"status":200,"body":"{\"echo\":\"go lang\",\"auth\":\"Bearer ******\"}"}`
	if got := string(jsonMarshal(info.Outputs)); got != want {
		t.Fatalf("outputs %s\nwant %s", got, want)
	}
}

const fixture = "../../run/testdata/dsl/dify-fixtures/http_request_with_json_tool_workflow.yml"

// TestDifyFixtureFailsOnlyOnToolNode: Dify's http+tool fixture is refused
// because of its tool node alone; without the tool node it compiles.
func TestDifyFixtureFailsOnlyOnToolNode(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	reg := run.NewRegistry()
	if err := Register(reg, Config{}); err != nil {
		t.Fatal(err)
	}
	e := run.New(run.Config{}, reg)
	_, err = e.Compile(src)
	var ve *run.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("compile: %v", err)
	}
	if len(ve.Problems) != 1 || ve.Problems[0].NodeID != "tool_node" || !strings.Contains(ve.Problems[0].Message, `node type "tool" is not supported`) {
		t.Fatalf("problems %v", ve.Problems)
	}

	// Without the node type registered, the http node is a problem too.
	_, err = run.New(run.Config{}, run.NewRegistry()).Compile(src)
	if err == nil || !strings.Contains(err.Error(), `node type "http-request" is not supported`) {
		t.Fatalf("compile without httpreq: %v", err)
	}

	// Drop the tool node (and what refers to it): the rest compiles.
	var doc map[string]any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	graph := doc["workflow"].(map[string]any)["graph"].(map[string]any)
	var nodes []any
	for _, n := range graph["nodes"].([]any) {
		if n.(map[string]any)["id"] != "tool_node" {
			nodes = append(nodes, n)
		}
	}
	graph["nodes"] = nodes
	graph["edges"] = []any{
		map[string]any{"id": "a", "source": "start_node", "target": "http_node", "sourceHandle": "source"},
		map[string]any{"id": "b", "source": "http_node", "target": "end_node", "sourceHandle": "source"},
	}
	for _, n := range nodes {
		if data := n.(map[string]any)["data"].(map[string]any); data["type"] == "end" {
			data["outputs"] = data["outputs"].([]any)[:1]
		}
	}
	if _, err := e.Compile(jsonMarshal(doc)); err != nil {
		t.Fatalf("without the tool node: %v", err)
	}
}
