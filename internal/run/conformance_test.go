package run

import (
	"context"
	"testing"
)

// Dify exports that Dify loads and runs; each test holds the smallest
// document that shows one case.

// An End output with no name and no selector (left behind in the editor)
// is accepted by Dify, and its value is None under the key "".
func TestEndOutputWithoutNameOrSelector(t *testing.T) {
	t.Parallel()
	e := New(Config{}, nil)
	wf := mustCompile(t, e, `
app: {mode: workflow, name: t}
workflow:
  graph:
    nodes:
    - {id: s, data: {type: start, title: S, variables: [{variable: q, type: text-input}]}}
    - id: e
      data:
        type: end
        title: E
        outputs:
        - {variable: q, value_selector: [s, q], value_type: string}
        - {variable: '', value_selector: []}
    edges:
    - {id: x, source: s, target: e}
`)
	info, _ := runWith(t, context.Background(), e, wf, map[string]any{"q": "hi"})
	if info.Status != StatusSucceeded {
		t.Fatalf("status %s: %s", info.Status, info.Error)
	}
	if got := mustJSON(t, info.Outputs); got != `{"q":"hi","":null}` {
		t.Fatalf("outputs %s, want {\"q\":\"hi\",\"\":null}", got)
	}
}
