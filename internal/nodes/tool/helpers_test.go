package tool

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/run/runtest"
	"github.com/flowrun/flowrun/internal/sharedtest"
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

// outcome is a finished test run and its events.
type outcome struct {
	info *run.RunInfo
	*runtest.Recorder
}

// retries are the node_retry records.
func (o *outcome) retries() []*run.NodeRun { return o.Nodes(run.EventNodeRetry, "") }

// run runs doc with inputs as user u-1.
func (h *harness) run(t *testing.T, ctx context.Context, doc []byte, inputs map[string]any) *outcome {
	t.Helper()
	info, rec := runtest.Run(t, ctx, h.eng, runtest.Compile(t, h.eng, doc), run.Params{UserID: "u-1"}, inputs, nil)
	return &outcome{info: info, Recorder: rec}
}

// toolData is a tool node's data calling tool name of acme/kit/kit.
func toolData(name string, extra map[string]any) map[string]any {
	d := map[string]any{
		"type": TypeName, "title": "Tool", "provider_id": "acme/kit/kit", "provider_type": "builtin",
		"provider_name": "kit", "tool_name": name, "tool_label": name, "tool_node_version": "2",
		"tool_configurations": map[string]any{}, "tool_parameters": map[string]any{},
	}
	maps.Copy(d, extra)
	return d
}

// doc builds start → tool → end as a JSON document. Start declares text
// inputs a and b. The end node outputs each name in outs from the tool
// node.
func doc(data map[string]any, outs ...string) []byte {
	start := sharedtest.Start(sharedtest.Input("a", "text-input"), sharedtest.Input("b", "text-input"))
	return sharedtest.Chain("tool-test", start, sharedtest.Node{ID: "tool", Data: data}, sharedtest.End("tool", outs...))
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
