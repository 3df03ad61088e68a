package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/flowrun/flowrun/internal/py"
)

// This file ports Dify's variable assigner ("assigner" nodes,
// api/core/workflow/nodes/variable_assigner/v1 and v2). It writes loop
// variables ([loop_id, label]) and conversation variables
// ([conversation, name]) through Pool.Update, so the value lands in the
// pool that holds the variable: the loop's own scope, or the run's
// conversation variables. The node has no outputs; what it changed is in
// its process_data.

func init() {
	registerBuiltin(NodeType{Name: "assigner", Build: buildAssigner})
}

// Assigner v2 operations (Dify's Operation enum).
const (
	AssignOverWrite   = "over-write"
	AssignClear       = "clear"
	AssignAppend      = "append"
	AssignExtend      = "extend"
	AssignSet         = "set"
	AssignAdd         = "+="
	AssignSubtract    = "-="
	AssignMultiply    = "*="
	AssignDivide      = "/="
	AssignRemoveFirst = "remove-first"
	AssignRemoveLast  = "remove-last"
)

var assignOperations = map[string]bool{
	AssignOverWrite: true, AssignClear: true, AssignAppend: true, AssignExtend: true, AssignSet: true,
	AssignAdd: true, AssignSubtract: true, AssignMultiply: true, AssignDivide: true,
	AssignRemoveFirst: true, AssignRemoveLast: true,
}

// updatedVariablesKey is where Dify lists the updated variables in
// process_data.
const updatedVariablesKey = "__updated_variables"

// MaxVariableBytes bounds the memory (estimated, see Sizer) of a list that
// an assigner grows by append or extend (10 MiB, the default request body
// limit). Dify sets no bound there; without one, a loop that extends a
// list with itself doubles it every round and exhausts memory in 30
// rounds. Other operations cannot grow a value beyond what its producer
// bounds already.
const MaxVariableBytes = 10 << 20

// checkGrowth fails a list grown by append or extend past MaxVariableBytes,
// with Dify's message for a variable over MAX_VARIABLE_SIZE.
func checkGrowth(v any) error {
	if n := Size(v); n > MaxVariableBytes {
		return assignError("VariableError", "variable size %d exceeds limit %d", n, MaxVariableBytes)
	}
	return nil
}

func buildAssigner(b *Build) (Executor, error) {
	version := ""
	if v, ok := b.Data["version"]; ok && v != nil {
		version = py.Str(v)
	}
	_, hasItems := b.Data["items"]
	_, hasV1 := b.Data["assigned_variable_selector"]
	// Dify picks the implementation by data.version, "1" when absent; a
	// document with items and no v1 fields is v2 whatever it says.
	if version == "2" || (hasItems && !hasV1) {
		return buildAssignerV2(b)
	}
	return buildAssignerV1(b)
}

// ---- v2 ----

type assignItem struct {
	VariableSelector Selector `json:"variable_selector"`
	InputType        string   `json:"input_type"`
	Operation        string   `json:"operation"`
	Value            any      `json:"value"`
	source           Selector // the value's selector for input_type "variable"
}

type assignerNode struct {
	items  []assignItem
	inputs Vars
}

func buildAssignerV2(b *Build) (Executor, error) {
	var cfg struct {
		Title string       `json:"title"`
		Desc  string       `json:"desc"`
		Items []assignItem `json:"items"`
	}
	if err := b.Decode(&cfg); err != nil {
		return nil, err
	}
	a := &assignerNode{}
	dumped := make([]any, len(cfg.Items))
	for i, it := range cfg.Items {
		f := fmt.Sprintf("items[%d]", i)
		it.Value = Normalize(it.Value)
		b.Selector(f+".variable_selector", it.VariableSelector)
		if !assignOperations[it.Operation] {
			b.Errorf("%s: unknown operation %q", f, it.Operation)
		}
		switch it.InputType {
		case "constant":
		case "variable":
			if it.Value != nil && it.Operation != AssignClear && it.Operation != AssignRemoveFirst && it.Operation != AssignRemoveLast {
				sel, ok := selectorOf(it.Value)
				if !ok {
					b.Errorf("%s.value: input_type \"variable\" needs a variable selector", f)
				} else {
					it.source = b.Selector(f+".value", sel)
				}
			}
		default:
			b.Errorf("%s: input_type must be \"variable\" or \"constant\", not %q", f, it.InputType)
		}
		a.items = append(a.items, it)
		dumped[i] = map[string]any{
			"variable_selector": stringsToAny(it.VariableSelector),
			"input_type":        it.InputType,
			"operation":         it.Operation,
			"value":             it.Value,
		}
	}
	a.inputs = Vars{{"type", "assigner"}, {"title", cfg.Title}, {"desc", cfg.Desc}, {"version", "2"}, {"items", dumped}}
	return a, nil
}

// assignError is a VariableOperatorNodeError subclass of Dify's.
func assignError(typ, format string, args ...any) error {
	return &NodeError{Type: typ, Err: fmt.Errorf(format, args...)}
}

func variableNotFound(sel Selector) error {
	return assignError("VariableNotFoundError", "Variable %s not found", pySelector(sel))
}

// assignTarget is a variable being changed by one node execution.
type assignTarget struct {
	sel   Selector
	typ   string // its type when first read
	value any
}

// Execute applies the items in order against a working copy: later items
// see earlier items' changes, and nothing is written to the pool unless
// every item succeeds.
func (a *assignerNode) Execute(_ context.Context, x *Exec) (*Result, error) {
	var targets []*assignTarget
	find := func(sel Selector) *assignTarget {
		for _, t := range targets {
			if len(sel) == 2 && t.sel[0] == sel[0] && t.sel[1] == sel[1] {
				return t
			}
		}
		return nil
	}
	read := func(sel Selector) (any, bool) {
		if t := find(sel); t != nil {
			return t.value, true
		}
		return x.Pool.Get(sel)
	}
	var changed []*assignTarget
	for _, it := range a.items {
		var cur any
		ok := len(it.VariableSelector) == 2
		if ok {
			cur, ok = read(it.VariableSelector)
		}
		if !ok {
			return &Result{Inputs: a.inputs}, variableNotFound(it.VariableSelector)
		}
		typ := segmentType(cur)
		if t := find(it.VariableSelector); t != nil {
			typ = t.typ
		}
		op := it.Operation
		if !assignOperationSupported(typ, op) {
			return &Result{Inputs: a.inputs}, assignError("OperationNotSupportedError", "Operation %s is not supported for type %s", op, typ)
		}
		if it.InputType == "variable" && !assignVariableInputSupported(op) {
			return &Result{Inputs: a.inputs}, assignError("InputTypeNotSupportedError", "Input type variable is not supported for operation %s", op)
		}
		if it.InputType == "constant" && !assignConstantInputSupported(typ, op) {
			return &Result{Inputs: a.inputs}, assignError("InputTypeNotSupportedError", "Input type constant is not supported for operation %s", op)
		}
		val := it.Value
		if it.source != nil {
			src, ok := read(it.source)
			if !ok {
				return &Result{Inputs: a.inputs}, variableNotFound(it.source)
			}
			if src == nil {
				continue // Dify skips an item whose input is None
			}
			val = src
		}
		if s, isStr := val.(string); isStr && op == AssignSet && typ == "object" {
			parsed, err := parsePyJSON(s)
			if err != nil {
				return &Result{Inputs: a.inputs}, invalidInput(val)
			}
			val = parsed
		}
		if !assignInputValid(typ, op, val) {
			return &Result{Inputs: a.inputs}, invalidInput(val)
		}
		nv, err := applyAssign(cur, typ, op, val)
		if err != nil {
			return &Result{Inputs: a.inputs}, err
		}
		t := find(it.VariableSelector)
		if t == nil {
			t = &assignTarget{sel: it.VariableSelector[:2:2], typ: typ}
			targets = append(targets, t)
			changed = append(changed, t)
		}
		t.value = nv
	}
	process := make(Vars, 0, len(changed)+1)
	updated := make([]any, 0, len(changed))
	for _, t := range changed {
		if !x.Pool.Update(t.sel[0], t.sel[1], t.value) {
			return &Result{Inputs: a.inputs}, variableNotFound(t.sel)
		}
		process = process.With(t.sel[1], t.value)
		updated = append(updated, updatedVariable(t.sel, t.typ, t.value))
	}
	process = append(process, Var{updatedVariablesKey, updated})
	return &Result{Inputs: a.inputs, ProcessData: process, Outputs: Vars{}}, nil
}

func updatedVariable(sel Selector, typ string, v any) map[string]any {
	return map[string]any{"name": sel[1], "selector": stringsToAny(sel[:2]), "value_type": typ, "new_value": v}
}

func invalidInput(v any) error {
	return assignError("InvalidInputValueError", "Invalid input value %s", Clip(py.Str(v)))
}

// parsePyJSON is Python's json.loads for the assigner's "set" of an object
// from a string.
func parsePyJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("extra data")
	}
	return Normalize(v), nil
}

// The rules below are Dify's v2 helpers (is_operation_supported,
// is_variable_input_supported, is_constant_input_supported,
// is_input_value_valid).

func assignOperationSupported(typ, op string) bool {
	switch op {
	case AssignOverWrite, AssignClear:
		return true
	case AssignSet:
		return typ == "object" || typ == "string" || typ == "boolean" || isNumberType(typ)
	case AssignAdd, AssignSubtract, AssignMultiply, AssignDivide:
		return isNumberType(typ)
	case AssignAppend, AssignExtend, AssignRemoveFirst, AssignRemoveLast:
		return isArrayType(typ)
	}
	return false
}

func assignVariableInputSupported(op string) bool {
	switch op {
	case AssignSet, AssignAdd, AssignSubtract, AssignMultiply, AssignDivide:
		return false
	}
	return true
}

func assignConstantInputSupported(typ, op string) bool {
	switch {
	case typ == "string" || typ == "object" || typ == "boolean":
		return op == AssignOverWrite || op == AssignSet
	case isNumberType(typ):
		switch op {
		case AssignOverWrite, AssignSet, AssignAdd, AssignSubtract, AssignMultiply, AssignDivide:
			return true
		}
	}
	return false
}

// assignNumber reports v as a Python number; bool counts, as bool is an int
// subclass in Python.
func assignNumber(v any) (any, bool) {
	switch x := v.(type) {
	case int64, float64:
		return x, true
	case bool:
		if x {
			return int64(1), true
		}
		return int64(0), true
	}
	return nil, false
}

func assignInputValid(typ, op string, v any) bool {
	switch op {
	case AssignClear, AssignRemoveFirst, AssignRemoveLast:
		return true
	}
	isStr := func(e any) bool { _, ok := e.(string); return ok }
	isBool := func(e any) bool { _, ok := e.(bool); return ok }
	isNum := func(e any) bool { _, ok := assignNumber(e); return ok }
	isDict := func(e any) bool { _, ok := e.(map[string]any); return ok && !isFile(e) }
	isAny := func(e any) bool { return isStr(e) || isNum(e) || isDict(e) }
	listOf := func(pred func(any) bool) bool {
		xs, ok := v.([]any)
		return ok && allOf(xs, pred)
	}
	switch {
	case typ == "string":
		return isStr(v)
	case typ == "boolean":
		return isBool(v)
	case isNumberType(typ):
		n, ok := assignNumber(v)
		if !ok {
			return false
		}
		f, _ := py.Number(n)
		return !(op == AssignDivide && f == 0)
	case typ == "object":
		return isDict(v)
	}
	preds := map[string]func(any) bool{
		"array[any]": isAny, "array[string]": isStr, "array[number]": isNum,
		"array[object]": isDict, "array[boolean]": isBool,
	}
	pred, ok := preds[typ]
	if !ok {
		return false
	}
	switch op {
	case AssignAppend:
		return pred(v)
	case AssignExtend, AssignOverWrite:
		return listOf(pred)
	}
	return false
}

func applyAssign(cur any, typ, op string, val any) (any, error) {
	switch op {
	case AssignOverWrite, AssignSet:
		return val, nil
	case AssignClear:
		z, ok := zeroValue(typ)
		if !ok {
			return nil, assignError("VariableOperatorNodeError", "unsupported variable type: %s", typ)
		}
		return z, nil
	case AssignAppend, AssignExtend:
		list, _ := cur.([]any)
		add := []any{val}
		if op == AssignExtend {
			add, _ = val.([]any)
		}
		out := make([]any, 0, len(list)+len(add))
		out = append(append(out, list...), add...)
		if err := checkGrowth(out); err != nil {
			return nil, err
		}
		return out, nil
	case AssignRemoveFirst, AssignRemoveLast:
		list, _ := cur.([]any)
		if len(list) == 0 {
			return list, nil
		}
		if op == AssignRemoveFirst {
			return append([]any{}, list[1:]...), nil
		}
		return append([]any{}, list[:len(list)-1]...), nil
	case AssignAdd, AssignSubtract, AssignMultiply, AssignDivide:
		a, okA := assignNumber(cur)
		b, okB := assignNumber(val)
		if !okA || !okB {
			return nil, assignError("TypeError", "unsupported operand type(s) for %s: '%s' and '%s'", strings.TrimSuffix(op, "="), typeName(cur), typeName(val))
		}
		return pyArith(op, a, b), nil
	}
	return nil, assignError("OperationNotSupportedError", "Operation %s is not supported for type %s", op, typ)
}

// pyArith applies +, -, * or / as Python does: integers stay integers
// (falling back to float where int64 would overflow, where Python would grow
// the integer), anything with a float is a float, and / is always a float.
func pyArith(op string, a, b any) any {
	ai, aInt := a.(int64)
	bi, bInt := b.(int64)
	if aInt && bInt && op != AssignDivide {
		switch op {
		case AssignAdd:
			if r := ai + bi; (r > ai) == (bi > 0) {
				return r
			}
		case AssignSubtract:
			if r := ai - bi; (r < ai) == (bi > 0) {
				return r
			}
		case AssignMultiply:
			if ai == 0 || bi == 0 {
				return int64(0)
			}
			if r := ai * bi; r/bi == ai && !(ai == -1 && bi == math.MinInt64) && !(bi == -1 && ai == math.MinInt64) {
				return r
			}
		}
	}
	af, _ := py.Number(a)
	bf, _ := py.Number(b)
	switch op {
	case AssignAdd:
		return af + bf
	case AssignSubtract:
		return af - bf
	case AssignMultiply:
		return af * bf
	}
	return af / bf
}

// ---- v1 ----

type assignerV1 struct {
	assigned, input Selector
	mode            string
}

func buildAssignerV1(b *Build) (Executor, error) {
	var cfg struct {
		AssignedVariableSelector Selector `json:"assigned_variable_selector"`
		WriteMode                string   `json:"write_mode"`
		InputVariableSelector    Selector `json:"input_variable_selector"`
	}
	if err := b.Decode(&cfg); err != nil {
		return nil, err
	}
	a := &assignerV1{assigned: cfg.AssignedVariableSelector, input: cfg.InputVariableSelector, mode: cfg.WriteMode}
	b.Selector("assigned_variable_selector", a.assigned)
	switch a.mode {
	case AssignOverWrite, AssignAppend:
		b.Selector("input_variable_selector", a.input)
	case AssignClear:
	default:
		b.Errorf("write_mode must be over-write, append or clear, not %q", a.mode)
	}
	return a, nil
}

func (a *assignerV1) Execute(_ context.Context, x *Exec) (*Result, error) {
	cur, ok := x.Pool.Get(a.assigned)
	if !ok || len(a.assigned) != 2 {
		return nil, assignError("VariableOperatorNodeError", "assigned variable not found")
	}
	typ := segmentType(cur)
	var income, nv any
	switch a.mode {
	case AssignOverWrite, AssignAppend:
		in, ok := x.Pool.Get(a.input)
		if !ok {
			return nil, assignError("VariableOperatorNodeError", "input value not found")
		}
		income, nv = in, in
		if a.mode == AssignAppend {
			list, ok := cur.([]any)
			if !ok {
				return &Result{Inputs: Vars{{"value", in}}}, assignError("TypeError", "can only concatenate %s (not \"list\") to %s", assignTypeName(cur), assignTypeName(cur))
			}
			nv = append(append(make([]any, 0, len(list)+1), list...), in)
			if err := checkGrowth(nv); err != nil {
				return &Result{Inputs: Vars{{"value", in}}}, err
			}
		}
	case AssignClear:
		z, ok := zeroValue(typ)
		if !ok {
			return nil, assignError("VariableOperatorNodeError", "unsupported variable type: %s", typ)
		}
		income, nv = z, z
	}
	if !x.Pool.Update(a.assigned[0], a.assigned[1], nv) {
		return nil, assignError("VariableOperatorNodeError", "assigned variable not found")
	}
	return &Result{
		Inputs:      Vars{{"value", income}},
		ProcessData: Vars{{updatedVariablesKey, []any{updatedVariable(a.assigned, typ, nv)}}},
		Outputs:     Vars{},
	}, nil
}

// assignTypeName is Python's type(v).__name__ for engine values.
func assignTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "NoneType"
	case string:
		return "str"
	case int64:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case map[string]any:
		return "dict"
	case []any:
		return "list"
	}
	return fmt.Sprintf("%T", v)
}
