package conformance

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/run/runtest"
	"github.com/flowrun/flowrun/internal/sharedtest"
)

// dslDir holds the real Dify exports (a copy of the shared DSL set, see its
// SOURCES.md).
const dslDir = "../../run/testdata/dsl"

// notSupported are the node types flowrun does not implement yet; a
// document using any of them must fail to load, naming each.
var notSupported = []string{}

var unsupportedRE = regexp.MustCompile(`^node type "([a-z0-9-]+)" is not supported \(nodes: [^)]+\)$`)

// fileCase says how to run one DSL file.
type fileCase struct {
	// URLs rewrites the http-request URLs written in the document: each
	// key (as the DSL spells it, usually scheme and host) is replaced by
	// the stub server's address followed by the value (a path, or "" to
	// keep the document's path and query). This is the only change made
	// to any document.
	URLs map[string]string
	// InputURLs are start inputs that hold the URL an http-request node
	// calls ({{#start.name#}}): each is set to the stub server's address
	// followed by the value (a path).
	InputURLs map[string]string
	// HTTP are the stub server's responses by path.
	HTTP map[string]stubResponse
	Runs []runCase
}

// runCase is one run of a file.
type runCase struct {
	Name   string
	Inputs map[string]any
	// Query is sys.query, for chatflow apps.
	Query string
	LLM   llmScript
	// Status is the expected run status (default succeeded).
	Status run.Status
	// Error, for an expected failure, is the run's exact error.
	Error string
	Check func(t *testing.T, r *result)
}

// TestEveryDSLFile loads every DSL file with the full registry. A file
// that uses a node type flowrun does not support must fail to load naming
// exactly those types; every other file must have a case below and run as
// that case expects — to succeeded unless the case documents why not.
func TestEveryDSLFile(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(dslDir, "*", "*.yml"))
	if err != nil || len(files) < 20 {
		t.Fatalf("found %d DSL files (%v)", len(files), err)
	}
	reg := registry(t, nil)
	types := reg.Types()
	for _, typ := range []string{"code", "http-request", "llm", "parameter-extractor", "question-classifier"} {
		if !slices.Contains(types, typ) {
			t.Fatalf("the registry lacks %s: %v", typ, types)
		}
	}
	for _, typ := range notSupported {
		if slices.Contains(types, typ) {
			t.Fatalf("%s is now supported: take it off notSupported", typ)
		}
	}
	loader := run.New(run.Config{}, reg)
	seen := map[string]bool{}
	for _, path := range files {
		name := filepath.ToSlash(strings.TrimPrefix(path, dslDir+string(filepath.Separator)))
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, typ := range parseDoc(t, data).nodeTypes() {
				if !slices.Contains(types, typ) {
					if !slices.Contains(notSupported, typ) {
						t.Fatalf("uses node type %q, neither supported nor known to be unsupported", typ)
					}
					want = append(want, typ)
				}
			}
			c, hasCase := cases[name]
			if len(want) > 0 {
				if hasCase {
					t.Fatalf("uses unsupported %v but has a run case", want)
				}
				_, err := loader.Compile(data)
				got, others := unsupportedProblems(err)
				if len(others) > 0 {
					t.Errorf("problems besides unsupported node types: %q", others)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("unsupported types reported %v, want %v (error: %v)", got, want, err)
				}
				return
			}
			if !hasCase {
				t.Fatal("every node type of this file is supported: add a case to run it")
			}
			if len(c.Runs) == 0 {
				t.Fatal("case has no runs")
			}
			for _, rc := range c.Runs {
				t.Run(rc.Name, func(t *testing.T) {
					t.Parallel()
					runFile(t, data, c, rc)
				})
			}
		})
	}
	for name := range cases {
		if !seen[name] {
			t.Errorf("case for %s, which is not among the DSL files", name)
		}
	}
}

func runFile(t *testing.T, data []byte, c fileCase, rc runCase) {
	fake := newFakeLLM(t, rc.LLM)
	var stub *stubHTTP
	if c.HTTP != nil || c.URLs != nil || c.InputURLs != nil {
		stub = newStubHTTP(t, c.HTTP)
	}
	data = rewriteURLs(t, data, c.URLs, stub, c.InputURLs)
	inputs := rc.Inputs
	if len(c.InputURLs) > 0 {
		inputs = map[string]any{}
		for k, v := range rc.Inputs {
			inputs[k] = v
		}
		for name, path := range c.InputURLs {
			inputs[name] = stub.URL + path
		}
	}
	e := engine(t, fake)
	info, rec := runtest.Run(t, context.Background(), e, runtest.Compile(t, e, data), run.Params{UserID: "conformance", Query: rc.Query}, inputs, nil)
	r := &result{info: info, Recorder: rec}
	var errs []string
	r.llm, errs = fake.log()
	if stub != nil {
		r.http = stub.requests()
	}
	t.Logf("status %s, outputs %s, streamed %q, %d model calls, %d HTTP requests", info.Status, sharedtest.JSON(t, info.Outputs), r.Text(), len(r.llm), len(r.http))
	if len(errs) > 0 {
		t.Fatalf("the fake model could not answer: %q", errs)
	}
	want := rc.Status
	if want == "" {
		want = run.StatusSucceeded
	}
	if info.Status != want {
		t.Fatalf("run status %s (error %q), want %s%s", info.Status, info.Error, want, r.failures())
	}
	if rc.Error != "" && info.Error != rc.Error {
		t.Fatalf("run error %q, want %q", info.Error, rc.Error)
	}
	if want == run.StatusSucceeded {
		if f := r.failures(); f != "" {
			t.Fatalf("run succeeded but nodes did not:%s", f)
		}
	}
	if rc.Check != nil {
		rc.Check(t, r)
	}
}

// wantJSON compares v's JSON encoding with want.
func wantJSON(t testing.TB, what string, v any, want string) {
	t.Helper()
	if got := sharedtest.JSON(t, v); got != want {
		t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
	}
}

// between returns the text of s between the first open and the next
// close after it ("" when missing).
func between(s, open, close string) string {
	_, rest, ok := strings.Cut(s, open)
	if !ok {
		return ""
	}
	in, _, _ := strings.Cut(rest, close)
	return in
}
