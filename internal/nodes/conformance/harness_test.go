package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/flowrun/flowrun/internal/docextract"
	"github.com/flowrun/flowrun/internal/files"
	"github.com/flowrun/flowrun/internal/knowledge"
	"github.com/flowrun/flowrun/internal/nodes/agent"
	"github.com/flowrun/flowrun/internal/nodes/code"
	"github.com/flowrun/flowrun/internal/nodes/docextractor"
	"github.com/flowrun/flowrun/internal/nodes/httpreq"
	"github.com/flowrun/flowrun/internal/nodes/llm"
	"github.com/flowrun/flowrun/internal/nodes/retrieval"
	"github.com/flowrun/flowrun/internal/nodes/tool"
	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/run/runtest"
	"github.com/flowrun/flowrun/internal/sharedtest"
)

// codeRunner runs the code nodes of every test: one Python worker pool and
// JavaScript runtime pool for the package, as the service has one.
var codeRunner *code.Runner

func TestMain(m *testing.M) {
	code.WorkerMain()
	py := "/usr/bin/python3" // a system interpreter the workers can run as nobody
	if _, err := os.Stat(py); err != nil {
		py = "python3"
	}
	rn, err := code.New(code.Config{PythonBinary: py, PythonWorkers: 2, Timeout: 10 * time.Second})
	if err == nil {
		err = rn.Start(context.Background())
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: code runner: %v (python3 is required)\n", err)
		os.Exit(1)
	}
	codeRunner = rn
	status := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := rn.Stop(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: stop code runner: %v\n", err)
		status = 1
	}
	cancel()
	if status == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "conformance: leaked goroutines: %v\n", err)
			status = 1
		}
	}
	os.Exit(status)
}

// noDNS refuses every name lookup: an http-request URL that the test did
// not point at the stub fails instead of reaching the internet.
type noDNS struct{}

func (noDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{Err: "name lookups are disabled in the conformance tests", Name: host, IsNotFound: true}
}

// stubResponse is the stub HTTP server's answer for one path.
type stubResponse struct {
	Status      int
	ContentType string
	Body        string
}

// stubRequest is a request the stub HTTP server received.
type stubRequest struct {
	Method, Path string
	Header       http.Header
	Body         string
}

// stubHTTP stands in for the internet hosts that http-request nodes call.
type stubHTTP struct {
	*httptest.Server
	routes map[string]stubResponse
	mu     sync.Mutex
	reqs   []stubRequest
}

func newStubHTTP(t testing.TB, routes map[string]stubResponse) *stubHTTP {
	t.Helper()
	s := &stubHTTP{routes: routes}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, stubRequest{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: string(body)})
		s.mu.Unlock()
		resp, ok := s.routes[r.URL.Path]
		if !ok {
			http.Error(w, "stub: no route for "+r.URL.Path, http.StatusNotFound)
			return
		}
		if resp.ContentType != "" {
			w.Header().Set("Content-Type", resp.ContentType)
		}
		if resp.Status != 0 {
			w.WriteHeader(resp.Status)
		}
		_, _ = io.WriteString(w, resp.Body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *stubHTTP) requests() []stubRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stubRequest(nil), s.reqs...)
}

// engine returns an engine with every node type flowrun supports, wired as
// cmd/api wires them: LLM providers all lead to fake (whatever provider
// the DSL names), HTTP requests may reach only the loopback stub, code runs
// on the shared runner.
func engine(t testing.TB, fake *fakeLLM) *run.Engine {
	t.Helper()
	return run.New(run.Config{Timeout: 20 * time.Second}, registry(t, fake))
}

// registry returns the full node registry (see engine).
func registry(t testing.TB, fake *fakeLLM) *run.Registry {
	t.Helper()
	reg := run.NewRegistry()
	if err := httpreq.Register(reg, httpreq.Config{
		Allow: []string{"127.0.0.1"}, Resolver: noDNS{},
		MaxConnectTimeout: 5 * time.Second, MaxReadTimeout: 10 * time.Second, MaxWriteTimeout: 10 * time.Second,
	}); err != nil {
		t.Fatal(err)
	}
	lc := llm.Config{DefaultProvider: "openai", IdleTimeout: 10 * time.Second,
		Providers: map[string]llm.Provider{"openai": {BaseURL: "http://127.0.0.1:1/v1"}}}
	if fake != nil {
		lc.Providers["openai"] = llm.Provider{BaseURL: fake.URL + "/v1", APIKey: "sk-conformance"}
		lc.HTTPClient = fake.Client()
	}
	if err := llm.Register(reg, lc); err != nil {
		t.Fatal(err)
	}
	reg.Register(codeRunner.NodeType())
	tools := toolRegistry(t)
	tool.Register(reg, tools, tool.Config{})
	models, err := llm.NewModels(lc)
	if err != nil {
		t.Fatal(err)
	}
	agent.Register(reg, models, tools)
	if err := docextractor.Register(reg, docextractor.Config{Opener: files.NewReader(files.ReaderConfig{Client: http.DefaultClient}), Extractor: docextract.InProcess{}}); err != nil {
		t.Fatal(err)
	}
	datasets, err := knowledge.New(nil, knowledge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(datasets.Close)
	retrieval.Register(reg, datasets, models)
	return reg
}

// dslDoc is the part of a DSL document the harness inspects.
type dslDoc struct {
	App struct {
		Mode string `yaml:"mode"`
	} `yaml:"app"`
	Workflow struct {
		Graph struct {
			Nodes []struct {
				ID   string `yaml:"id"`
				Type string `yaml:"type"`
				Data struct {
					Type string `yaml:"type"`
					URL  string `yaml:"url"`
				} `yaml:"data"`
			} `yaml:"nodes"`
		} `yaml:"graph"`
	} `yaml:"workflow"`
}

func parseDoc(t testing.TB, data []byte) *dslDoc {
	t.Helper()
	var d dslDoc
	if err := yaml.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// nodeTypes lists the distinct node types a document uses (notes aside).
func (d *dslDoc) nodeTypes() []string {
	var out []string
	for _, n := range d.Workflow.Graph.Nodes {
		if n.Type == "custom-note" || slices.Contains(out, n.Data.Type) {
			continue
		}
		out = append(out, n.Data.Type)
	}
	slices.Sort(out)
	return out
}

// rewriteURLs points a document's http-request URLs at the stub: in every
// "url:" line, each key of urls (a URL prefix as the DSL writes it, usually
// scheme and host) is replaced by the stub's address followed by the value
// (a path, or "" to keep the document's path and query). Nothing else in
// the document changes. Every key must be replaced somewhere, and
// afterwards every http-request node's url must lead to the stub, or be
// one of the start inputs the case sets to the stub's address (inputs).
func rewriteURLs(t testing.TB, data []byte, urls map[string]string, stub *stubHTTP, inputs map[string]string) []byte {
	t.Helper()
	lines := strings.SplitAfter(string(data), "\n")
	for from, path := range urls {
		n := 0
		for i, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), "url: ") && strings.Contains(l, from) {
				lines[i] = strings.ReplaceAll(l, from, stub.URL+path)
				n++
			}
		}
		if n == 0 {
			t.Fatalf("no url: field with %q to rewrite", from)
		}
	}
	out := []byte(strings.Join(lines, ""))
	for _, n := range parseDoc(t, out).Workflow.Graph.Nodes {
		if m := inputRef.FindStringSubmatch(n.Data.URL); m != nil && inputs[m[1]] != "" {
			continue
		}
		if n.Data.Type == "http-request" && (stub == nil || !strings.HasPrefix(n.Data.URL, stub.URL+"/")) {
			t.Fatalf("http-request node %s calls %q, not the stub: add it to the case's URL rewrites", n.ID, n.Data.URL)
		}
	}
	return out
}

// inputRef is a url that is one variable reference, {{#node.name#}}.
var inputRef = regexp.MustCompile(`^\{\{#[a-zA-Z0-9_]+\.([a-zA-Z0-9_]+)#\}\}$`)

// result is what one run produced.
type result struct {
	info *run.RunInfo
	*runtest.Recorder
	llm  []llmCall
	http []stubRequest
}

func (r *result) output(t testing.TB, name string) any {
	t.Helper()
	v, ok := r.info.Outputs.Get(name)
	if !ok {
		t.Fatalf("no output %q in %s", name, sharedtest.JSON(t, r.info.Outputs))
	}
	return v
}

// text is a string output.
func (r *result) text(t testing.TB, name string) string {
	t.Helper()
	s, ok := r.output(t, name).(string)
	if !ok {
		t.Fatalf("output %q is %T, not a string", name, r.output(t, name))
	}
	return s
}

// finished lists the node ids that finished, in order, once each
// (iteration rounds repeat inner nodes).
func (r *result) finished() []string {
	var out []string
	for _, e := range r.All() {
		if e.Type == run.EventNodeFinished && !slices.Contains(out, e.Node.NodeID) {
			out = append(out, e.Node.NodeID)
		}
	}
	return out
}

func (r *result) ran(id string) bool { return slices.Contains(r.finished(), id) }

func (r *result) calls(kind string) []llmCall {
	var out []llmCall
	for _, c := range r.llm {
		if c.Kind == kind {
			out = append(out, c)
		}
	}
	return out
}

// failures describes the nodes that failed, for error messages.
func (r *result) failures() string {
	var b strings.Builder
	for _, e := range r.All() {
		if e.Type == run.EventNodeFinished && e.Node.Status != run.StatusSucceeded {
			fmt.Fprintf(&b, "\n  node %s (%s %q): %s %s: %s", e.Node.NodeID, e.Node.NodeType, e.Node.Title, e.Node.Status, e.Node.ErrorType, e.Node.Error)
		}
	}
	return b.String()
}

// unsupportedProblems returns the node types named by "node type … is not
// supported" problems of a compile error, and any other problems.
func unsupportedProblems(err error) (types []string, others []string) {
	var verr *run.ValidationError
	if !errors.As(err, &verr) {
		return nil, []string{fmt.Sprint(err)}
	}
	for _, p := range verr.Problems {
		m := unsupportedRE.FindStringSubmatch(p.Message)
		if m == nil {
			others = append(others, p.String())
			continue
		}
		if !slices.Contains(types, m[1]) {
			types = append(types, m[1])
		}
	}
	slices.Sort(types)
	return types, others
}

func mustGet(t testing.TB, vs run.Vars, name string) any {
	t.Helper()
	v, ok := vs.Get(name)
	if !ok {
		t.Fatalf("no %q in %s", name, sharedtest.JSON(t, vs))
	}
	return v
}
