package run

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/py"
)

// TestCompareOperators covers every comparison operator of Dify's
// condition processor with each kind of actual value. Expected results are
// what Python computes in processor.py (Dify 1.12.1).
func TestCompareOperators(t *testing.T) {
	t.Parallel()
	type m = map[string]any
	list := func(xs ...any) []any { return xs }
	tests := []struct {
		op       string
		value    any
		expected any
		want     bool
		err      string
	}{
		// contains / not contains: strings (substring) and arrays (membership).
		{"contains", "hello world", "world", true, ""},
		{"contains", "hello", "xyz", false, ""},
		{"contains", "héllo wörld", "ö", true, ""},
		{"contains", "", "a", false, ""},
		{"contains", nil, "a", false, ""},
		{"contains", int64(0), "a", false, ""}, // falsy: no type check
		{"contains", list("a", "b"), "a", true, ""},
		{"contains", list("a", "b"), "c", false, ""},
		{"contains", list(int64(1), int64(2)), int64(2), true, ""},
		{"contains", list(int64(1), int64(2)), "2", false, ""},
		{"contains", list(1.0), int64(1), true, ""},
		{"contains", list(), "a", false, ""},
		{"contains", "abc1", int64(1), true, ""},   // str(expected)
		{"contains", "True story", true, true, ""}, // str(True)
		{"contains", "x", nil, false, ""},          // str(None) = "None"
		{"contains", "None of it", nil, true, ""},
		{"contains", int64(5), "5", false, "Invalid actual value type: string or array"},
		{"contains", 2.5, "2", false, "Invalid actual value type: string or array"},
		{"contains", true, "t", false, "Invalid actual value type: string or array"},
		{"contains", m{"a": int64(1)}, "a", false, "Invalid actual value type: string or array"},
		{"not contains", "hello", "xyz", true, ""},
		{"not contains", "hello", "ell", false, ""},
		{"not contains", "", "a", true, ""},
		{"not contains", nil, "a", true, ""},
		{"not contains", list("a"), "b", true, ""},
		{"not contains", list("a"), "a", false, ""},
		{"not contains", "abc1", int64(1), false, ""},
		{"not contains", int64(5), "5", false, "Invalid actual value type: string or array"},

		// start with / end with
		{"start with", "hello", "he", true, ""},
		{"start with", "hello", "lo", false, ""},
		{"start with", "héllo", "hé", true, ""},
		{"start with", "hello", "", true, ""},
		{"start with", "", "a", false, ""},
		{"start with", nil, "a", false, ""},
		{"start with", int64(5), "5", false, "Invalid actual value type: string"},
		{"start with", list("a"), "a", false, "Invalid actual value type: string"},
		{"start with", "hello", nil, false, "Expected value must be a string for startswith"},
		{"start with", "hello", list("h"), false, "Expected value must be a string for startswith"},
		{"end with", "hello", "lo", true, ""},
		{"end with", "hello", "he", false, ""},
		{"end with", "", "a", false, ""},
		{"end with", nil, "a", false, ""},
		{"end with", 2.5, "5", false, "Invalid actual value type: string"},
		{"end with", "hello", true, false, "Expected value must be a string for endswith"},

		// is / is not: strings and booleans only.
		{"is", "a", "a", true, ""},
		{"is", "a", "b", false, ""},
		{"is", "", "", true, ""},
		{"is", "ü", "ü", true, ""},
		{"is", nil, "a", false, ""},
		{"is", true, true, true, ""},
		{"is", true, false, false, ""},
		{"is", false, false, true, ""},
		{"is", "true", true, false, ""},
		{"is", int64(1), "1", false, "Invalid actual value type: string or boolean"},
		{"is", 1.5, "1.5", false, "Invalid actual value type: string or boolean"},
		{"is", list("a"), "a", false, "Invalid actual value type: string or boolean"},
		{"is not", "a", "b", true, ""},
		{"is not", "a", "a", false, ""},
		{"is not", nil, "a", false, ""}, // None is neither
		{"is not", true, false, true, ""},
		{"is not", true, true, false, ""},
		{"is not", int64(1), "1", false, "Invalid actual value type: string or boolean"},

		// empty / not empty: Python truthiness.
		{"empty", "", nil, true, ""},
		{"empty", nil, nil, true, ""},
		{"empty", list(), nil, true, ""},
		{"empty", m{}, nil, true, ""},
		{"empty", int64(0), nil, true, ""},
		{"empty", 0.0, nil, true, ""},
		{"empty", false, nil, true, ""},
		{"empty", "a", nil, false, ""},
		{"empty", list(nil), nil, false, ""},
		{"empty", int64(1), nil, false, ""},
		{"empty", true, nil, false, ""},
		{"not empty", "a", nil, true, ""},
		{"not empty", m{"k": nil}, nil, true, ""},
		{"not empty", "", nil, false, ""},
		{"not empty", nil, nil, false, ""},
		{"not empty", int64(0), nil, false, ""},

		// = / ≠: expected converted to the actual value's type.
		{"=", int64(5), "5", true, ""},
		{"=", int64(5), " 5 ", true, ""},
		{"=", int64(1000), "1_000", true, ""},
		{"=", int64(5), "6", false, ""},
		{"=", int64(-3), "-3", true, ""},
		{"=", int64(5), 5.9, true, ""}, // int(5.9) == 5
		{"=", int64(1), true, true, ""},
		{"=", int64(5), "5.0", false, "invalid literal for int() with base 10: '5.0'"},
		{"=", int64(5), "abc", false, "invalid literal for int() with base 10: 'abc'"},
		{"=", int64(5), nil, false, "Cannot convert <class 'NoneType'> to int"},
		{"=", int64(5), list("5"), false, "Cannot convert <class 'list'> to int"},
		{"=", int64(5), math.Inf(1), false, "cannot convert float infinity to integer"},
		{"=", 2.5, "2.5", true, ""},
		{"=", 2.0, "2", true, ""},
		{"=", 2.0, int64(2), true, ""},
		{"=", 2.5, "1e1", false, ""},
		{"=", 2.5, "x", false, "could not convert string to float: 'x'"},
		{"=", 2.5, nil, false, "Cannot convert <class 'NoneType'> to float"},
		{"=", true, true, true, ""},
		{"=", true, "", false, ""}, // bool("") is False
		{"=", false, int64(0), true, ""},
		{"=", true, nil, false, "Cannot convert <class 'NoneType'> to bool"},
		{"=", true, 1.0, false, "Cannot convert <class 'float'> to bool"},
		{"=", nil, "1", false, ""},
		{"=", "5", "5", false, "Invalid actual value type: number or boolean"},
		{"=", list(int64(5)), "5", false, "Invalid actual value type: number or boolean"},
		{"≠", int64(5), "6", true, ""},
		{"≠", int64(5), "5", false, ""},
		{"≠", 2.5, "2.5", false, ""},
		{"≠", 2.5, "2.6", true, ""},
		{"≠", true, false, true, ""},
		{"≠", nil, "1", false, ""}, // None is neither equal nor unequal
		{"≠", "a", "b", false, "Invalid actual value type: number or boolean"},
		{"≠", int64(5), "x", false, "invalid literal for int() with base 10: 'x'"},

		// > < ≥ ≤: numeric comparison with Dify's normalisation.
		{">", int64(5), "3", true, ""},
		{">", int64(5), "5", false, ""},
		{">", int64(1), "0.95", true, ""},
		{">", int64(0), "0.95", false, ""},
		{">", 2.5, "2", true, ""},
		{">", 2.5, int64(2), true, ""},
		{">", int64(3), 2.5, true, ""},
		{">", int64(3), int64(3), false, ""},
		{">", true, "0", true, ""}, // bool is an int in Python
		{">", int64(9007199254740993), "9007199254740992", true, ""},
		{">", int64(5), "inf", false, ""},
		{">", int64(5), "-inf", true, ""},
		{">", int64(5), "nan", false, ""},
		{">", int64(5), "1e300", false, ""},
		{">", int64(5), "abc", false, "Cannot convert 'abc' to number"},
		{">", int64(5), "", false, "Cannot convert '' to number"},
		{">", int64(5), nil, false, "Cannot convert <class 'NoneType'> to number"},
		{">", int64(5), list("1"), false, "Cannot convert <class 'list'> to number"},
		{">", "5", "3", false, "Invalid actual value type: number"},
		{">", list(int64(5)), "3", false, "Invalid actual value type: number"},
		{">", nil, "3", false, ""},
		{"<", int64(0), "0.95", true, ""},
		{"<", int64(5), "3", false, ""},
		{"<", 1.5, "2", true, ""},
		{"<", false, "1", true, ""},
		{"<", int64(-1), "-0.5", true, ""},
		{"<", nil, "3", false, ""},
		{"<", "1", "3", false, "Invalid actual value type: number"},
		{"≥", int64(1), "0.95", true, ""},
		{"≥", int64(5), "5", true, ""},
		{"≥", int64(5), "5.0", true, ""},
		{"≥", int64(4), "5", false, ""},
		{"≥", 1.1, "0.95", true, ""},
		{"≥", nil, "1", false, ""},
		{"≥", "x", "1", false, "Invalid actual value type: number"},
		{"≤", int64(0), "0.95", true, ""},
		{"≤", int64(5), "5", true, ""},
		{"≤", int64(6), "5", false, ""},
		{"≤", 4.99, "5", true, ""},
		{"≤", int64(5), "5.5", true, ""},
		{"≤", int64(5), "x", false, "Cannot convert 'x' to number"},

		// null / not null / exists / not exists
		{"null", nil, nil, true, ""},
		{"null", "", nil, false, ""},
		{"null", int64(0), nil, false, ""},
		{"not null", nil, nil, false, ""},
		{"not null", "", nil, true, ""},
		{"not null", false, nil, true, ""},
		{"exists", nil, nil, false, ""},
		{"exists", "x", nil, true, ""},
		{"exists", list(), nil, true, ""},
		{"exists", m{"type": "image"}, nil, true, ""},
		{"not exists", nil, nil, true, ""},
		{"not exists", "x", nil, false, ""},

		// in / not in: expected must be an array.
		{"in", "a", list("a", "b"), true, ""},
		{"in", "c", list("a", "b"), false, ""},
		{"in", int64(1), list(int64(1)), true, ""},
		{"in", int64(1), list("1"), false, ""},
		{"in", true, list(true), true, ""},
		{"in", "", list(""), false, ""}, // falsy actual
		{"in", nil, list("a"), false, ""},
		{"in", int64(0), "x", false, ""}, // falsy: no type check
		{"in", "a", "abc", false, "Invalid expected value type: array"},
		{"in", "a", nil, false, "Invalid expected value type: array"},
		{"not in", "c", list("a", "b"), true, ""},
		{"not in", "a", list("a", "b"), false, ""},
		{"not in", "", list("a"), true, ""},
		{"not in", nil, list("a"), true, ""},
		{"not in", "a", "abc", false, "Invalid expected value type: array"},

		// all of
		{"all of", list("a", "b", "c"), list("a", "b"), true, ""},
		{"all of", list("a"), list("a", "b"), false, ""},
		{"all of", "hello world", list("hello", "world"), true, ""},
		{"all of", "hello", list("hello", "x"), false, ""},
		{"all of", list("a"), list(), true, ""},
		{"all of", list(), list("a"), false, ""},
		{"all of", nil, list("a"), false, ""},
		{"all of", int64(5), list("5"), false, ""},             // not a container: false, not an error
		{"all of", m{"a": int64(1)}, list("a"), false, ""},     // dicts are not checked
		{"all of", list(true, false), list(true), true, ""},    // booleans
		{"all of", list(true), list(false), false, ""},         // booleans
		{"all of", true, list(true), false, ""},                // booleans need a list
		{"all of", list(int64(1), true), list(true), true, ""}, // 1 == True
		{"all of", list("a"), list(int64(1)), false, "all of operator expects homogeneous list of strings or booleans"},
		{"all of", list("a"), list("a", true), false, "all of operator expects homogeneous list of strings or booleans"},
		{"all of", list("a"), "a", false, "Unsupported operator: all of"},
		{"all of", list("a"), nil, false, "Unsupported operator: all of"},

		// not an operator
		{"regex match", "a", "a", false, "Unsupported operator: regex match"},
		{"!=", int64(1), "2", false, "Unsupported operator: !="},
	}
	for _, tc := range tests {
		got, err := compare(tc.op, tc.value, tc.expected)
		name := tc.op + " " + py.Repr(tc.value) + " " + py.Repr(tc.expected)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("%s: err = %v, want %q", name, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s: unexpected error %v", name, err)
		case tc.err == "" && got != tc.want:
			t.Errorf("%s = %v, want %v", name, got, tc.want)
		}
	}
	// Every operator Dify supports is covered above.
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.op] = true
	}
	for op := range operators {
		if !covered[op] {
			t.Errorf("operator %q has no test case", op)
		}
	}
}

// TestCompareIntFloatBug shows the bug fixed in the port: Dify compares an
// integer variable with a decimal expected value as numbers (PR #28155),
// where the earlier port failed with int("0.95").
func TestCompareIntFloatBug(t *testing.T) {
	t.Parallel()
	p := iePool(Vars{{"zero", int64(0)}, {"one", int64(1)}, {"one_one", 1.1}})
	for _, tc := range []struct {
		v    string
		op   string
		want bool
	}{{"zero", "≤", true}, {"one", "≥", true}, {"one_one", "≥", true}, {"one_one", ">", true}} {
		value := "0.95"
		if tc.op == ">" {
			value = "0"
		}
		got, _, err := ieSet("or", Condition{VariableSelector: Selector{"c", tc.v}, ComparisonOperator: tc.op, Value: value}).Eval(p)
		if err != nil || got != tc.want {
			t.Errorf("%s %s %s = %v, %v; want %v", tc.v, tc.op, value, got, err, tc.want)
		}
	}
}

func TestConditionMissingVariable(t *testing.T) {
	t.Parallel()
	p := iePool(Vars{{"x", "a"}})
	cs := ieSet("and", Condition{VariableSelector: Selector{"c", "nope"}, ComparisonOperator: "is", Value: "a"})
	_, _, err := cs.Eval(p)
	var ve *ConditionVariableError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a *ConditionVariableError", err)
	}
	ieEqual(t, "message", err.Error(), "Variable ['c', 'nope'] not found")
	ieEqual(t, "selector", ve.Selector, Selector{"c", "nope"})

	// An unknown node is missing too; a null value is not.
	_, _, err = ieSet("and", Condition{VariableSelector: Selector{"other", "x"}, ComparisonOperator: "null"}).Eval(p)
	ieEqual(t, "unknown node", err.Error(), "Variable ['other', 'x'] not found")
	p.Set("c", Vars{{"x", nil}})
	ok, _, err := ieSet("and", Condition{VariableSelector: Selector{"c", "x"}, ComparisonOperator: "null"}).Eval(p)
	if err != nil || !ok {
		t.Errorf("null value: %v, %v; want true", ok, err)
	}
}

func TestConditionShortCircuit(t *testing.T) {
	t.Parallel()
	p := iePool(Vars{{"s", "hello"}, {"n", int64(3)}})
	yes := Condition{VariableSelector: Selector{"c", "s"}, ComparisonOperator: "contains", Value: "ell"}
	no := Condition{VariableSelector: Selector{"c", "n"}, ComparisonOperator: ">", Value: "5"}
	missing := Condition{VariableSelector: Selector{"c", "missing"}, ComparisonOperator: "empty"}
	tests := []struct {
		name    string
		logical string
		conds   []Condition
		final   bool
		results []bool
		inputs  int
		err     bool
	}{
		{"and stops at first false", "and", []Condition{yes, no, missing}, false, []bool{true, false}, 2, false},
		{"and all true", "and", []Condition{yes, yes}, true, []bool{true, true}, 2, false},
		{"and reaches the missing variable", "and", []Condition{yes, missing}, false, nil, 1, true},
		{"or stops at first true", "or", []Condition{no, yes, missing}, true, []bool{false, true}, 2, false},
		{"or all false", "or", []Condition{no, no}, false, []bool{false, false}, 2, false},
		{"or reaches the missing variable", "or", []Condition{no, missing}, false, nil, 1, true},
		{"empty and", "and", nil, true, nil, 0, false},
		{"empty or", "or", nil, false, nil, 0, false},
	}
	for _, tc := range tests {
		o, err := ieSet(tc.logical, append([]Condition(nil), tc.conds...)...).Check(p)
		if (err != nil) != tc.err {
			t.Errorf("%s: err = %v", tc.name, err)
			continue
		}
		if len(o.Inputs) != tc.inputs {
			t.Errorf("%s: %d inputs recorded, want %d", tc.name, len(o.Inputs), tc.inputs)
		}
		if tc.err {
			continue
		}
		ieEqual(t, tc.name+" final", o.Final, tc.final)
		ieEqual(t, tc.name+" results", o.Results, tc.results)
	}
}

func TestConditionTemplatedValue(t *testing.T) {
	t.Parallel()
	p := iePool(Vars{{"n", int64(12)}, {"limit", int64(10)}, {"name", "bob"}, {"greeting", "hi bob!"}, {"tags", []any{"x", "y"}}})
	o, err := ieSet("and",
		Condition{VariableSelector: Selector{"c", "n"}, ComparisonOperator: ">", Value: "{{#c.limit#}}"},
		Condition{VariableSelector: Selector{"c", "greeting"}, ComparisonOperator: "contains", Value: "{{#c.name#}}!"},
		Condition{VariableSelector: Selector{"c", "greeting"}, ComparisonOperator: "start with", Value: "hi {{#c.name#}}"},
		// A list value is not a template.
		Condition{VariableSelector: Selector{"c", "name"}, ComparisonOperator: "in", Value: []any{"bob", "{{#c.name#}}"}},
	).Check(p)
	if err != nil || !o.Final {
		t.Fatalf("got %+v, %v; want true", o, err)
	}
	ieEqual(t, "recorded inputs", o.Inputs, []ConditionResult{
		{ActualValue: int64(12), ExpectedValue: "10", ComparisonOperator: ">"},
		{ActualValue: "hi bob!", ExpectedValue: "bob!", ComparisonOperator: "contains"},
		{ActualValue: "hi bob!", ExpectedValue: "hi bob", ComparisonOperator: "start with"},
		{ActualValue: "bob", ExpectedValue: []any{"bob", "{{#c.name#}}"}, ComparisonOperator: "in"},
	})
	// Arrays render as JSON inside a template.
	ok, _, err := ieSet("and", Condition{VariableSelector: Selector{"c", "tags"}, ComparisonOperator: "contains", Value: "{{#c.name#}}"}).Eval(p)
	if err != nil || ok {
		t.Errorf("tags contains bob = %v, %v; want false", ok, err)
	}
}

func TestConditionBooleanVariables(t *testing.T) {
	t.Parallel()
	p := iePool(Vars{{"t", true}, {"f", false}, {"bs", []any{true, false}}, {"ts", []any{true}}})
	tests := []struct {
		v, op    string
		value    any
		want     bool
		expected any // recorded expected value
		err      string
	}{
		{"t", "is", "true", true, true, ""},
		{"t", "is", "false", false, false, ""},
		{"t", "is", "1", true, true, ""},
		{"f", "is", "0", true, false, ""},
		{"t", "is", true, true, true, ""},
		{"t", "is not", "false", true, false, ""},
		{"t", "=", "true", true, true, ""},
		{"f", "≠", " true ", true, true, ""},
		{"t", "is", "12345678901234567890", true, true, ""},
		{"bs", "contains", "false", true, false, ""},
		{"ts", "contains", "false", false, false, ""},
		{"ts", "not contains", "false", true, false, ""},
		{"bs", "all of", []any{"true", "false"}, true, []any{true, false}, ""},
		{"ts", "all of", []any{"true", "false"}, false, []any{true, false}, ""},
		{"bs", "in", []any{"true"}, false, []any{true}, ""}, // a list is not in [True]
		{"t", "empty", nil, false, nil, ""},
		{"t", "is", "yes", false, nil, "Expecting value: line 1 column 1 (char 0)"},
		{"t", "is", "", false, nil, "Expecting value: line 1 column 1 (char 0)"},
		{"t", "is", "  x", false, nil, "Expecting value: line 1 column 3 (char 2)"},
		{"t", "is", "true1", false, nil, "Extra data: line 1 column 5 (char 4)"},
		{"t", "is", "\n x", false, nil, "Expecting value: line 2 column 2 (char 2)"},
		{"t", "is", "1.5", false, nil, "unexpected value: type=<class 'str'>, value=1.5"},
		{"t", "is", `"true"`, false, nil, `unexpected value: type=<class 'str'>, value="true"`},
		{"t", "is", "NaN", false, nil, "unexpected value: type=<class 'str'>, value=NaN"},
		{"ts", "contains", []any{1.5}, false, nil, "unexpected value: type=<class 'float'>, value=1.5"},
	}
	for _, tc := range tests {
		o, err := ieSet("and", Condition{VariableSelector: Selector{"c", tc.v}, ComparisonOperator: tc.op, Value: tc.value}).Check(p)
		name := tc.v + " " + tc.op + " " + py.Repr(tc.value)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: err = %v, want %q", name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		ieEqual(t, name, o.Final, tc.want)
		ieEqual(t, name+" recorded expected", o.Inputs[0].ExpectedValue, tc.expected)
	}
}

func TestConditionFileSubConditions(t *testing.T) {
	t.Parallel()
	pdf := ieFile("report.pdf", ".pdf", "document", 500)
	png := ieFile("photo.png", "png", "image", 2000, "transfer_method", "remote_url", "remote_url", "https://x.test/photo.png", "mime_type", "image/png")
	p := iePool(Vars{{"files", []any{pdf, png}}, {"none", []any{}}, {"one", pdf}, {"nil", nil}})
	sub := func(logical string, keys ...KeyCondition) *SubCondition {
		return &SubCondition{LogicalOperator: logical, Conditions: keys}
	}
	k := func(key, op string, v any) KeyCondition {
		return KeyCondition{Key: key, ComparisonOperator: op, Value: v}
	}
	tests := []struct {
		name string
		v    string
		op   string
		sub  *SubCondition
		want bool
		err  string
	}{
		{"extension normalised", "files", "contains", sub("and", k("extension", "is", "pdf")), true, ""},
		{"extension with dot", "files", "contains", sub("and", k("extension", "is", ".png")), true, ""},
		{"extension missing", "files", "contains", sub("and", k("extension", "is", "doc")), false, ""},
		{"type in", "files", "contains", sub("and", k("type", "in", []any{"image"})), true, ""},
		{"type not in needs all", "files", "contains", sub("and", k("type", "not in", []any{"image"})), false, ""},
		{"type not in all", "files", "contains", sub("and", k("type", "not in", []any{"video"})), true, ""},
		{"size any", "files", "contains", sub("and", k("size", ">", "1000")), true, ""},
		{"size none", "files", "contains", sub("and", k("size", ">", "5000")), false, ""},
		{"size decimal", "files", "contains", sub("and", k("size", "≥", "1999.5")), true, ""},
		{"name start with", "files", "all of", sub("and", k("name", "start with", "rep")), true, ""},
		{"mime_type", "files", "contains", sub("and", k("mime_type", "is", "image/png")), true, ""},
		{"url remote", "files", "contains", sub("and", k("url", "end with", ".png")), true, ""},
		{"transfer_method", "files", "contains", sub("and", k("transfer_method", "is", "remote_url")), true, ""},
		{"related_id", "files", "contains", sub("and", k("related_id", "is", "id-report.pdf")), true, ""},
		{"and of keys", "files", "contains", sub("and", k("type", "in", []any{"image"}), k("size", "<", "100")), false, ""},
		{"or of keys", "files", "contains", sub("or", k("type", "in", []any{"image"}), k("size", "<", "100")), true, ""},
		{"not contains uses the sub operator", "files", "not contains", sub("and", k("extension", "is", "pdf")), true, ""},
		{"empty array contains", "none", "contains", sub("and", k("extension", "is", "pdf")), false, ""},
		{"empty array not-operator", "none", "contains", sub("and", k("extension", "is not", "pdf")), true, ""},
		{"bad key", "files", "contains", sub("and", k("color", "is", "red")), false, "'color' is not a valid FileAttribute"},
		{"extension needs a string", "files", "contains", sub("and", k("extension", "in", []any{"pdf"})), false, "Expected value must be a string when key is FileAttribute.EXTENSION"},
		{"size not a number", "files", "contains", sub("and", k("size", ">", "big")), false, "Cannot convert 'big' to number"},
		{"sub condition required", "files", "contains", nil, false, "Sub variable is required"},
		{"other operators compare the array", "files", "not empty", nil, true, ""},
		{"exists on a file", "one", "exists", nil, true, ""},
		{"not exists on null", "nil", "not exists", nil, true, ""},
	}
	for _, tc := range tests {
		cs := ieSet("and", Condition{VariableSelector: Selector{"c", tc.v}, ComparisonOperator: tc.op, SubVariableCondition: tc.sub})
		o, err := cs.Check(p)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		ieEqual(t, tc.name, o.Final, tc.want)
		// Dify records neither file sub-conditions nor exists checks.
		if recorded := len(o.Inputs) > 0; recorded != (tc.sub == nil && !strings.Contains(tc.op, "exists")) {
			t.Errorf("%s: inputs recorded = %v", tc.name, o.Inputs)
		}
	}
}
