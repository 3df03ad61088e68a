package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/py"
)

// Helpers shared by the iteration, loop and assigner tests. Names start
// with ct to keep clear of other test files' helpers.

// ctNode is one node of a test document.
type ctNode struct {
	ID     string
	Parent string
	Data   map[string]any
}

// ctEdge is one edge of a test document; Handle "" is "source".
type ctEdge struct {
	From, To, Handle string
}

func ctE(from, to string) ctEdge { return ctEdge{From: from, To: to} }

// ctDoc assembles a DSL document (JSON, which the YAML parser accepts).
func ctDoc(mode string, nodes []ctNode, edges []ctEdge) []byte {
	var ns []any
	for _, n := range nodes {
		spec := map[string]any{"id": n.ID, "data": n.Data}
		if n.Parent != "" {
			spec["parentId"] = n.Parent
		}
		ns = append(ns, spec)
	}
	var es []any
	for i, e := range edges {
		h := e.Handle
		if h == "" {
			h = "source"
		}
		es = append(es, map[string]any{"id": fmt.Sprintf("e%d", i), "source": e.From, "target": e.To, "sourceHandle": h, "targetHandle": "target"})
	}
	doc := map[string]any{
		"app": map[string]any{"mode": mode, "name": "ct"}, "kind": "app", "version": "0.3.1",
		"workflow": map[string]any{"graph": map[string]any{"nodes": ns, "edges": es}},
	}
	// Test documents are built from maps, strings and numbers, which
	// always marshal.
	js, _ := json.Marshal(doc)
	return js
}

func ctStart() ctNode {
	return ctNode{ID: "start", Data: map[string]any{"type": "start", "title": "Start", "variables": []any{}}}
}

// ctEnd outputs the given selectors under their names.
func ctEnd(outs map[string][]string) ctNode {
	var list []any
	for _, k := range sortedKeys(toAnyMap(outs)) {
		list = append(list, map[string]any{"variable": k, "value_selector": outs[k]})
	}
	return ctNode{ID: "end", Data: map[string]any{"type": "end", "title": "End", "outputs": list}}
}

func toAnyMap(m map[string][]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ctConst is a test node (type ct-const) that outputs {"value": value}.
func ctConst(id string, value any) ctNode {
	return ctNode{ID: id, Data: map[string]any{"type": "ct-const", "title": id, "value": value}}
}

// ctTemplate is a template-transform node with variables bound to selectors.
func ctTemplate(id, parent, tpl string, vars map[string][]string) ctNode {
	var vs []any
	for _, k := range sortedKeys(toAnyMap(vars)) {
		vs = append(vs, map[string]any{"variable": k, "value_selector": vars[k]})
	}
	return ctNode{ID: id, Parent: parent, Data: map[string]any{"type": "template-transform", "title": id, "template": tpl, "variables": vs}}
}

// ctIteration is an iteration container with its iteration-start node.
func ctIteration(id, parent string, iterator, output []string, extra map[string]any) []ctNode {
	data := map[string]any{
		"type": "iteration", "title": id, "iterator_selector": iterator, "output_selector": output,
		"start_node_id": id + "start",
	}
	for k, v := range extra {
		data[k] = v
	}
	return []ctNode{
		{ID: id, Parent: parent, Data: data},
		{ID: id + "start", Parent: id, Data: map[string]any{"type": "iteration-start", "title": ""}},
	}
}

// ctLoop is a loop container with its loop-start node.
func ctLoop(id string, count int, vars []any, breaks []any, extra map[string]any) []ctNode {
	data := map[string]any{
		"type": "loop", "title": id, "loop_count": count, "loop_variables": vars,
		"break_conditions": breaks, "logical_operator": "and", "start_node_id": id + "start",
	}
	for k, v := range extra {
		data[k] = v
	}
	return []ctNode{
		{ID: id, Data: data},
		{ID: id + "start", Parent: id, Data: map[string]any{"type": "loop-start", "title": ""}},
	}
}

// ctAssign is an assigner (v2) node.
func ctAssign(id, parent string, items ...map[string]any) ctNode {
	list := make([]any, len(items))
	for i, it := range items {
		list[i] = it
	}
	return ctNode{ID: id, Parent: parent, Data: map[string]any{"type": "assigner", "title": id, "version": "2", "items": list}}
}

// ctNodes flattens node lists.
func ctNodes(groups ...any) []ctNode {
	var out []ctNode
	for _, g := range groups {
		switch x := g.(type) {
		case ctNode:
			out = append(out, x)
		case []ctNode:
			out = append(out, x...)
		}
	}
	return out
}

// ctRegistry returns the built-in node types plus the test types: ct-const,
// ct-check (fails on chosen values), ct-when (branches on a threshold) and
// any extra ones.
func ctRegistry(extra ...NodeType) *Registry {
	r := NewRegistry()
	r.Register(NodeType{Name: "ct-const", Build: func(b *Build) (Executor, error) {
		v := Normalize(b.Data["value"])
		return ExecutorFunc(func(context.Context, *Exec) (*Result, error) {
			return &Result{Outputs: Vars{{"value", deepCopy(v)}}}, nil
		}), nil
	}})
	r.Register(NodeType{Name: "ct-check", Build: func(b *Build) (Executor, error) {
		var cfg struct {
			Selector Selector `json:"selector"`
			FailOn   []any    `json:"fail_on"`
		}
		if err := b.Decode(&cfg); err != nil {
			return nil, err
		}
		b.Selector("selector", cfg.Selector)
		failOn, _ := Normalize(cfg.FailOn).([]any)
		return ExecutorFunc(func(_ context.Context, x *Exec) (*Result, error) {
			v, _ := x.Pool.Get(cfg.Selector)
			for _, f := range failOn {
				if py.Equal(v, f) {
					return nil, &NodeError{Type: "CtError", Err: fmt.Errorf("ct failure on %s", py.Str(v))}
				}
			}
			return &Result{Outputs: Vars{{"value", v}}}, nil
		}), nil
	}})
	r.Register(NodeType{Name: "ct-when", Build: func(b *Build) (Executor, error) {
		var cfg struct {
			Selector Selector `json:"selector"`
			AtLeast  float64  `json:"at_least"`
		}
		if err := b.Decode(&cfg); err != nil {
			return nil, err
		}
		b.Selector("selector", cfg.Selector)
		return ExecutorFunc(func(_ context.Context, x *Exec) (*Result, error) {
			v, _ := x.Pool.Get(cfg.Selector)
			if f, ok := py.Number(v); ok && f >= cfg.AtLeast {
				return &Result{Handle: "yes"}, nil
			}
			return &Result{Handle: "no"}, nil
		}), nil
	}})
	for _, t := range extra {
		r.Register(t)
	}
	return r
}

// ctBlock registers a node type (ct-block) that signals entered and then
// waits for its context to end, so a test can stop a run while it is inside
// a container.
func ctBlock(entered chan<- struct{}) NodeType {
	return NodeType{Name: "ct-block", Build: func(*Build) (Executor, error) {
		return ExecutorFunc(func(ctx context.Context, _ *Exec) (*Result, error) {
			select {
			case entered <- struct{}{}:
			default:
			}
			select {
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			case <-time.After(30 * time.Second):
				return nil, errors.New("ct-block was never cancelled")
			}
		}), nil
	}}
}

// ctResult is a finished test run.
type ctResult struct {
	Info   *RunInfo
	Events []*Event
}

// ctRun compiles and runs doc, collecting the events.
func ctRun(t *testing.T, e *Engine, doc []byte, inputs map[string]any) ctResult {
	t.Helper()
	return ctRunCtx(context.Background(), t, e, doc, inputs)
}

func ctRunCtx(ctx context.Context, t *testing.T, e *Engine, doc []byte, inputs map[string]any) ctResult {
	t.Helper()
	wf := ctCompile(t, e, doc)
	in, err := wf.PrepareInputs(inputs)
	if err != nil {
		t.Fatalf("inputs: %v", err)
	}
	var (
		mu  sync.Mutex
		evs []*Event
	)
	info := e.Run(ctx, wf, Params{RunID: "run", UserID: "u", Inputs: in}, ListenerFunc(func(ev *Event) {
		mu.Lock()
		evs = append(evs, ev)
		mu.Unlock()
	}))
	mu.Lock()
	defer mu.Unlock()
	return ctResult{Info: info, Events: evs}
}

func ctCompile(t *testing.T, e *Engine, doc []byte) *Workflow {
	t.Helper()
	wf, err := e.Compile(doc)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return wf
}

// output returns the run output name, failing the test if absent.
func (r ctResult) output(t *testing.T, name string) any {
	t.Helper()
	if r.Info.Status != StatusSucceeded {
		t.Fatalf("run %s: %s", r.Info.Status, r.Info.Error)
	}
	v, ok := r.Info.Outputs.Get(name)
	if !ok {
		t.Fatalf("no output %q in %v", name, r.Info.Outputs)
	}
	return v
}

// trace renders the events of the run compactly, one per line:
// "type node_id [iteration_id#index] [loop_id#index] status".
func (r ctResult) trace() []string {
	var out []string
	for _, ev := range r.Events {
		switch {
		case ev.Node != nil:
			s := string(ev.Type) + " " + ev.Node.NodeID
			if ev.Node.IterationID != "" {
				s += fmt.Sprintf(" it=%s#%d", ev.Node.IterationID, ev.Node.IterationIndex)
			}
			if ev.Node.LoopID != "" {
				s += fmt.Sprintf(" loop=%s#%d", ev.Node.LoopID, ev.Node.LoopIndex)
			}
			if ev.Node.Status != StatusRunning {
				s += " " + string(ev.Node.Status)
			}
			out = append(out, s)
		case ev.Next != nil:
			out = append(out, fmt.Sprintf("%s %s %d", ev.Type, ev.Next.NodeID, ev.Next.Index))
		case ev.Run != nil:
			out = append(out, string(ev.Type))
		}
	}
	return out
}

// event returns the first event of type typ for node id.
func (r ctResult) event(t *testing.T, typ EventType, id string) *NodeRun {
	t.Helper()
	for _, ev := range r.Events {
		if ev.Type == typ && ev.Node != nil && ev.Node.NodeID == id {
			return ev.Node
		}
	}
	t.Fatalf("no %s event for %s in\n%s", typ, id, strings.Join(r.trace(), "\n"))
	return nil
}

// ctEqual compares engine values (after JSON normalisation of want).
func ctEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if vs, ok := got.(Vars); ok {
		got = vs.Map()
	}
	if !reflect.DeepEqual(got, Normalize(want)) {
		t.Errorf("%s = %s (%T), want %s", what, py.Str(got), got, py.Str(Normalize(want)))
	}
}

// ctTraceEqual compares a trace with the expected lines.
func ctTraceEqual(t *testing.T, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
