package run

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A 10,000-node chain loads and runs (BenchmarkCompileChain measures how
// fast it loads).
func TestCompileLargeChain(t *testing.T) {
	t.Parallel()
	const n = 10_000
	e := New(Config{MaxSteps: n + 2}, nil)
	wf, err := e.Compile(chainDoc(n))
	if err != nil {
		t.Fatal(err)
	}
	in, err := wf.PrepareInputs(map[string]any{"query": "q"})
	if err != nil {
		t.Fatal(err)
	}
	info := e.Run(context.Background(), wf, Params{RunID: "r", Inputs: in}, nil)
	out, _ := info.Outputs.Get("answer")
	if s, _ := out.(string); info.Status != StatusSucceeded || !strings.HasPrefix(s, "q-1-2-3-") || !strings.HasSuffix(s, fmt.Sprintf("-%d", n)) {
		t.Fatalf("run %s %q: answer %.40q…", info.Status, info.Error, s)
	}
	if info.TotalSteps != n+2 {
		t.Errorf("total_steps %d", info.TotalSteps)
	}
}

// bigMapping is a document whose features mapping has n keys.
func bigMapping(n int) []byte {
	var b strings.Builder
	b.WriteString("app: {mode: workflow, name: big}\nworkflow:\n  features:\n")
	for i := range n {
		fmt.Fprintf(&b, "    k%d: %d\n", i, i)
	}
	b.WriteString("  graph:\n    nodes:\n    - {id: start, data: {type: start, title: Start, variables: []}}\n    edges: []\n")
	return []byte(b.String())
}

// Documents over a limit are refused with a *LimitError that names it.
func TestDocumentLimits(t *testing.T) {
	t.Parallel()
	small := DocLimits{MaxBytes: 4096, MaxNodes: 3, MaxEdges: 2, MaxYAMLNodes: 200, MaxMappingKeys: 8, MaxDepth: 8}
	nested := "app: {mode: workflow}\nworkflow: {graph: {nodes: [], edges: []}}\nx: [[[[[[[[1]]]]]]]]\n"
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	tests := []struct {
		name, doc, limit, msg string
	}{
		{"bytes", "app: {mode: workflow}\n# " + strings.Repeat("x", 5000) + "\n", LimitBytes,
			"invalid workflow DSL: document is 5025 bytes (limit DSL_MAX_BYTES=4096)"},
		{"nodes", graphYAML([]string{queryStart, "a:test-value", "b:test-value", "c:test-value"}, []string{"start->a"}), LimitNodes,
			"invalid workflow DSL: workflow has 4 nodes (limit DSL_MAX_NODES=3)"},
		{"edges", graphYAML([]string{queryStart, "a:test-value", "b:test-value"}, []string{"start->a", "start->b", "a->b"}), LimitEdges,
			"invalid workflow DSL: workflow has 3 edges (limit DSL_MAX_EDGES=2)"},
		{"indicators before parsing", "x: [" + strings.Repeat("1,", 250) + "1]\n", LimitYAMLNodes,
			"invalid workflow DSL: document has 252 YAML indicators (, : - ? [ {), each of which may start a YAML node (limit DSL_MAX_YAML_NODES=200)"},
		{"aliases expanded", laughs, LimitYAMLNodes,
			"invalid workflow DSL: document has more than 200 YAML nodes (limit DSL_MAX_YAML_NODES=200)"},
		{"mapping keys", "app: {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}\n", LimitMappingKeys,
			"invalid workflow DSL: the mapping at line 1 has 9 keys (limit DSL_MAX_MAPPING_KEYS=8)"},
		{"depth", nested, LimitDepth,
			"invalid workflow DSL: document nests more than 8 levels deep at line 3 (limit DSL_MAX_DEPTH=8)"},
	}
	k := newTestKit()
	e := New(Config{Document: small}, k.reg)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.Compile([]byte(tt.doc))
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != tt.limit || err.Error() != tt.msg {
				t.Fatalf("got %v\nwant %s", err, tt.msg)
			}
			if !errors.Is(err, ErrInvalidDSL) || !errors.Is(err, ErrDocumentTooLarge) {
				t.Errorf("%v does not wrap ErrInvalidDSL and ErrDocumentTooLarge", err)
			}
		})
	}
	// Within the limits, the same engine loads documents.
	if _, err := e.Compile([]byte(graphYAML([]string{queryStart, "a:test-value"}, []string{"start->a"}))); err != nil {
		t.Fatal(err)
	}
}

// A mapping of 100,000 keys is refused under the default
// DSL_MAX_MAPPING_KEYS, once parsed (linear); with a higher limit a big
// mapping is decoded, in linear time too (yaml.v3's decoder alone compares
// every key with every other). BenchmarkBigMapping times both at 100,000.
func TestBigMappings(t *testing.T) {
	t.Parallel()
	_, err := New(Config{}, nil).Compile(bigMapping(100_000))
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != LimitMappingKeys || !strings.Contains(err.Error(), "the mapping at line 4 has 100000 keys") {
		t.Fatalf("default limits: %v", err)
	}
	wf, err := New(Config{Document: DocLimits{MaxMappingKeys: 30_000}}, nil).Compile(bigMapping(20_000))
	if err != nil {
		t.Fatal(err)
	}
	if len(wf.Doc.Workflow.Features) != 20_000 {
		t.Fatalf("%d features", len(wf.Doc.Workflow.Features))
	}
}

// Duplicate keys are still refused, whatever the mapping's size.
func TestDuplicateKeyInBigMapping(t *testing.T) {
	t.Parallel()
	doc := append(bigMapping(5_000), []byte("x: 1\nx: 2\n")...)
	_, err := New(Config{}, nil).Compile(doc)
	if !errors.Is(err, ErrInvalidDSL) || !strings.Contains(err.Error(), `mapping key "x" already defined`) {
		t.Fatalf("got %v", err)
	}
}

// A document with thousands of problems gets a bounded message that still
// says how many there are.
func TestValidationMessageIsBounded(t *testing.T) {
	t.Parallel()
	nodes := []string{queryStart}
	var edges []string
	for i := range 200 {
		nodes = append(nodes, fmt.Sprintf("n%03d:no-such-type-%d", i, i))
		edges = append(edges, fmt.Sprintf("start->n%03d", i))
	}
	_, err := New(Config{}, nil).Compile([]byte(graphYAML(nodes, edges)))
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 200 {
		t.Fatalf("got %v", err)
	}
	if msg := err.Error(); strings.Count(msg, "is not supported") != maxProblemsShown || !strings.HasSuffix(msg, "; and 150 more problems") {
		t.Fatalf("message: %s", msg)
	}
}

// Containers nested deeper than DSL_MAX_DEPTH are refused.
func TestContainerNestingLimit(t *testing.T) {
	t.Parallel()
	nest := func(levels int) []byte {
		nodes := []ctNode{ctStart(), ctConst("list", []any{1})}
		edges := []ctEdge{ctE("start", "list"), ctE("list", "it0")}
		parent := ""
		for i := range levels {
			id := fmt.Sprintf("it%d", i)
			nodes = append(nodes, ctIteration(id, parent, []string{"list", "value"}, nil, nil)...)
			if i > 0 {
				edges = append(edges, ctE(parent+"start", id))
			}
			parent = id
		}
		return ctDoc("workflow", nodes, edges)
	}
	e := New(Config{Document: DocLimits{MaxDepth: 10}}, ctRegistry())
	if _, err := e.Compile(nest(10)); err != nil {
		t.Fatalf("10 levels: %v", err)
	}
	_, err := e.Compile(nest(12))
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != LimitDepth || !strings.Contains(err.Error(), "is nested in more than 10 containers") {
		t.Fatalf("12 levels: %v", err)
	}
}
