package workflowtool_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/record"
	"github.com/flowrun/flowrun/internal/repo/memory"
	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/tools"
	"github.com/flowrun/flowrun/internal/tools/workflowtool"
)

const (
	echoApp = "00000000-0000-4000-8000-000000000001"
	loopApp = "00000000-0000-4000-8000-000000000002"
	waitApp = "00000000-0000-4000-8000-000000000003"
	chatApp = "00000000-0000-4000-8000-000000000004"
)

// echoDSL returns its inputs.
const echoDSL = `
app: {mode: workflow, name: echo}
workflow:
  graph:
    nodes:
    - id: start
      data:
        type: start
        variables:
        - {variable: q, label: Question, type: text-input, required: true}
        - {variable: n, label: n, type: number, required: false, default: 2}
        - {variable: mode, label: mode, type: select, options: [a, b], required: false}
    - id: end
      data:
        type: end
        outputs:
        - {variable: answer, value_selector: [start, q], value_type: string}
        - {variable: n, value_selector: [start, n], value_type: number}
    edges:
    - {id: e1, source: start, target: end}
`

// loopDSL calls itself through the test-call node.
const loopDSL = `
app: {mode: workflow, name: loop}
workflow:
  graph:
    nodes:
    - id: start
      data: {type: start, variables: []}
    - id: call
      data: {type: test-call, provider: loop}
    - id: end
      data:
        type: end
        outputs:
        - {variable: text, value_selector: [call, text]}
    edges:
    - {id: e1, source: start, target: call}
    - {id: e2, source: call, target: end}
`

// waitDSL blocks in test-wait until its run ends.
const waitDSL = `
app: {mode: workflow, name: wait}
workflow:
  graph:
    nodes:
    - id: start
      data: {type: start, variables: []}
    - id: wait
      data: {type: test-wait}
    - id: end
      data: {type: end, outputs: []}
    edges:
    - {id: e1, source: start, target: wait}
    - {id: e2, source: wait, target: end}
`

const chatDSL = `
app: {mode: advanced-chat, name: chat}
workflow:
  graph:
    nodes:
    - id: start
      data: {type: start, variables: []}
    - id: answer
      data: {type: answer, answer: hi}
    edges:
    - {id: e1, source: start, target: answer}
`

// fixture is a server whose apps are tools of a registry.
type fixture struct {
	reg     *tools.Registry
	srv     *api.Server
	calls   atomic.Int64
	waiting chan context.Context
}

// newFixture builds the server and its tools. The test-call node is the
// stand-in of the tool node (not on this branch): it invokes its
// provider's tool with the run's context and user, as the tool node does.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{waiting: make(chan context.Context, 1)}
	nodes := run.NewRegistry()
	nodes.Register(run.NodeType{Name: "test-call", Build: func(b *run.Build) (run.Executor, error) {
		provider, _ := b.Data["provider"].(string)
		return run.ExecutorFunc(func(ctx context.Context, x *run.Exec) (*run.Result, error) {
			f.calls.Add(1)
			p, tl, err := f.reg.Lookup(ctx, "workflow", provider, "")
			if err != nil {
				return nil, err
			}
			user, _ := x.Pool.Get(run.Selector{"sys", "user_id"})
			u, _ := user.(string)
			msgs, err := tools.Collect(ctx, p, &tools.Call{Tool: tl.Name, User: u})
			if err != nil {
				return nil, err
			}
			return &run.Result{Outputs: run.Vars{{Name: "text", Value: tools.Text(msgs)}}}, nil
		}), nil
	}})
	nodes.Register(run.NodeType{Name: "test-wait", Build: func(*run.Build) (run.Executor, error) {
		return run.ExecutorFunc(func(ctx context.Context, _ *run.Exec) (*run.Result, error) {
			f.waiting <- ctx
			<-ctx.Done()
			return nil, context.Cause(ctx)
		}), nil
	}})
	// As cmd/api does: the tools exist before the server that runs apps.
	var late workflowtool.Deferred
	eng := run.New(run.Config{}, nodes)
	apps := app.NewMemory(time.Now)
	for id, dsl := range map[string]string{echoApp: echoDSL, loopApp: loopDSL, waitApp: waitDSL, chatApp: chatDSL} {
		a, err := app.New(eng, id, id, []byte(dsl))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := apps.Put(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	records, err := memory.New(memory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Apps: apps, Engine: eng, Records: record.Memory(records), Reader: records})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	cfg, err := tools.ParseConfig([]byte(`
providers:
- {id: echo, kind: workflow, app: `+echoApp+`, name: echo_tool, description: Echoes q}
- {id: loop, kind: workflow, app: `+loopApp+`}
- {id: wait, kind: workflow, app: `+waitApp+`}
- {id: chat, kind: workflow, app: `+chatApp+`}
- {id: ghost, kind: workflow, app: 00000000-0000-4000-8000-0000000000ff}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	f.reg, err = tools.Build(context.Background(), cfg, tools.Kinds{workflowtool.Kind: workflowtool.Factory(workflowtool.Options{Runner: &late})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.reg.Lookup(context.Background(), "workflow", "echo", ""); !errors.Is(err, workflowtool.ErrNoRunner) {
		t.Fatalf("before Set: %v", err)
	}
	late.Set(srv)
	return f
}

func (f *fixture) invoke(ctx context.Context, t *testing.T, provider string, args map[string]any) ([]tools.Message, error) {
	t.Helper()
	p, tl, err := f.reg.Lookup(ctx, "workflow", provider, "whatever")
	if err != nil {
		t.Fatal(err)
	}
	if args, err = tl.Cast(args); err != nil {
		t.Fatal(err)
	}
	return tools.Collect(ctx, p, &tools.Call{Tool: tl.Name, Args: args, User: "u-1"})
}

func TestToolDescribesTheApp(t *testing.T) {
	f := newFixture(t)
	_, tl, err := f.reg.Lookup(context.Background(), "workflow", "echo", "")
	if err != nil {
		t.Fatal(err)
	}
	if tl.Name != "echo_tool" || tl.Description != "Echoes q" || tl.Label != "echo" || len(tl.Params) != 3 {
		t.Fatalf("tool = %+v", tl)
	}
	q, n, mode := tl.Params[0], tl.Params[1], tl.Params[2]
	if q.Name != "q" || q.Type != tools.TypeString || !q.Required || q.Description != "Question" || q.Form != tools.FormLLM {
		t.Errorf("q = %+v", q)
	}
	if n.Type != tools.TypeNumber || n.Required || mode.Type != tools.TypeSelect || strings.Join(mode.Options, ",") != "a,b" {
		t.Errorf("n = %+v, mode = %+v", n, mode)
	}
	if got := string(tl.OutputSchema); got != `{"properties":{"answer":{"description":"","type":"string"},"n":{"description":"","type":"number"}},"type":"object"}` {
		t.Errorf("output schema = %s", got)
	}
}

func TestCallWorkflowAsTool(t *testing.T) {
	f := newFixture(t)
	msgs, err := f.invoke(context.Background(), t, "echo", map[string]any{"q": "héllo", "n": "3"})
	if err != nil {
		t.Fatal(err)
	}
	// Dify: the outputs' json.dumps(ensure_ascii=False) as text, then the
	// outputs as a json message.
	if len(msgs) != 2 || msgs[0].Kind != tools.KindText || msgs[1].Kind != tools.KindJSON {
		t.Fatalf("messages = %+v", msgs)
	}
	if msgs[0].Text != `{"answer": "héllo", "n": 3}` {
		t.Errorf("text = %s", msgs[0].Text)
	}
	if m := msgs[1].JSON.(map[string]any); m["answer"] != "héllo" || m["n"] != int64(3) {
		t.Errorf("json = %v", m)
	}
	// A missing optional input takes its default; a missing required one
	// fails as the run request would.
	msgs, err = f.invoke(context.Background(), t, "echo", map[string]any{"q": "x"})
	if err != nil || msgs[0].Text != `{"answer": "x", "n": 2}` {
		t.Errorf("default: %v %+v", err, msgs)
	}
	_, err = f.invoke(context.Background(), t, "echo", nil)
	var ie *run.InputError
	if !errors.As(err, &ie) || err.Error() != "q is required in input form" {
		t.Errorf("missing q: %v", err)
	}
}

func TestNestingStopsAtTheDepthLimit(t *testing.T) {
	f := newFixture(t)
	_, err := f.invoke(context.Background(), t, "loop", nil)
	if err == nil || !strings.Contains(err.Error(), "Max workflow call depth 5 reached.") || tools.TypeOf(err) != tools.ErrTypeInvoke {
		t.Fatalf("err = %v", err)
	}
	// Runs at depths 1 to 5 each called once more; the sixth call was
	// refused before running.
	if n := f.calls.Load(); n != 5 {
		t.Errorf("test-call ran %d times, want 5", n)
	}
	// A caller already at the limit cannot call at all.
	p, _ := f.reg.Provider("echo")
	_, err = tools.Collect(context.Background(), p, &tools.Call{Tool: "echo_tool", Args: map[string]any{"q": "x"}, Depth: 5})
	if err == nil || err.Error() != "Max workflow call depth 5 reached." {
		t.Errorf("depth 5 caller: %v", err)
	}
}

func TestCancelStopsTheCallee(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f.invoke(ctx, t, "wait", nil)
		done <- err
	}()
	var inner context.Context
	select {
	case inner = <-f.waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the nested run did not start")
	}
	if workflowtool.Depth(inner) != 1 {
		t.Errorf("nested run depth = %d", workflowtool.Depth(inner))
	}
	cancel(run.ErrStopped)
	select {
	case err := <-done:
		if !errors.Is(err, run.ErrStopped) {
			t.Errorf("err = %v, want the caller's stop", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end when its caller stopped")
	}
	if inner.Err() == nil {
		t.Error("the nested run's context is still live")
	}
}

func TestBadApps(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, _, err := f.reg.Lookup(ctx, "workflow", "chat", ""); err == nil || !strings.Contains(err.Error(), "only workflow apps") {
		t.Errorf("chatflow: %v", err)
	}
	if _, _, err := f.reg.Lookup(ctx, "workflow", "ghost", ""); !errors.Is(err, api.ErrAppNotFound) {
		t.Errorf("unknown app: %v", err)
	}
	cfg, _ := tools.ParseConfig([]byte("providers:\n- {id: x, kind: workflow}\n"), "")
	if _, err := tools.Build(ctx, cfg, tools.Kinds{workflowtool.Kind: workflowtool.Factory(workflowtool.Options{Runner: f.srv})}, nil); err == nil || !strings.Contains(err.Error(), "app is required") {
		t.Errorf("no app: %v", err)
	}
}
