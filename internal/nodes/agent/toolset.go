package agent

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"

	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/tools"
	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

// agentTool is one tool the model may call.
type agentTool struct {
	provider tools.Provider
	tool     *tools.Tool
	// providerID is the entry's provider, for log metadata.
	providerID string
	// runtime are the settings and fixed parameters; auto the parameters
	// the model fills in.
	runtime map[string]any
	auto    map[string]bool
}

// toolset is the tools of one run, by name.
type toolset struct {
	byName map[string]*agentTool
	order  []*agentTool
}

// toolset looks the enabled tool entries up in the registry. A tool that
// is not configured fails the node with the registry's Dify message, as
// Dify's agent node fails when it cannot get a tool's runtime.
func (n *node) toolset(ctx context.Context, entries []toolEntry) (*toolset, error) {
	ts := &toolset{byName: map[string]*agentTool{}}
	for i := range entries {
		e := &entries[i]
		id := e.ProviderName
		if e.ProviderID != "" {
			id = e.ProviderID
		}
		p, t, err := n.tools.Lookup(ctx, e.Type, id, e.ToolName)
		if err != nil {
			return nil, nodeError(tools.TypeOf(err), "%w", err)
		}
		runtime, auto := e.fixed()
		at := &agentTool{provider: p, tool: t, providerID: id, runtime: runtime, auto: auto}
		if _, dup := ts.byName[t.Name]; !dup {
			ts.order = append(ts.order, at)
		}
		ts.byName[t.Name] = at
	}
	return ts, nil
}

// schema is the tool's parameters for the model: Tool.InputSchema less
// the parameters the node fixes.
func (a *agentTool) schema() map[string]any {
	s := a.tool.InputSchema()
	props, _ := s["properties"].(map[string]any)
	req, _ := s["required"].([]any)
	keptReq := []any{}
	kept := map[string]any{}
	for name, p := range props {
		if _, fixed := a.runtime[name]; fixed && !a.auto[name] {
			continue
		}
		kept[name] = p
	}
	for _, r := range req {
		if _, ok := kept[r.(string)]; ok {
			keptReq = append(keptReq, r)
		}
	}
	return map[string]any{"type": "object", "properties": kept, "required": keptReq}
}

// openaiTools declares the tools to the model, in the node's order.
func (ts *toolset) openaiTools() []openai.Tool {
	out := make([]openai.Tool, 0, len(ts.order))
	for _, a := range ts.order {
		out = append(out, openai.Tool{Type: "function", Function: openai.Function{Name: a.tool.Name, Description: a.tool.Description, Parameters: a.schema()}})
	}
	return out
}

// promptTools describes the tools in the ReAct system prompt, as the
// plugin dumps its PromptMessageTool models: name, description and
// parameters.
func (ts *toolset) promptTools() (string, []string) {
	list := make([]any, 0, len(ts.order))
	names := make([]string, 0, len(ts.order))
	for _, a := range ts.order {
		list = append(list, map[string]any{"name": a.tool.Name, "description": a.tool.Description, "parameters": a.schema()})
		names = append(names, a.tool.Name)
	}
	return pyjson.Dumps(list, true), names
}

// toolResult is what one tool call gave back.
type toolResult struct {
	// observation is the text the model gets.
	observation string
	// args are the arguments the tool was called with.
	args map[string]any
	// msgs are the messages the tool emitted.
	msgs []tools.Message
	// found is false when no tool has the name.
	found bool
}

// invoke calls one tool with the model's arguments over the runtime
// parameters. A failing tool's error becomes the observation, as in Dify;
// only ctx's end is returned as an error.
func (ts *toolset) invoke(ctx context.Context, base *tools.Call, name string, modelArgs map[string]any, react bool) (toolResult, error) {
	a, ok := ts.byName[name]
	if !ok {
		return toolResult{observation: "there is not a tool named " + name, args: modelArgs}, nil
	}
	args := make(map[string]any, len(a.runtime)+len(modelArgs))
	for k, v := range a.runtime {
		args[k] = v
	}
	for k, v := range modelArgs {
		args[k] = v
	}
	res := toolResult{args: args, found: true}
	cast, err := a.tool.Cast(args)
	if err == nil {
		call := *base
		call.Tool, call.Args = a.tool.Name, cast
		res.msgs, err = tools.Collect(ctx, a.provider, &call)
	}
	if err != nil {
		if cerr := context.Cause(ctx); ctx.Err() != nil {
			return res, cerr
		}
		res.observation = "tool invoke error: " + err.Error()
		res.msgs = nil
		return res, nil
	}
	res.observation = observation(res.msgs, react)
	return res, nil
}

// call is one tool call asked for by the model.
type call struct {
	id, name string
	args     map[string]any
}

// invokeAll runs calls in parallel, each with ctx (the node's timeout and
// the run's stop), and returns their results in order.
func (ts *toolset) invokeAll(ctx context.Context, base *tools.Call, calls []call) ([]toolResult, error) {
	out := make([]toolResult, len(calls))
	errs := make([]error, len(calls))
	if len(calls) == 1 {
		out[0], errs[0] = ts.invoke(ctx, base, calls[0].name, calls[0].args, false)
		return out, errs[0]
	}
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = ts.invoke(ctx, base, c.name, c.args, false)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// observation renders a tool's messages as the text its model gets, as
// the strategies of Dify's agent plugin do.
func observation(msgs []tools.Message, react bool) string {
	var b []byte
	for _, m := range msgs {
		switch m.Kind {
		case tools.KindText:
			b = append(b, m.Text...)
		case tools.KindLink:
			b = append(b, "result link: "+m.Text+". please tell user to check it."...)
		case tools.KindImage, tools.KindImageLink:
			if react {
				b = append(b, "Image has been successfully generated and saved to: "+m.Text+". The image file is now available for download. Please inform the user that the image has been created successfully."...)
			} else {
				b = append(b, "image has been created and sent to user already, you do not need to create it, just tell the user to check it now."...)
			}
		case tools.KindJSON:
			if react && m.Suppress {
				continue
			}
			b = append(b, "tool response: "+pyjson.Dumps(m.JSON, false)+"."...)
		case tools.KindBlob:
			if react {
				b = append(b, "Generated file with ... "...)
			} else {
				b = append(b, "Generated file ... "...)
			}
		}
	}
	return string(b)
}

// parseArgs decodes a tool call's JSON arguments ("" is none).
func parseArgs(s string) (map[string]any, error) {
	if s == "" {
		return map[string]any{}, nil
	}
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return run.Normalize(m).(map[string]any), nil
}
