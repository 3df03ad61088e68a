// Package agent implements Dify's agent node (Dify ≥ 1.0) with the two
// strategies of Dify's official agent plugin (langgenius/agent, cot_agent):
// function_calling and ReAct. The model is called through llm.Models, the
// OpenAI-compatible client the llm node uses; tools come from a
// tools.Registry.
//
// The node runs rounds: a model call, then the tools the model asked for,
// whose results go back to the model, until the model answers without a
// tool call or maximum_iterations rounds have run. Tool calls of one
// round run in parallel (function_calling). A tool that fails gives the
// model its error as the observation ("tool invoke error: …"), as in
// Dify; it does not fail the node. Each round, model call and tool call is
// logged as agent_log events (run.Exec.AgentLog), in the order Dify sends
// them, and the answer streams as [node_id, "text"]. See docs/nodes.md.
package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/flowrun/flowrun/internal/nodes/llm"
	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/tools"
)

// Strategy names (Dify's agent_strategy_name).
const (
	FunctionCalling = "function_calling"
	ReAct           = "ReAct"
)

// DefaultMaxIterations is the strategies' maximum_iterations default.
const DefaultMaxIterations = 3

// Register adds the agent node type to r. Its models come from models,
// its tools from reg (nil: no tool is configured, and a node naming one
// fails when it runs, with Dify's message).
func Register(r *run.Registry, models *llm.Models, reg *tools.Registry) {
	if reg == nil {
		reg = tools.NewRegistry()
	}
	r.Register(run.NodeType{Name: "agent", Build: func(b *run.Build) (run.Executor, error) { return build(b, models, reg) }})
}

// input is one agent parameter: Dify's AgentNodeData.AgentInput.
type input struct {
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// data is the agent node's DSL data (Dify's AgentNodeData).
type data struct {
	StrategyProvider string           `json:"agent_strategy_provider_name"`
	Strategy         string           `json:"agent_strategy_name"`
	Parameters       map[string]input `json:"agent_parameters"`
	Memory           *llm.Memory      `json:"memory"`
}

// modelValue is the model parameter's value (a model-selector).
type modelValue struct {
	Provider         string         `json:"provider"`
	Model            string         `json:"model"`
	CompletionParams map[string]any `json:"completion_params"`
}

type node struct {
	strategy string
	// strategyErr is why the strategy cannot run (reported at run time).
	strategyErr error
	params      map[string]input
	model       *llm.Model
	models      *llm.Models
	memory      *llm.Memory
	tools       *tools.Registry
}

func build(b *run.Build, models *llm.Models, reg *tools.Registry) (run.Executor, error) {
	var d data
	if err := b.Decode(&d); err != nil {
		return nil, err
	}
	n := &node{params: d.Parameters, models: models, memory: d.Memory, tools: reg}
	n.strategy, n.strategyErr = strategyOf(d.StrategyProvider, d.Strategy)
	for name, in := range d.Parameters {
		switch in.Type {
		case "variable":
			sel, err := selectorOf(in.Value)
			if err != nil {
				b.Errorf("agent_parameters.%s: %v", name, err)
				continue
			}
			b.Selector("agent_parameters."+name, sel)
		case "mixed", "constant":
			if s, ok := in.Value.(string); ok {
				b.Template("agent_parameters."+name, s)
			}
		default:
			b.Errorf("agent_parameters.%s: Unknown agent input type '%s'", name, in.Type)
		}
	}
	if in, ok := d.Parameters["model"]; ok && in.Type != "variable" {
		var mv modelValue
		if err := remarshal(in.Value, &mv); err != nil {
			b.Errorf("agent_parameters.model: %v", err)
		} else {
			n.model = models.Resolve(b, mv.Provider, mv.Model, mv.CompletionParams)
		}
	}
	if d.Memory != nil {
		d.Memory.NeedAgent(b)
	}
	return n, nil
}

// strategyOf checks the strategy as Dify's get_plugin_agent_strategy
// does, against the strategies of the official agent plugin. A Dify id
// (langgenius/agent/function_calling) names the strategy by its last
// segment.
func strategyOf(provider, name string) (string, error) {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	switch name {
	case FunctionCalling, ReAct:
		if provider == "" || provider == "agent" || strings.HasSuffix(provider, "/agent") || strings.HasPrefix(provider, "langgenius/agent") {
			return name, nil
		}
		return "", nodeError("AgentStrategyNotFoundError", "Failed to get agent strategy: Agent strategy provider %s not found", provider)
	}
	return "", nodeError("AgentStrategyNotFoundError", "Failed to get agent strategy: Agent strategy %s not found", name)
}

func selectorOf(v any) (run.Selector, error) {
	list, ok := v.([]any)
	if !ok || len(list) < 2 {
		return nil, fmt.Errorf("a variable input needs a selector list")
	}
	sel := make(run.Selector, len(list))
	for i, p := range list {
		s, ok := p.(string)
		if !ok {
			return nil, fmt.Errorf("a variable input needs a selector of strings")
		}
		sel[i] = s
	}
	return sel, nil
}

// remarshal decodes a YAML/JSON value into v through JSON.
func remarshal(in any, v any) error {
	raw, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

func nodeError(typ, format string, args ...any) error {
	return &run.NodeError{Type: typ, Err: fmt.Errorf(format, args...)}
}

// Execute resolves the parameters, runs the strategy and maps its
// messages to Dify's outputs.
func (n *node) Execute(ctx context.Context, x *run.Exec) (*run.Result, error) {
	if n.strategyErr != nil {
		return &run.Result{}, n.strategyErr
	}
	p, inputs, err := n.resolve(x.Pool)
	if err != nil {
		return &run.Result{Inputs: inputs}, err
	}
	if n.model == nil {
		return &run.Result{Inputs: inputs}, nodeError("AgentParameterError", "Failed to invoke agent: model is required")
	}
	if err := n.model.Err(); err != nil {
		return &run.Result{Inputs: inputs}, err
	}
	ts, err := n.toolset(ctx, p.tools)
	if err != nil {
		return &run.Result{Inputs: inputs}, err
	}
	st := &state{
		x: x, model: n.model, tools: ts, p: p, log: newLogger(x),
		user: userID(x.Pool), history: n.models.AgentHistory(x.History(), n.memory),
		call: &tools.Call{User: userID(x.Pool), AppID: sysString(x.Pool, "app_id"), ConversationID: sysString(x.Pool, "conversation_id")},
	}
	if n.strategy == ReAct {
		err = st.react(ctx)
	} else {
		err = st.functionCalling(ctx)
	}
	if err != nil {
		return &run.Result{Inputs: inputs}, err
	}
	return st.result(inputs, n.strategy), nil
}

func userID(p *run.Pool) string { return sysString(p, "user_id") }

func sysString(p *run.Pool, name string) string {
	v, _ := p.Get(run.Selector{"sys", name})
	s, _ := v.(string)
	return s
}
