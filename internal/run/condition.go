package run

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// This file ports Dify's condition processor
// (api/core/workflow/utils/condition/processor.py), used by if-else cases,
// loop break conditions and list-operator filters.

// Condition is one comparison, as written in the DSL.
type Condition struct {
	VariableSelector     Selector      `json:"variable_selector"`
	ComparisonOperator   string        `json:"comparison_operator"`
	Value                any           `json:"value"`
	SubVariableCondition *SubCondition `json:"sub_variable_condition"`
}

// SubCondition filters the files of an array[file] variable.
type SubCondition struct {
	LogicalOperator string         `json:"logical_operator"`
	Conditions      []KeyCondition `json:"conditions"`
}

// KeyCondition compares one attribute (a file attribute, or a list item's
// key in list-operator filters).
type KeyCondition struct {
	Key                string `json:"key"`
	ComparisonOperator string `json:"comparison_operator"`
	Value              any    `json:"value"`
}

// operators are Dify's SupportedComparisonOperator values.
var operators = map[string]bool{
	"contains": true, "not contains": true, "start with": true, "end with": true,
	"is": true, "is not": true, "empty": true, "not empty": true, "in": true, "not in": true,
	"all of": true, "=": true, "≠": true, ">": true, "<": true, "≥": true, "≤": true,
	"null": true, "not null": true, "exists": true, "not exists": true,
}

// ConditionSet is a compiled list of conditions joined by "and" or "or".
type ConditionSet struct {
	Logical    string
	Conditions []Condition
	values     []*Template // template-expanded string values, per condition
}

// BuildConditions validates conditions at load time: selectors, operators
// and the logical operator. field names the config field in errors.
func BuildConditions(b *Build, field, logical string, conds []Condition) *ConditionSet {
	if logical == "" {
		logical = "and"
	}
	if logical != "and" && logical != "or" {
		b.Errorf("%s: logical_operator must be \"and\" or \"or\", not %q", field, logical)
	}
	cs := &ConditionSet{Logical: logical, Conditions: conds, values: make([]*Template, len(conds))}
	for i, c := range conds {
		f := fmt.Sprintf("%s[%d]", field, i)
		b.Selector(f+".variable_selector", c.VariableSelector)
		if !operators[c.ComparisonOperator] {
			b.Errorf("%s: unknown comparison_operator %q", f, c.ComparisonOperator)
		}
		if s, ok := c.Value.(string); ok {
			t := b.Template(f+".value", s)
			cs.values[i] = &t
		}
		if sc := c.SubVariableCondition; sc != nil {
			for j, k := range sc.Conditions {
				if !operators[k.ComparisonOperator] {
					b.Errorf("%s.sub_variable_condition.conditions[%d]: unknown comparison_operator %q", f, j, k.ComparisonOperator)
				}
			}
		}
	}
	return cs
}

// ConditionResult records how one condition was evaluated (process_data).
type ConditionResult struct {
	ActualValue        any    `json:"actual_value"`
	ExpectedValue      any    `json:"expected_value"`
	ComparisonOperator string `json:"comparison_operator"`
}

// Eval evaluates the set against p with short-circuiting, returning the
// result and what was compared. A missing variable is an error, as in Dify
// ("Variable [...] not found").
func (cs *ConditionSet) Eval(p *Pool) (bool, []ConditionResult, error) {
	var inputs []ConditionResult
	if len(cs.Conditions) == 0 {
		return cs.Logical == "and", inputs, nil
	}
	for i, c := range cs.Conditions {
		actual, ok := p.Get(c.VariableSelector)
		if !ok {
			return false, inputs, fmt.Errorf("Variable %s not found", pyStr(stringsToAny(c.VariableSelector)))
		}
		var (
			res bool
			err error
		)
		op := c.ComparisonOperator
		switch {
		case isFileArray(actual) && (op == "contains" || op == "not contains" || op == "all of"):
			if c.SubVariableCondition == nil {
				return false, inputs, errors.New("Sub variable is required")
			}
			res, err = evalSubConditions(actual.([]any), c.SubVariableCondition)
		case op == "exists" || op == "not exists":
			res, err = compare(op, actual, nil)
		default:
			expected := c.Value
			if cs.values[i] != nil {
				expected = cs.values[i].Text(p)
			}
			if isBoolish(actual) && expected != nil {
				if expected, err = toBoolExpected(expected); err != nil {
					return false, inputs, err
				}
			}
			inputs = append(inputs, ConditionResult{ActualValue: actual, ExpectedValue: expected, ComparisonOperator: op})
			res, err = compare(op, actual, expected)
		}
		if err != nil {
			return false, inputs, err
		}
		if (cs.Logical == "and" && !res) || (cs.Logical == "or" && res) {
			return res, inputs, nil
		}
	}
	return cs.Logical == "and", inputs, nil
}

func isFileArray(v any) bool {
	xs, ok := v.([]any)
	return ok && len(xs) > 0 && allOf(xs, isFile)
}

func isBoolish(v any) bool {
	switch x := v.(type) {
	case bool:
		return true
	case []any:
		return len(x) > 0 && allOf(x, func(e any) bool { _, ok := e.(bool); return ok })
	}
	return false
}

// toBoolExpected mirrors Dify's _convert_to_bool for boolean variables.
func toBoolExpected(v any) (any, error) {
	conv := func(e any) (bool, error) {
		switch x := e.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		case string:
			parsed, err := parseJSONValue(x)
			if err == nil {
				switch y := parsed.(type) {
				case bool:
					return y, nil
				case int64:
					return y != 0, nil
				}
			}
		}
		return false, fmt.Errorf("unexpected value: %s", pyStr(e))
	}
	if xs, ok := v.([]any); ok {
		out := make([]any, len(xs))
		for i, e := range xs {
			b, err := conv(e)
			if err != nil {
				return nil, err
			}
			out[i] = b
		}
		return out, nil
	}
	b, err := conv(v)
	return b, err
}

func evalSubConditions(files []any, sc *SubCondition) (bool, error) {
	results := make([]bool, 0, len(sc.Conditions))
	for _, k := range sc.Conditions {
		expected := k.Value
		values := make([]any, len(files))
		for i, f := range files {
			values[i] = fileAttr(f.(map[string]any), k.Key)
		}
		if k.Key == "extension" {
			s, ok := expected.(string)
			if !ok {
				return false, errors.New("Expected value must be a string when key is FileAttribute.EXTENSION")
			}
			if s != "" && !strings.HasPrefix(s, ".") {
				expected = "." + s
			}
			for i, v := range values {
				if s, ok := v.(string); ok && s != "" && !strings.HasPrefix(s, ".") {
					values[i] = "." + s
				}
			}
		}
		sub := make([]bool, len(values))
		for i, v := range values {
			r, err := compare(k.ComparisonOperator, v, expected)
			if err != nil {
				return false, err
			}
			sub[i] = r
		}
		all := !slices.Contains(sub, false)
		anyTrue := slices.Contains(sub, true)
		if strings.Contains(k.ComparisonOperator, "not") {
			results = append(results, all)
		} else {
			results = append(results, anyTrue)
		}
	}
	if sc.LogicalOperator == "or" {
		return slices.Contains(results, true), nil
	}
	return !slices.Contains(results, false), nil
}

// fileAttr reads a FileAttribute of a file mapping.
func fileAttr(f map[string]any, key string) any {
	switch key {
	case "name":
		return f["filename"]
	case "mime_type":
		return f["mime_type"]
	case "transfer_method":
		return f["transfer_method"]
	case "url":
		if u, ok := f["remote_url"]; ok && u != nil {
			return u
		}
		return f["url"]
	}
	return f[key]
}

// truthy is Python's bool(v).
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case float64:
		return x != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	case Vars:
		return len(x) > 0
	}
	return true
}

// pyEqual is Python's == for the engine's value set.
func pyEqual(a, b any) bool {
	if fa, ok := toFloat(a); ok {
		if fb, ok := toFloat(b); ok {
			return fa == fb
		}
		if bb, ok := b.(bool); ok {
			return fa == boolFloat(bb)
		}
		return false
	}
	if ba, ok := a.(bool); ok {
		if fb, ok := toFloat(b); ok {
			return boolFloat(ba) == fb
		}
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !pyEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !pyEqual(v, w) {
				return false
			}
		}
		return true
	}
	return a == b
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// pyIn is Python's `needle in haystack` for str and list haystacks.
func pyIn(needle, haystack any) (bool, error) {
	switch h := haystack.(type) {
	case string:
		s, ok := needle.(string)
		if !ok {
			return false, fmt.Errorf("'in <string>' requires string as left operand, not %s", typeName(needle))
		}
		return strings.Contains(h, s), nil
	case []any:
		return slices.ContainsFunc(h, func(e any) bool { return pyEqual(e, needle) }), nil
	}
	return false, fmt.Errorf("argument of type '%s' is not iterable", typeName(haystack))
}

// pyInt and pyFloatOf are Python's int(x) and float(x) for an expected value.
func pyInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case float64:
		return int64(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(strings.ReplaceAll(x, "_", "")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid literal for int() with base 10: %s", pyStr([]any{x})[1:len(pyStr([]any{x}))-1])
		}
		return i, nil
	}
	return 0, fmt.Errorf("int() argument must be a string or a number, not '%s'", typeName(v))
}

func pyFloatOf(v any) (float64, error) {
	switch x := v.(type) {
	case int64:
		return float64(x), nil
	case float64:
		return x, nil
	case bool:
		return boolFloat(x), nil
	case string:
		s := strings.TrimSpace(x)
		switch strings.ToLower(s) {
		case "inf", "+inf", "infinity":
			return math.Inf(1), nil
		case "-inf", "-infinity":
			return math.Inf(-1), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("could not convert string to float: %s", pyStr([]any{x})[1:len(pyStr([]any{x}))-1])
		}
		return f, nil
	}
	return 0, fmt.Errorf("float() argument must be a string or a real number, not '%s'", typeName(v))
}

// compare is Dify's _evaluate_condition.
func compare(op string, value, expected any) (bool, error) {
	switch op {
	case "contains", "not contains":
		neg := op == "not contains"
		if !truthy(value) {
			return neg, nil
		}
		switch value.(type) {
		case string, []any:
		default:
			return false, errors.New("Invalid actual value type: string or array")
		}
		in, err := pyIn(expected, value)
		if err != nil {
			return false, err
		}
		return in != neg, nil
	case "start with", "end with":
		if !truthy(value) {
			return false, nil
		}
		s, ok := value.(string)
		if !ok {
			return false, errors.New("Invalid actual value type: string")
		}
		e, ok := expected.(string)
		if !ok {
			return false, fmt.Errorf("%s arg must be str, not %s", strings.ReplaceAll(op, " ", ""), typeName(expected))
		}
		if op == "start with" {
			return strings.HasPrefix(s, e), nil
		}
		return strings.HasSuffix(s, e), nil
	case "is", "is not":
		if value == nil {
			return false, nil
		}
		switch value.(type) {
		case string, bool:
		default:
			return false, errors.New("Invalid actual value type: string or boolean")
		}
		return pyEqual(value, expected) == (op == "is"), nil
	case "empty":
		return !truthy(value), nil
	case "not empty":
		return truthy(value), nil
	case "=", "≠", ">", "<", "≥", "≤":
		return compareNumbers(op, value, expected)
	case "null", "not exists":
		return value == nil, nil
	case "not null", "exists":
		return value != nil, nil
	case "in", "not in":
		neg := op == "not in"
		if !truthy(value) {
			return neg, nil
		}
		list, ok := expected.([]any)
		if !ok {
			return false, errors.New("Invalid expected value type: array")
		}
		in := slices.ContainsFunc(list, func(e any) bool { return pyEqual(e, value) })
		return in != neg, nil
	case "all of":
		list, ok := expected.([]any)
		if !ok {
			return false, fmt.Errorf("Unsupported operator: %s", op)
		}
		if !truthy(value) {
			return false, nil
		}
		for _, e := range list {
			in, err := pyIn(e, value)
			if err != nil {
				return false, err
			}
			if !in {
				return false, nil
			}
		}
		return true, nil
	}
	return false, fmt.Errorf("Unsupported operator: %s", op)
}

func compareNumbers(op string, value, expected any) (bool, error) {
	if value == nil {
		return false, nil
	}
	eq := op == "=" || op == "≠"
	switch value.(type) {
	case int64, float64:
	case bool:
		if !eq {
			return false, errors.New("Invalid actual value type: number")
		}
	default:
		if eq {
			return false, errors.New("Invalid actual value type: number or boolean")
		}
		return false, errors.New("Invalid actual value type: number")
	}
	var cmpResult int
	switch v := value.(type) {
	case bool:
		exp := truthy(expected)
		if (v == exp) == (op == "=") {
			return true, nil
		}
		return false, nil
	case int64:
		e, err := pyInt(expected)
		if err != nil {
			return false, err
		}
		cmpResult = cmpOrdered(v, e)
	case float64:
		e, err := pyFloatOf(expected)
		if err != nil {
			return false, err
		}
		cmpResult = cmpOrdered(v, e)
	}
	switch op {
	case "=":
		return cmpResult == 0, nil
	case "≠":
		return cmpResult != 0, nil
	case ">":
		return cmpResult > 0, nil
	case "<":
		return cmpResult < 0, nil
	case "≥":
		return cmpResult >= 0, nil
	default: // ≤
		return cmpResult <= 0, nil
	}
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
