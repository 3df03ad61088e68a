package run

import (
	"context"
	"fmt"
	"strconv"
)

// This file ports Dify's loop node (api/core/workflow/nodes/loop/): the
// container initialises its loop variables, then runs its inner graph up
// to loop_count times. Break conditions are checked before the first round
// and after each round; reaching a loop-end node ends the loop after the
// current round. Loop variables live in a pool of their own under the loop
// node's id, so assigners inside the loop update them (Pool.Update) and they
// persist across rounds, while every round starts with a fresh pool for the
// inner nodes' outputs (Dify clears them between rounds).

func init() {
	registerBuiltin(NodeType{Name: "loop", Build: buildLoop, Container: true})
	registerBuiltin(NodeType{Name: "loop-end", Build: buildLoopEnd})
}

// Loop completion reasons reported in the loop's metadata (Dify's
// LoopCompletedReason).
const (
	LoopCompletedReasonBreak     = "loop_break"
	LoopCompletedReasonCompleted = "loop_completed"
)

// loopVarTypes are the var_type values Dify accepts for loop variables.
var loopVarTypes = map[string]bool{
	"string": true, "number": true, "object": true, "boolean": true,
	"array[string]": true, "array[number]": true, "array[object]": true, "array[boolean]": true,
}

type loopVariable struct {
	Label     string `json:"label"`
	VarType   string `json:"var_type"`
	ValueType string `json:"value_type"`
	Value     any    `json:"value"`
	selector  Selector
}

type loopNode struct {
	count   int
	breaks  *ConditionSet
	vars    []loopVariable
	outputs Vars // the DSL's own "outputs" mapping, which Dify starts from
}

func buildLoop(b *Build) (Executor, error) {
	var cfg struct {
		LoopCount       *int           `json:"loop_count"`
		BreakConditions []Condition    `json:"break_conditions"`
		LogicalOperator string         `json:"logical_operator"`
		LoopVariables   []loopVariable `json:"loop_variables"`
		Outputs         map[string]any `json:"outputs"`
	}
	if err := b.Decode(&cfg); err != nil {
		return nil, err
	}
	l := &loopNode{breaks: BuildConditions(b, "break_conditions", cfg.LogicalOperator, cfg.BreakConditions)}
	limit := b.Config().LoopMaxCount
	switch {
	case cfg.LoopCount == nil:
		b.Errorf("loop_count is required")
	case *cfg.LoopCount > limit:
		b.Errorf("loop_count %d exceeds the maximum loop count %d", *cfg.LoopCount, limit)
	default:
		l.count = *cfg.LoopCount
	}
	for i, lv := range cfg.LoopVariables {
		f := fmt.Sprintf("loop_variables[%d]", i)
		lv.Value = Normalize(lv.Value)
		if lv.Label == "" {
			b.Errorf("%s: loop variable has no label", f)
		}
		if !loopVarTypes[lv.VarType] {
			b.Errorf("%s: unknown var_type %q", f, lv.VarType)
		}
		switch lv.ValueType {
		case "constant":
		case "variable":
			if sel, ok := selectorOf(lv.Value); ok {
				lv.selector = b.Selector(f+".value", sel)
			}
			// Anything else fails at run time, as in Dify ("Invalid value
			// for loop variable").
		default:
			b.Errorf("%s: value_type must be \"constant\" or \"variable\", not %q", f, lv.ValueType)
		}
		l.vars = append(l.vars, lv)
	}
	for _, k := range sortedKeys(cfg.Outputs) {
		l.outputs = append(l.outputs, Var{k, Normalize(cfg.Outputs[k])})
	}
	return l, nil
}

// initial computes a loop variable's starting value.
func (lv *loopVariable) initial(p *Pool) (any, error) {
	if lv.ValueType == "variable" {
		if lv.selector != nil {
			if v, ok := p.Get(lv.selector); ok {
				return deepCopy(v), nil
			}
		}
		return nil, &NodeError{Type: "ValueError", Err: fmt.Errorf("Invalid value for loop variable %s", lv.Label)}
	}
	return loopConstant(lv.VarType, lv.Value)
}

// loopConstant types a constant loop variable as Dify's
// LoopNode._get_segment_for_constant does: arrays of numbers, objects and
// strings are written as JSON text (anything else gives []); other types
// take the value as is, or its JSON decoding when it is a string of the
// wrong type ("1" for a number).
func loopConstant(varType string, orig any) (any, error) {
	v := orig
	switch varType {
	case "array[number]", "array[object]", "array[string]":
		s, ok := orig.(string)
		if !ok || s == "" {
			v = []any{}
			break
		}
		parsed, err := parseJSONValue(s)
		if err != nil {
			return nil, &NodeError{Type: "JSONDecodeError", Err: err}
		}
		v = parsed
	}
	out, err := typedValue(varType, v)
	if err == nil {
		return out, nil
	}
	s, ok := orig.(string)
	if !ok {
		return nil, err
	}
	parsed, perr := parseJSONValue(s)
	if perr != nil {
		return nil, err
	}
	return typedValue(varType, parsed)
}

// loopEndKey is the pool entry through which a loop-end node tells its loop
// that the current round is the last. Each round's pool holds it, so a
// loop-end reached inside nested containers finds its loop's round.
func loopEndKey(loopID string) string { return "\x00loop-end:" + loopID }

func (l *loopNode) Execute(ctx context.Context, x *Exec) (*Result, error) {
	id := x.Node.ID
	count := l.count
	inputs := Vars{{"loop_count", int64(count)}}
	vars := make(Vars, 0, len(l.vars))
	for _, lv := range l.vars {
		v, err := lv.initial(x.Pool)
		if err != nil {
			return &Result{Inputs: inputs}, err
		}
		vars = vars.With(lv.Label, v)
		inputs = inputs.With(lv.Label, v)
	}
	x.Start(inputs, map[string]any{"loop_length": int64(count)})

	loopPool := NewPool(x.Pool)
	loopPool.Set(id, vars)
	durations := map[string]any{}
	varMap := map[string]any{}
	meta := func(reason string) map[string]any {
		return map[string]any{"completed_reason": reason, "loop_duration_map": durations, "loop_variable_map": varMap}
	}
	fail := func(err error) (*Result, error) {
		res := &Result{Inputs: inputs, Metadata: meta("error")}
		if ctx.Err() != nil {
			return res, context.Cause(ctx)
		}
		return res, &NodeError{Type: "LoopNodeError", Err: err}
	}

	broke := false
	if len(l.breaks.Conditions) > 0 {
		// Before the first round an unresolvable condition counts as false.
		if ok, _, err := l.breaks.Eval(loopPool); err == nil && ok {
			broke, count = true, 0
		}
	}
	outputs := append(Vars{}, l.outputs...)
	rounds := 0
	for i := range count {
		if ctx.Err() != nil {
			return fail(context.Cause(ctx))
		}
		if i > 0 {
			x.Next(i)
		}
		round := NewPool(loopPool)
		round.Set(loopEndKey(id), Vars{{"reached", false}})
		s := x.Scope
		s.LoopID, s.LoopIndex = id, i
		start := x.Now()
		err := x.RunGraph(ctx, x.Node.Child, round, s)
		durations[strconv.Itoa(i)] = x.Now().Sub(start).Seconds()
		if err != nil {
			return fail(err)
		}
		rounds++
		current, _ := loopPool.Vars(id)
		snapshot := make(map[string]any, len(l.vars))
		for _, lv := range l.vars {
			v, _ := current.Get(lv.Label)
			snapshot[lv.Label] = v
			outputs = outputs.With(lv.Label, v)
		}
		outputs = outputs.With("loop_round", int64(i+1))
		varMap[strconv.Itoa(i)] = snapshot
		if reached, _ := round.Get(Selector{loopEndKey(id), "reached"}); reached == true {
			broke = true
			break
		}
		if len(l.breaks.Conditions) > 0 {
			ok, _, err := l.breaks.Eval(round)
			if err != nil {
				return fail(err)
			}
			if ok {
				broke = true
				break
			}
		}
	}
	if rounds == 0 {
		// Dify leaves the initial loop variables in the pool; here the
		// outputs are what later nodes read, so they carry them.
		current, _ := loopPool.Vars(id)
		for _, v := range current {
			outputs = outputs.With(v.Name, v.Value)
		}
	}
	reason := LoopCompletedReasonCompleted
	if broke {
		reason = LoopCompletedReasonBreak
	}
	return &Result{Inputs: inputs, Outputs: outputs, Metadata: meta(reason)}, nil
}

// ---- loop-end ----

func buildLoopEnd(b *Build) (Executor, error) {
	inLoop := false
	for g := b.Node.Graph; g != nil && g.Parent != nil; g = g.Parent.Graph {
		if g.Parent.Type == "loop" {
			inLoop = true
			break
		}
	}
	if !inLoop {
		b.Errorf("loop-end node must be inside a loop")
	}
	return ExecutorFunc(func(_ context.Context, x *Exec) (*Result, error) {
		if x.Scope.LoopID == "" || !x.Pool.Update(loopEndKey(x.Scope.LoopID), "reached", true) {
			return nil, fmt.Errorf("loop-end node %s is not running inside a loop", x.Node.ID)
		}
		return &Result{}, nil
	}), nil
}
