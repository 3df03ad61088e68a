package run

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/sharedtest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

// goldenCases are workflows whose whole event sequence is pinned, with the
// outputs Dify produces for the same inputs (from the fixtures' own
// descriptions, or worked out from Dify's node semantics).
var goldenCases = []struct {
	name    string
	file    string
	inputs  map[string]any
	outputs string
	// query is sys.query for chatflows; reg, when set, builds the
	// registry (for node types the engine package does not have).
	query string
	reg   func() *Registry
}{
	{"echo", "../../examples/echo.yml", map[string]any{"query": "hello"}, `{"answer":"hello"}`, "", nil},
	{"chain3", "../../examples/chain3.yml", map[string]any{"query": "hello"}, `{"answer":"hello-1-2-3"}`, "", nil},
	{"diamond", "../../examples/diamond.yml", map[string]any{"query": "hello"}, `{"left":"left:hello","right":"right:HELLO"}`, "", nil},
	{"branch_true", "../../examples/branch.yml", map[string]any{"query": "hello world"}, `{"answer":"greeting: hello world"}`, "", nil},
	{"branch_false", "../../examples/branch.yml", map[string]any{"query": "bye"}, `{"answer":"other: bye"}`, "", nil},
	{"conditional_hello", "testdata/dsl/dify-fixtures/conditional_hello_branching_workflow.yml", map[string]any{"query": "hello dify"}, `{"true":"hello dify"}`, "", nil},
	{"conditional_other", "testdata/dsl/dify-fixtures/conditional_hello_branching_workflow.yml", map[string]any{"query": "bye"}, `{"false":"bye"}`, "", nil},
	{"dual_switch", "testdata/dsl/dify-fixtures/dual_switch_variable_aggregator_workflow.yml", map[string]any{"switch1": "1", "switch2": "0"}, `{"group1":"switch 1 on","group2":"switch 2 off"}`, "", nil},
	{"loop_increment", "testdata/dsl/dify-fixtures/increment_loop_with_break_condition_workflow.yml", nil, `{"num":5}`, "", nil},
	{"iteration_answer", "testdata/dsl/dify-fixtures/iteration_contains_answer.yml", nil, `{}`, "", nil},
	{"simple_passthrough", "testdata/dsl/dify-fixtures/simple_passthrough_workflow.yml", map[string]any{"query": "你好 world"}, `{"query":"你好 world"}`, "", nil},
	// Dify's own streaming tests run these chatflows (test_loop_contains_answer.py,
	// test_streaming_conversation_variables.py, test_basic_chatflow.py); TestDifyStreamOrder
	// checks the event order they expect.
	{"loop_answer", "testdata/streaming/loop_contains_answer.yml", nil, `{}`, "1", nil},
	{"conversation_stream", "testdata/streaming/test_streaming_conversation_variables.yml", nil, `{}`, "Hello, this is my test query", nil},
	{"basic_chatflow", "testdata/streaming/basic_chatflow.yml", nil, `{}`, "hi", mockLLMRegistry},
}

// goldenEvent is the stable, readable form of an event stored in golden
// files (fixed clock and ids make it deterministic).
func goldenEvent(e *Event) map[string]any {
	m := map[string]any{"seq": e.Seq, "type": e.Type}
	switch {
	case e.Run != nil:
		m["run"] = e.Run
	case e.Node != nil:
		m["node"] = e.Node
	case e.Chunk != nil:
		m["chunk"] = e.Chunk
	case e.Next != nil:
		m["next"] = e.Next
	}
	return m
}

func TestGoldenEvents(t *testing.T) {
	t.Parallel()
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// One branch at a time keeps the order of parallel branches
			// deterministic.
			var reg *Registry
			if tc.reg != nil {
				reg = tc.reg()
			}
			e := New(Config{MaxParallel: 1, Clock: fixedClock(), NewID: seqIDs()}, reg)
			wf := mustCompile(t, e, readFile(t, tc.file))
			info, rec := runQuery(t, t.Context(), e, wf, tc.inputs, tc.query)
			if got := sharedtest.JSON(t, info.Outputs); got != tc.outputs {
				t.Fatalf("outputs %s, want %s (status %s, error %q)", got, tc.outputs, info.Status, info.Error)
			}
			var buf bytes.Buffer
			for _, ev := range rec.All() {
				line, err := json.Marshal(goldenEvent(ev))
				if err != nil {
					t.Fatal(err)
				}
				buf.Write(line)
				buf.WriteByte('\n')
			}
			path := filepath.Join("testdata", "golden", tc.name+".jsonl")
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGoldenEvents -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				gotLines, wantLines := strings.Split(buf.String(), "\n"), strings.Split(string(want), "\n")
				for i := range min(len(gotLines), len(wantLines)) {
					if gotLines[i] != wantLines[i] {
						t.Fatalf("event %d differs\n got: %s\nwant: %s", i+1, gotLines[i], wantLines[i])
					}
				}
				t.Fatalf("got %d events, want %d", len(gotLines), len(wantLines))
			}
		})
	}
}
