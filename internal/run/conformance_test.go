package run

import (
	"context"
	"testing"

	"github.com/flowrun/flowrun/internal/sharedtest"
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
	if got := sharedtest.JSON(t, info.Outputs); got != `{"q":"hi","":null}` {
		t.Fatalf("outputs %s, want {\"q\":\"hi\",\"\":null}", got)
	}
}

// Dify runs a graph from its root along edges and never reads parentId,
// isInIteration/iteration_id or isInLoop/loop_id to place a node. Exports
// carry stale ones: t1 names a loop that was deleted, t2 an iteration it
// was pasted out of, and the iteration's inner node t3 has no key at all.
func TestContainerMembershipFromEdges(t *testing.T) {
	t.Parallel()
	e := New(Config{}, nil)
	wf := mustCompile(t, e, `
app: {mode: advanced-chat, name: t}
workflow:
  conversation_variables:
  - {id: c1, name: list, value_type: 'array[string]', value: [x, y]}
  graph:
    nodes:
    - {id: s, data: {type: start, title: S, variables: [{variable: q, type: text-input}]}}
    - {id: t1, data: {type: template-transform, title: T1, isInLoop: true, loop_id: gone, template: '{{ q }}!', variables: [{variable: q, value_selector: [s, q]}]}}
    - {id: it, data: {type: iteration, title: It, iterator_selector: [conversation, list], output_selector: [t3, output], start_node_id: its, output_type: 'array[string]'}}
    - {id: its, type: custom-iteration-start, parentId: it, data: {type: iteration-start, title: '', isInIteration: true, iteration_id: it}}
    - {id: t3, data: {type: template-transform, title: T3, template: '{{ x }}', variables: [{variable: x, value_selector: [it, item]}]}}
    - {id: t2, data: {type: template-transform, title: T2, isInIteration: true, iteration_id: it, template: '{{ v }}?', variables: [{variable: v, value_selector: [t1, output]}]}}
    - {id: e, data: {type: end, title: E, outputs: [{variable: a, value_selector: [t2, output]}, {variable: b, value_selector: [it, output]}]}}
    edges:
    - {id: x1, source: s, target: t1}
    - {id: x2, source: t1, target: it}
    - {id: x3, source: its, target: t3}
    - {id: x4, source: it, target: t2}
    - {id: x5, source: t2, target: e}
`)
	info, _ := runWith(t, context.Background(), e, wf, map[string]any{"q": "hi"})
	if info.Status != StatusSucceeded {
		t.Fatalf("status %s: %s", info.Status, info.Error)
	}
	if got := sharedtest.JSON(t, info.Outputs); got != `{"a":"hi!?","b":["x","y"]}` {
		t.Fatalf("outputs %s", got)
	}
}

// A node may read a node that does not run before it: one on another
// branch, or a later one. Dify accepts such a reference and resolves it
// to None when that node has not run.
func TestReferenceToANodeThatHasNotRun(t *testing.T) {
	t.Parallel()
	e := New(Config{}, nil)
	wf := mustCompile(t, e, `
app: {mode: workflow, name: t}
workflow:
  graph:
    nodes:
    - {id: s, data: {type: start, title: S, variables: [{variable: q, type: text-input}]}}
    - id: c
      data:
        type: if-else
        title: C
        cases: [{case_id: 'true', logical_operator: and, conditions: [{variable_selector: [s, q], comparison_operator: is, value: a}]}]
    - {id: a, data: {type: template-transform, title: A, template: A, variables: []}}
    - id: b
      data:
        type: template-transform
        title: B
        template: '{% if v %}{{ v }}{% else %}none{% endif %} {% if w %}{{ w }}{% else %}none{% endif %}'
        variables: [{variable: v, value_selector: [a, output]}, {variable: w, value_selector: [e, b]}]
    - {id: e, data: {type: end, title: E, outputs: [{variable: a, value_selector: [a, output]}, {variable: b, value_selector: [b, output]}]}}
    edges:
    - {id: x1, source: s, target: c}
    - {id: x2, source: c, sourceHandle: 'true', target: a}
    - {id: x3, source: c, sourceHandle: 'false', target: b}
    - {id: x4, source: a, target: e}
    - {id: x5, source: b, target: e}
`)
	for q, want := range map[string]string{"a": `{"a":"A","b":null}`, "x": `{"a":null,"b":"none none"}`} {
		info, _ := runWith(t, context.Background(), e, wf, map[string]any{"q": q})
		if info.Status != StatusSucceeded {
			t.Fatalf("q=%s: status %s: %s", q, info.Status, info.Error)
		}
		if got := sharedtest.JSON(t, info.Outputs); got != want {
			t.Errorf("q=%s: outputs %s, want %s", q, got, want)
		}
	}
}
