package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/flowrun/flowrun/internal/py"
)

// This file ports Dify's condition processor
// (api/core/workflow/utils/condition/processor.py, as of Dify 1.12.1), used
// by if-else cases, loop break conditions and list-operator filters. Error
// messages are Dify's, because they surface as a node's error.

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

// fileAttributes are Dify's FileAttribute values, the keys a file
// sub-condition may compare.
var fileAttributes = map[string]bool{
	"type": true, "size": true, "name": true, "mime_type": true,
	"transfer_method": true, "url": true, "extension": true, "related_id": true,
}

// ConditionVariableError is the error of a condition whose variable is not
// in the pool. Its message is Dify's ("Variable ['node', 'var'] not found").
type ConditionVariableError struct {
	Selector Selector
}

// Error returns Dify's message.
func (e *ConditionVariableError) Error() string {
	return fmt.Sprintf("Variable %s not found", py.Str(stringsToAny(e.Selector)))
}

// ConditionSet is a compiled list of conditions joined by "and" or "or".
type ConditionSet struct {
	Logical    string
	Conditions []Condition
	values     []*Template // template-expanded string values, per condition
}

// BuildConditions validates conditions at load time: selectors, operators,
// logical operators and template references in values. field names the
// config field in errors. Values are normalised into the engine's value set.
func BuildConditions(b *Build, field, logical string, conds []Condition) *ConditionSet {
	if logical == "" {
		logical = "and"
	}
	if logical != "and" && logical != "or" {
		b.Errorf("%s: logical_operator must be \"and\" or \"or\", not %q", field, logical)
	}
	conds = slices.Clone(conds)
	cs := &ConditionSet{Logical: logical, Conditions: conds, values: make([]*Template, len(conds))}
	for i := range conds {
		c := &conds[i]
		f := fmt.Sprintf("%s[%d]", field, i)
		c.Value = Normalize(c.Value)
		b.Selector(f+".variable_selector", c.VariableSelector)
		if !operators[c.ComparisonOperator] {
			b.Errorf("%s: unknown comparison_operator %q", f, c.ComparisonOperator)
		}
		if s, ok := c.Value.(string); ok {
			t := b.Template(f+".value", s)
			cs.values[i] = &t
		}
		if c.SubVariableCondition != nil {
			sc := *c.SubVariableCondition
			sc.Conditions = slices.Clone(sc.Conditions)
			c.SubVariableCondition = &sc
			if sc.LogicalOperator != "and" && sc.LogicalOperator != "or" {
				b.Errorf("%s.sub_variable_condition: logical_operator must be \"and\" or \"or\", not %q", f, sc.LogicalOperator)
			}
			for j := range sc.Conditions {
				k := &sc.Conditions[j]
				k.Value = Normalize(k.Value)
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

// Vars returns r as Dify records it: actual_value, expected_value,
// comparison_operator, in that order.
func (r ConditionResult) Vars() Vars {
	return Vars{{"actual_value", r.ActualValue}, {"expected_value", r.ExpectedValue}, {"comparison_operator", r.ComparisonOperator}}
}

// ConditionOutcome is the full result of evaluating a ConditionSet, as
// Dify's ConditionCheckResult.
type ConditionOutcome struct {
	// Inputs record the comparisons made, except file sub-conditions and
	// exists/not exists, which Dify does not record.
	Inputs []ConditionResult
	// Results holds one result per condition evaluated; evaluation stops
	// at the first condition that decides the set.
	Results []bool
	// Final is the set's result.
	Final bool
}

// Eval evaluates the set against p with short-circuiting, returning the
// result and what was compared. A missing variable is a
// *ConditionVariableError.
func (cs *ConditionSet) Eval(p *Pool) (bool, []ConditionResult, error) {
	o, err := cs.Check(p)
	return o.Final, o.Inputs, err
}

// Check evaluates the set against p as Dify's process_conditions does:
// conditions in order, stopping at the first false one ("and") or the first
// true one ("or"). An empty set is true for "and" and false for "or".
func (cs *ConditionSet) Check(p *Pool) (ConditionOutcome, error) {
	var o ConditionOutcome
	for i, c := range cs.Conditions {
		actual, ok := p.Get(c.VariableSelector)
		if !ok {
			return o, &ConditionVariableError{Selector: c.VariableSelector}
		}
		var (
			res bool
			err error
		)
		op := c.ComparisonOperator
		switch {
		case isFileSubject(actual, c) && (op == "contains" || op == "not contains" || op == "all of"):
			if c.SubVariableCondition == nil {
				return o, errors.New("Sub variable is required")
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
					return o, err
				}
			}
			o.Inputs = append(o.Inputs, ConditionResult{ActualValue: actual, ExpectedValue: expected, ComparisonOperator: op})
			res, err = compare(op, actual, expected)
		}
		if err != nil {
			return o, err
		}
		o.Results = append(o.Results, res)
		if (cs.Logical == "and" && !res) || (cs.Logical == "or" && res) {
			o.Final = res
			return o, nil
		}
	}
	o.Final = cs.Logical == "and"
	return o, nil
}

// isFileSubject reports whether v is an array[file] for the purpose of file
// sub-conditions. Dify knows a variable's declared type; here an empty
// array counts as files when the condition carries a sub-condition, which
// gives Dify's results for an empty array[file].
func isFileSubject(v any, c Condition) bool {
	xs, ok := v.([]any)
	if !ok {
		return false
	}
	if len(xs) == 0 {
		return c.SubVariableCondition != nil
	}
	return allOf(xs, isFile)
}

// isBoolish reports whether v is a BooleanSegment or ArrayBooleanSegment
// in Dify, whose expected values are converted to booleans.
func isBoolish(v any) bool {
	switch x := v.(type) {
	case bool:
		return true
	case []any:
		return len(x) > 0 && allOf(x, func(e any) bool { _, ok := e.(bool); return ok })
	}
	return false
}

// toBoolExpected mirrors Dify's _convert_to_bool for boolean variables,
// applied to each item of a list.
func toBoolExpected(v any) (any, error) {
	if xs, ok := v.([]any); ok {
		out := make([]any, len(xs))
		for i, e := range xs {
			b, err := convertToBool(e)
			if err != nil {
				return nil, err
			}
			out[i] = b
		}
		return out, nil
	}
	return convertToBool(v)
}

// convertToBool is Dify's _convert_to_bool: ints (and bools) by truth
// value, strings through json.loads when they hold an int or a bool.
func convertToBool(e any) (bool, error) {
	switch x := e.(type) {
	case bool:
		return x, nil
	case int64:
		return x != 0, nil
	case string:
		loaded, err := pyJSONLoads(x)
		if err != nil {
			return false, err
		}
		switch y := loaded.(type) {
		case bool:
			return y, nil
		case json.Number:
			if s := y.String(); !strings.ContainsAny(s, ".eE") {
				return strings.Trim(strings.TrimPrefix(s, "-"), "0") != "", nil
			}
		}
	}
	return false, fmt.Errorf("unexpected value: type=%s, value=%s", py.Class(e), Clip(py.Str(e)))
}

// pyJSONLoads decodes s as Python's json.loads does, reporting failures
// with the messages of Python's JSONDecodeError. Numbers are returned as
// json.Number; NaN and ±Infinity as float64.
func pyJSONLoads(s string) (any, error) {
	switch strings.Trim(s, " \t\n\r") {
	case "NaN":
		return math.NaN(), nil
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, pyJSONError("Expecting value", s, len(s)-len(strings.TrimLeft(s, " \t\n\r")))
	}
	end := int(dec.InputOffset())
	if rest := strings.TrimLeft(s[end:], " \t\n\r"); rest != "" {
		return nil, pyJSONError("Extra data", s, len(s)-len(rest))
	}
	return v, nil
}

// pyJSONError formats a JSONDecodeError message for byte offset pos of s.
func pyJSONError(msg, s string, pos int) error {
	line := 1 + strings.Count(s[:pos], "\n")
	lineStart := strings.LastIndexByte(s[:pos], '\n') + 1
	col := utf8.RuneCountInString(s[lineStart:pos]) + 1
	return fmt.Errorf("%s: line %d column %d (char %d)", msg, line, col, utf8.RuneCountInString(s[:pos]))
}

func evalSubConditions(files []any, sc *SubCondition) (bool, error) {
	results := make([]bool, 0, len(sc.Conditions))
	for _, k := range sc.Conditions {
		if !fileAttributes[k.Key] {
			return false, fmt.Errorf("%s is not a valid FileAttribute", py.Repr(k.Key))
		}
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
		if strings.Contains(k.ComparisonOperator, "not") {
			results = append(results, !slices.Contains(sub, false))
		} else {
			results = append(results, slices.Contains(sub, true))
		}
	}
	if sc.LogicalOperator == "or" {
		return slices.Contains(results, true), nil
	}
	return !slices.Contains(results, false), nil
}

// fileAttr reads a FileAttribute of a file mapping, as Dify's
// file_manager.get_attr does. url is the remote URL, else the file's
// (already signed) url.
func fileAttr(f map[string]any, key string) any {
	switch key {
	case "name":
		return f["filename"]
	case "url":
		if u, ok := f["remote_url"]; ok && u != nil {
			return u
		}
		return f["url"]
	}
	return f[key]
}
