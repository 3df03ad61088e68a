package tool

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/flowrun/flowrun/internal/nodes/httpreq"
	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/tools"
)

// Error types (Python exception classes) the node reports.
const (
	// ErrTypeNode is what Dify reports for exceptions its tool node does
	// not handle itself (a provider that is not found, a cast that
	// fails): the base node's class.
	ErrTypeNode = "WorkflowNodeError"
	// ErrTypeParameter is ToolParameterError.
	ErrTypeParameter = "ToolParameterError"
)

// Execute looks the tool up, resolves its settings and arguments, invokes
// it and maps its messages to the node's outputs.
func (n *node) Execute(ctx context.Context, x *run.Exec) (*run.Result, error) {
	meta := map[string]any{"tool_info": n.info}
	var inputs run.Vars
	fail := func(typ string, err error) (*run.Result, error) {
		return &run.Result{Inputs: inputs, Metadata: meta}, &run.NodeError{Type: typ, Err: err}
	}
	prov, t, err := n.reg.Lookup(ctx, n.providerType, n.providerID, n.tool)
	if err != nil {
		return fail(errType(err, ErrTypeNode), err)
	}
	settings, err := n.settings(t, x.Pool)
	if err != nil {
		var re runtimeError
		if errors.As(err, &re) {
			return fail(ErrTypeParameter, fmt.Errorf("Failed to get tool runtime: %w", re.err)) //nolint:staticcheck // Dify's text
		}
		return fail(ErrTypeNode, err)
	}
	args, err := n.arguments(t, x.Pool)
	if err != nil {
		return fail(ErrTypeNode, err)
	}
	inputs = make(run.Vars, 0, len(n.params))
	for _, in := range n.params {
		if v, ok := args[in.name]; ok {
			inputs = append(inputs, run.Var{Name: in.name, Value: v})
		}
	}
	// Settings win over arguments of the same name (Tool.invoke).
	for k, v := range settings {
		args[k] = v
	}
	for i := range t.Params {
		p := &t.Params[i]
		if v, ok := args[p.Name]; p.Required && p.Default == nil && (!ok || v == nil) {
			return fail(ErrTypeParameter, fmt.Errorf("tool parameter %s not found in tool config", p.Name))
		}
	}
	if args, err = t.Cast(args); err != nil {
		return fail(ErrTypeNode, err)
	}
	out := &outputs{x: x, files: []any{}, max: n.maxOutput}
	err = prov.Invoke(ctx, n.call(t, args, x.Pool), out.add)
	if out.err != nil {
		// The tool went on after its messages were refused, or dropped
		// the refusal.
		err = out.err
	}
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return fail(ErrTypeNode, context.Cause(ctx))
	case tools.TypeOf(err) == tools.ErrTypeInvoke:
		return fail(tools.ErrTypeInvoke, fmt.Errorf("Failed to invoke tool %s: %w", n.providerName, err)) //nolint:staticcheck // Dify's text
	default:
		return fail(errType(err, ErrTypeNode), err)
	}
	return &run.Result{Inputs: inputs, Outputs: out.vars(), Metadata: meta}, nil
}

// call builds the invocation, with the run's user, app and conversation.
func (n *node) call(t *tools.Tool, args map[string]any, pool *run.Pool) *tools.Call {
	sys := func(name string) string {
		v, _ := pool.Get(run.Selector{"sys", name})
		s, _ := v.(string)
		return s
	}
	return &tools.Call{Tool: t.Name, Args: args, User: sys("user_id"), AppID: sys("app_id"), ConversationID: sys("conversation_id")}
}

// errType is the exception class an error carries, or def.
func errType(err error, def string) string {
	var ne *run.NodeError
	switch {
	case errors.As(err, &ne) && ne.Type != "":
		return ne.Type
	case tools.TypeOf(err) != "" && tools.TypeOf(err) != tools.ErrTypeProviderNotFound:
		return tools.TypeOf(err)
	}
	return def
}

// outputs gathers a tool's messages into the node's outputs as Dify's
// ToolNode._transform_message does.
type outputs struct {
	x     *run.Exec
	text  strings.Builder
	files []any
	json  []any
	// variables keeps the order in which the tool set them.
	variables run.Vars
	// size is what the messages added up to so far, max its bound; err is
	// the first message refused.
	size, max int64
	err       error
}

// add takes one message. An invalid message, or one past the output
// bound, fails the node; so does every message after it.
func (o *outputs) add(m tools.Message) error {
	if o.err != nil {
		return o.err
	}
	if err := m.Validate(); err != nil {
		o.err = &run.NodeError{Type: ErrTypeNode, Err: err}
		return o.err
	}
	o.size += int64(len(m.Text)+len(m.Blob)) + run.Size(m.JSON) + run.Size(m.Value) + run.Size(m.File)
	if o.size > o.max {
		o.err = &run.NodeError{Type: ErrTypeNode, Err: fmt.Errorf("%w: its messages exceed %d bytes", ErrOutputTooLarge, o.max)}
		return o.err
	}
	// Values enter the variable pool: the engine's value set only.
	m.JSON, m.Value = run.Normalize(m.JSON), run.Normalize(m.Value)
	switch m.Kind {
	case tools.KindText:
		o.streamText(m.Text)
	case tools.KindLink:
		if m.File != nil {
			o.files = append(o.files, m.File)
			o.streamText("File: " + m.Text + "\n")
		} else {
			o.streamText("Link: " + m.Text + "\n")
		}
	case tools.KindImage, tools.KindImageLink, tools.KindBinaryLink:
		o.files = append(o.files, httpreq.RemoteFile(m.Text, m.MIME))
	case tools.KindBlob:
		o.files = append(o.files, httpreq.DataFile(m.Name, m.MIME, m.Blob))
	case tools.KindFile:
		o.files = append(o.files, m.File)
	case tools.KindJSON:
		if py.Truthy(m.JSON) {
			o.json = append(o.json, m.JSON)
		}
	case tools.KindVariable:
		if !m.Stream {
			o.variables = o.variables.With(m.Variable, m.Value)
			break
		}
		piece := m.Value.(string)
		cur, _ := o.variables.Get(m.Variable)
		s, _ := cur.(string)
		o.variables = o.variables.With(m.Variable, s+piece)
		o.x.Stream(m.Variable, piece)
	}
	return nil
}

func (o *outputs) streamText(s string) {
	o.text.WriteString(s)
	o.x.Stream("text", s)
}

// vars returns the outputs: text, files, json (or [{"data": []}] when the
// tool sent none), then the variables.
func (o *outputs) vars() run.Vars {
	js := o.json
	if len(js) == 0 {
		js = []any{map[string]any{"data": []any{}}}
	}
	vs := make(run.Vars, 0, 3+len(o.variables))
	vs = append(vs, run.Var{Name: "text", Value: o.text.String()}, run.Var{Name: "files", Value: o.files}, run.Var{Name: "json", Value: js})
	return append(vs, o.variables...)
}
