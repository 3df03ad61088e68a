package tool

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/tools"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// invokeFunc is a fake tool's behaviour.
type invokeFunc func(ctx context.Context, call *tools.Call, emit tools.Emit) error

// fakeProvider offers tools whose behaviour each test sets, and records
// every call.
type fakeProvider struct {
	tools []tools.Tool
	funcs map[string]invokeFunc
	mu    sync.Mutex
	calls []*tools.Call
}

func (p *fakeProvider) Tools(context.Context) ([]tools.Tool, error) { return p.tools, nil }

func (p *fakeProvider) Invoke(ctx context.Context, call *tools.Call, emit tools.Emit) error {
	p.mu.Lock()
	p.calls = append(p.calls, call)
	p.mu.Unlock()
	return p.funcs[call.Tool](ctx, call, emit)
}

func (p *fakeProvider) lastCall(t *testing.T) *tools.Call {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.calls) == 0 {
		t.Fatal("the tool was not called")
	}
	return p.calls[len(p.calls)-1]
}

// emits returns a tool behaviour that emits msgs and returns err.
func emits(err error, msgs ...tools.Message) invokeFunc {
	return func(_ context.Context, _ *tools.Call, emit tools.Emit) error {
		for _, m := range msgs {
			if e := emit(m); e != nil {
				return e
			}
		}
		return err
	}
}

// harness runs start → tool node(s) → end documents.
type harness struct {
	eng  *run.Engine
	prov *fakeProvider
}

// newHarness registers prov as provider "acme/kit/kit" (alias "kit").
func newHarness(t *testing.T, cfg run.Config, prov *fakeProvider, tc ...Config) *harness {
	t.Helper()
	reg := tools.NewRegistry()
	if err := reg.Add("acme/kit/kit", prov, "kit"); err != nil {
		t.Fatal(err)
	}
	nodes := run.NewRegistry()
	Register(nodes, reg, append(tc, Config{})[0])
	return &harness{eng: run.New(cfg, nodes), prov: prov}
}

// outcome is what a run produced.
type outcome struct {
	info    *run.RunInfo
	events  []*run.Event
	nodes   map[string]*run.NodeRun
	retries []*run.NodeRun
}

func (o *outcome) node(t *testing.T, id string) *run.NodeRun {
	t.Helper()
	n := o.nodes[id]
	if n == nil {
		t.Fatalf("node %s did not finish; run %s: %s", id, o.info.Status, o.info.Error)
	}
	return n
}

// chunks joins the text_chunk events.
func (o *outcome) chunks() string {
	var b strings.Builder
	for _, e := range o.events {
		if e.Type == run.EventTextChunk {
			b.WriteString(e.Chunk.Text)
		}
	}
	return b.String()
}

type recorder struct {
	mu     sync.Mutex
	events []*run.Event
}

func (r *recorder) OnEvent(e *run.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (h *harness) run(t *testing.T, ctx context.Context, doc []byte, inputs map[string]any) *outcome {
	t.Helper()
	wf, err := h.eng.Compile(doc)
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, doc)
	}
	in, err := wf.PrepareInputs(inputs)
	if err != nil {
		t.Fatalf("inputs: %v", err)
	}
	rec := &recorder{}
	info := h.eng.Run(ctx, wf, run.Params{RunID: "run-1", AppID: "app-1", WorkflowID: "wf-1", UserID: "u-1", Inputs: in}, rec)
	o := &outcome{info: info, events: rec.events, nodes: map[string]*run.NodeRun{}}
	for _, e := range rec.events {
		switch e.Type {
		case run.EventNodeFinished:
			o.nodes[e.Node.NodeID] = e.Node
		case run.EventNodeRetry:
			o.retries = append(o.retries, e.Node)
		}
	}
	return o
}

// toolData is a tool node's data calling tool name of acme/kit/kit.
func toolData(name string, extra map[string]any) map[string]any {
	d := map[string]any{
		"type": TypeName, "title": "Tool", "provider_id": "acme/kit/kit", "provider_type": "builtin",
		"provider_name": "kit", "tool_name": name, "tool_label": name, "tool_node_version": "2",
		"tool_configurations": map[string]any{}, "tool_parameters": map[string]any{},
	}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

// doc builds start → tool → end (outputs named in outs, from the tool
// node) as a JSON document. Start declares text inputs a and b. The end
// node outputs each name in outs from the tool node.
func doc(data map[string]any, outs ...string) []byte {
	startVars := []any{}
	for _, v := range []string{"a", "b"} {
		startVars = append(startVars, map[string]any{"variable": v, "label": v, "type": "text-input", "required": false, "max_length": 100000})
	}
	var endOuts []any
	for _, o := range outs {
		endOuts = append(endOuts, map[string]any{"variable": o, "value_selector": []any{"tool", o}})
	}
	d := map[string]any{
		"app": map[string]any{"mode": "workflow", "name": "tool-test"}, "kind": "app", "version": "0.3.1",
		"workflow": map[string]any{"graph": map[string]any{
			"nodes": []any{
				map[string]any{"id": "start", "data": map[string]any{"type": "start", "title": "Start", "variables": startVars}},
				map[string]any{"id": "tool", "data": data},
				map[string]any{"id": "end", "data": map[string]any{"type": "end", "title": "End", "outputs": endOuts}},
			},
			"edges": []any{
				map[string]any{"id": "e1", "source": "start", "target": "tool", "sourceHandle": "source"},
				map[string]any{"id": "e2", "source": "tool", "target": "end", "sourceHandle": "source"},
			},
		}},
	}
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	return b
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantFailure checks a node failed with errType and exactly msg.
func wantFailure(t *testing.T, n *run.NodeRun, errType, msg string) {
	t.Helper()
	if n.Status != run.StatusFailed && n.Status != run.StatusException {
		t.Fatalf("status %s, want failed (outputs %v)", n.Status, n.Outputs)
	}
	if n.ErrorType != errType || n.Error != msg {
		t.Fatalf("error %s %q, want %s %q", n.ErrorType, n.Error, errType, msg)
	}
}

// wait returns when ch is closed or fails after a deadline.
func wait(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting")
	}
}
