// Package workflowtool is the tool provider kind "workflow": an app served
// by the same flowrun, called in-process as a tool (Dify's WorkflowTool).
//
// The tool's parameters are the called app's Start variables; its result
// is the run's End outputs, as a text (their JSON) and a json message,
// with the files among them as file messages. Runs nest: each call runs
// one level deeper than its caller, up to a depth limit (Dify's
// WORKFLOW_CALL_MAX_DEPTH), and a nested run shares its caller's context,
// so the caller's stop and timeout end it too. See docs/tools.md.
package workflowtool

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/tools"
	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

// Kind is the provider kind this package implements (tools.yaml's kind).
const Kind = "workflow"

// DefaultMaxDepth is Dify's WORKFLOW_CALL_MAX_DEPTH default.
const DefaultMaxDepth = 5

// Runner runs the apps of this flowrun; internal/api's Server implements
// it over its app store and engine.
type Runner interface {
	// Workflow returns app appID's compiled workflow.
	Workflow(ctx context.Context, appID string) (*run.Workflow, error)
	// RunWorkflow runs app appID's workflow with inputs (validated as a
	// run request's are) for user, at call depth depth, and returns its
	// final state. The run ends when ctx does.
	RunWorkflow(ctx context.Context, appID string, inputs map[string]any, user string, depth int) (*run.RunInfo, error)
}

// Options are the dependencies of every workflow provider.
type Options struct {
	// Runner runs the called apps. Required.
	Runner Runner
	// MaxDepth is the deepest call allowed (default 5): a run started by
	// the API is at depth 0, a workflow it calls at 1, and so on.
	MaxDepth int
}

// Factory returns the workflow kind's factory.
func Factory(o Options) tools.Factory {
	o.MaxDepth = cmp.Or(o.MaxDepth, DefaultMaxDepth)
	return func(_ context.Context, pc *tools.ProviderConfig) (tools.Provider, error) {
		var c tools.WorkflowConfig
		if err := pc.Decode(&c); err != nil {
			return nil, err
		}
		if c.App == "" {
			return nil, errors.New("app is required")
		}
		if o.Runner == nil {
			return nil, errors.New("workflow tools: no runner configured")
		}
		return &Provider{cfg: c, opt: o}, nil
	}
}

// Provider is one app offered as a tool.
type Provider struct {
	cfg tools.WorkflowConfig
	opt Options
}

// depthKey carries the call depth of a nested run in its context.
type depthKey struct{}

// WithDepth returns ctx marked as the context of a run at call depth d.
func WithDepth(ctx context.Context, d int) context.Context {
	return context.WithValue(ctx, depthKey{}, d)
}

// Depth returns the call depth ctx carries (0 outside nested runs).
func Depth(ctx context.Context) int {
	d, _ := ctx.Value(depthKey{}).(int)
	return d
}

// Tools lists the one tool: named by the configuration (default: the app
// id), with the app's Start variables as parameters.
func (p *Provider) Tools(ctx context.Context) ([]tools.Tool, error) {
	wf, err := p.workflow(ctx)
	if err != nil {
		return nil, err
	}
	t := tools.Tool{Name: cmp.Or(p.cfg.Name, p.cfg.App), Description: p.cfg.Description}
	t.Label = cmp.Or(wf.Doc.App.Name, t.Name)
	for _, v := range wf.Inputs {
		typ, ok := paramTypes[v.Type]
		if !ok {
			return nil, fmt.Errorf("unsupported variable type %s", v.Type)
		}
		t.Params = append(t.Params, tools.Param{Name: v.Variable, Type: typ, Required: v.Required,
			Description: cmp.Or(v.Description, v.Label), Form: tools.FormLLM, Default: v.Default, Options: v.Options})
	}
	t.OutputSchema = outputSchema(wf)
	return []tools.Tool{t}, nil
}

// paramTypes maps Start variable types to parameter types, as Dify's
// VARIABLE_TO_PARAMETER_TYPE_MAPPING does.
var paramTypes = map[string]tools.ParamType{
	"text-input": tools.TypeString, "paragraph": tools.TypeString, "select": tools.TypeSelect,
	"number": tools.TypeNumber, "checkbox": tools.TypeBoolean, "file": tools.TypeFile, "file-list": tools.TypeFiles,
}

func (p *Provider) workflow(ctx context.Context) (*run.Workflow, error) {
	wf, err := p.opt.Runner.Workflow(ctx, p.cfg.App)
	if err != nil {
		return nil, err
	}
	if wf.Chat() {
		return nil, fmt.Errorf("app %s is a chatflow: only workflow apps can be tools", p.cfg.App)
	}
	return wf, nil
}

// Invoke runs the app one level deeper than the caller. A run that fails
// fails the call with its error (Dify's ToolInvokeError).
func (p *Provider) Invoke(ctx context.Context, call *tools.Call, emit tools.Emit) error {
	depth := max(call.Depth, Depth(ctx)) + 1
	if depth > p.opt.MaxDepth {
		return tools.InvokeErrorf("Max workflow call depth %d reached.", p.opt.MaxDepth)
	}
	wf, err := p.workflow(ctx)
	if err != nil {
		return err
	}
	// Dify passes every declared parameter, None when absent.
	inputs := make(map[string]any, len(wf.Inputs))
	for _, v := range wf.Inputs {
		inputs[v.Variable] = call.Args[v.Variable]
	}
	info, err := p.opt.Runner.RunWorkflow(WithDepth(ctx, depth), p.cfg.App, inputs, call.User, depth)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if info.Status != run.StatusSucceeded && info.Status != run.StatusPartialSucceeded {
		return tools.InvokeErrorf("%s", cmp.Or(info.Error, "workflow run "+string(info.Status)))
	}
	obj := pyjson.NewObject()
	var msgs []tools.Message
	for _, o := range info.Outputs {
		obj.Set(o.Name, o.Value)
		msgs = append(msgs, files(o.Value)...)
	}
	msgs = append(msgs, tools.TextMessage(pyjson.Dumps(obj, false)), tools.JSONMessage(plain(obj)))
	for _, m := range msgs {
		if err := emit(m); err != nil {
			return err
		}
	}
	return nil
}

// fileIdentity marks a Dify file mapping.
const fileIdentity = "__dify__file__"

// files returns a file message for v if it is a file, or for each file in
// it if it is a list (Dify's _extract_files).
func files(v any) []tools.Message {
	isFile := func(x any) (map[string]any, bool) {
		m, ok := x.(map[string]any)
		return m, ok && m["dify_model_identity"] == fileIdentity
	}
	if f, ok := isFile(v); ok {
		return []tools.Message{tools.FileMessage(f)}
	}
	var out []tools.Message
	if l, ok := v.([]any); ok {
		for _, e := range l {
			if f, ok := isFile(e); ok {
				out = append(out, tools.FileMessage(f))
			}
		}
	}
	return out
}

// plain is obj as plain values for the json message.
func plain(obj *pyjson.Object) map[string]any {
	m := make(map[string]any, obj.Len())
	for _, k := range obj.Keys() {
		m[k], _ = obj.Get(k)
	}
	return m
}

// outputSchema describes the End outputs (informative, as in Dify):
// each output named, reserved names left out.
func outputSchema(wf *run.Workflow) json.RawMessage {
	props := map[string]any{}
	for _, n := range wf.Doc.Workflow.Graph.Nodes {
		if n.Data["type"] != "end" {
			continue
		}
		outs, _ := n.Data["outputs"].([]any)
		for _, o := range outs {
			m, _ := o.(map[string]any)
			name, _ := m["variable"].(string)
			if name == "" || name == "json" || name == "text" || name == "files" {
				continue
			}
			typ, _ := m["value_type"].(string)
			props[name] = map[string]any{"type": cmp.Or(typ, "string"), "description": ""}
		}
	}
	b, _ := json.Marshal(map[string]any{"type": "object", "properties": props})
	return b
}
