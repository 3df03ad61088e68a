package run

import (
	"errors"
	"strings"
	"testing"
)

const ieValues = `
name: alice
age: 30
score: 7.5
tags: [a, b]
threshold: 18
ok: true
`

func TestIfElseMultipleCases(t *testing.T) {
	t.Parallel()
	doc := ieDoc(ieValues, `
type: if-else
title: Route
cases:
- case_id: minor
  logical_operator: and
  conditions:
  - {id: x1, varType: number, variable_selector: [c, age], comparison_operator: <, value: '{{#c.threshold#}}'}
  - {variable_selector: [c, name], comparison_operator: is, value: alice}
- case_id: adult
  logical_operator: or
  conditions:
  - {variable_selector: [c, name], comparison_operator: start with, value: bob}
  - {variable_selector: [c, age], comparison_operator: ≥, value: '{{#c.threshold#}}'}
  - {variable_selector: [c, missing], comparison_operator: empty}
- case_id: anyone
  logical_operator: and
  conditions:
  - {variable_selector: [c, name], comparison_operator: not empty}
`, "minor", "adult", "anyone", "false")
	r := ieRun(t, doc)
	if r.Info.Status != StatusSucceeded {
		t.Fatalf("run %s: %s", r.Info.Status, r.Info.Error)
	}
	n := r.ieNode(t, "n")
	ieEqual(t, "outputs", n.Outputs, Vars{{"result", true}, {"selected_case_id", "adult"}})
	ieEqual(t, "branches taken", r.ieBranches(), []string{"adult"})
	// Inputs hold the comparisons of the last case evaluated, stopped
	// at its first true condition.
	ieEqual(t, "inputs", ieJSON(t, n.Inputs), `{"conditions":[`+
		`{"actual_value":"alice","expected_value":"bob","comparison_operator":"start with"},`+
		`{"actual_value":30,"expected_value":"18","comparison_operator":"≥"}]}`)
	// process_data: one entry per case evaluated, with the case as
	// written (model_dump: extra keys such as id and varType dropped).
	ieEqual(t, "process_data", ieJSON(t, n.ProcessData), `{"condition_results":[`+
		`{"group":{"case_id":"minor","logical_operator":"and","conditions":[`+
		`{"variable_selector":["c","age"],"comparison_operator":"<","value":"{{#c.threshold#}}","sub_variable_condition":null},`+
		`{"variable_selector":["c","name"],"comparison_operator":"is","value":"alice","sub_variable_condition":null}]},`+
		`"results":[false],"final_result":false},`+
		`{"group":{"case_id":"adult","logical_operator":"or","conditions":[`+
		`{"variable_selector":["c","name"],"comparison_operator":"start with","value":"bob","sub_variable_condition":null},`+
		`{"variable_selector":["c","age"],"comparison_operator":"≥","value":"{{#c.threshold#}}","sub_variable_condition":null},`+
		`{"variable_selector":["c","missing"],"comparison_operator":"empty","value":null,"sub_variable_condition":null}]},`+
		`"results":[false,true],"final_result":true}]}`)
}

func TestIfElseNoCasePasses(t *testing.T) {
	t.Parallel()
	doc := ieDoc(ieValues, `
type: if-else
title: Route
cases:
- case_id: one
  logical_operator: and
  conditions:
  - {variable_selector: [c, tags], comparison_operator: contains, value: z}
- case_id: two
  logical_operator: or
  conditions:
  - {variable_selector: [c, score], comparison_operator: '>', value: '10'}
  - {variable_selector: [c, ok], comparison_operator: is, value: 'false'}
`, "one", "two", "false")
	r := ieRun(t, doc)
	n := r.ieNode(t, "n")
	// Dify's selected_case_id is None when no case passes; the branch
	// taken is "false".
	ieEqual(t, "outputs", n.Outputs, Vars{{"result", false}, {"selected_case_id", nil}})
	ieEqual(t, "branches taken", r.ieBranches(), []string{"false"})
	ieEqual(t, "inputs", ieJSON(t, n.Inputs), `{"conditions":[`+
		`{"actual_value":7.5,"expected_value":"10","comparison_operator":">"},`+
		`{"actual_value":true,"expected_value":false,"comparison_operator":"is"}]}`)
	if got := len(n.ProcessData[0].Value.([]any)); got != 2 {
		t.Errorf("%d condition_results, want 2", got)
	}
}

func TestIfElseLegacyForm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, node string
		result     bool
		handle     string
	}{
		{"and true", `
type: if-else
title: Legacy
logical_operator: and
conditions:
- {variable_selector: [c, name], comparison_operator: contains, value: lic}
- {variable_selector: [c, age], comparison_operator: '=', value: '30'}
`, true, "true"},
		{"or false", `
type: if-else
title: Legacy
logical_operator: or
conditions:
- {variable_selector: [c, name], comparison_operator: end with, value: bob}
- {variable_selector: [c, age], comparison_operator: ≠, value: '30'}
`, false, "false"},
		{"default logical operator is and", `
type: if-else
title: Legacy
conditions:
- {variable_selector: [c, name], comparison_operator: is, value: alice}
- {variable_selector: [c, age], comparison_operator: '<', value: '3'}
`, false, "false"},
		// Dify falls back to the legacy form when cases is empty: with
		// no conditions, all([]) is true.
		{"empty cases", `
type: if-else
title: Legacy
cases: []
`, true, "true"},
	}
	for _, tc := range tests {
		r := ieRun(t, ieDoc(ieValues, tc.node, "true", "false"))
		n := r.ieNode(t, "n")
		ieEqual(t, tc.name+" outputs", n.Outputs, Vars{{"result", tc.result}, {"selected_case_id", tc.handle}})
		ieEqual(t, tc.name+" branches", r.ieBranches(), []string{tc.handle})
		results := n.ProcessData[0].Value.([]any)
		if len(results) != 1 || results[0].(Vars)[0].Value != "default" {
			t.Errorf("%s: process_data = %s, want one \"default\" group", tc.name, ieJSON(t, n.ProcessData))
		}
	}
}

func TestIfElseMissingVariable(t *testing.T) {
	t.Parallel()
	doc := ieDoc(ieValues, `
type: if-else
title: Route
cases:
- case_id: first
  logical_operator: and
  conditions:
  - {variable_selector: [c, age], comparison_operator: '>', value: '99'}
- case_id: second
  logical_operator: and
  conditions:
  - {variable_selector: [c, name], comparison_operator: is, value: alice}
  - {variable_selector: [c, nickname], comparison_operator: is, value: al}
`, "first", "second", "false")
	r := ieRun(t, doc)
	if r.Info.Status != StatusFailed || r.Info.Error != "Variable ['c', 'nickname'] not found" {
		t.Fatalf("run = %s %q, want failed with the missing variable", r.Info.Status, r.Info.Error)
	}
	n := r.ieNode(t, "n")
	ieEqual(t, "status", n.Status, StatusFailed)
	ieEqual(t, "error", n.Error, "Variable ['c', 'nickname'] not found")
	// Dify records no conditions on failure, and the results of the
	// cases that completed.
	ieEqual(t, "inputs", ieJSON(t, n.Inputs), `{"conditions":[]}`)
	if !strings.Contains(ieJSON(t, n.ProcessData), `"case_id":"first"`) || strings.Contains(ieJSON(t, n.ProcessData), `"case_id":"second"`) {
		t.Errorf("process_data = %s, want the first case only", ieJSON(t, n.ProcessData))
	}
	ieEqual(t, "branches taken", r.ieBranches(), []string(nil))
}

func TestIfElseFailBranchOnError(t *testing.T) {
	t.Parallel()
	// A comparison error is a node failure that error strategies handle.
	doc := ieDoc(ieValues, `
type: if-else
title: Route
error_strategy: fail-branch
cases:
- case_id: c1
  logical_operator: and
  conditions:
  - {variable_selector: [c, name], comparison_operator: '>', value: '1'}
`, "c1", "false", "fail-branch")
	r := ieRun(t, doc)
	n := r.ieNode(t, "n")
	ieEqual(t, "status", n.Status, StatusException)
	ieEqual(t, "error", n.Error, "Invalid actual value type: number")
	ieEqual(t, "branches taken", r.ieBranches(), []string{"fail-branch"})
}

func TestIfElseFileConditions(t *testing.T) {
	t.Parallel()
	doc := ieDoc(`
files:
- {filename: a.pdf, extension: .pdf, type: document, size: 10, transfer_method: local_file, related_id: f1}
- {filename: b.png, extension: .png, type: image, size: 99, transfer_method: local_file, related_id: f2}
`, `
type: if-else
title: Files
cases:
- case_id: has_image
  logical_operator: and
  conditions:
  - variable_selector: [c, files]
    comparison_operator: contains
    sub_variable_condition:
      logical_operator: and
      conditions:
      - {key: type, comparison_operator: in, value: [image]}
      - {key: extension, comparison_operator: is, value: png}
`, "has_image", "false")
	r := ieRun(t, doc)
	n := r.ieNode(t, "n")
	ieEqual(t, "outputs", n.Outputs, Vars{{"result", true}, {"selected_case_id", "has_image"}})
	ieEqual(t, "inputs", ieJSON(t, n.Inputs), `{"conditions":[]}`)
	if !strings.Contains(ieJSON(t, n.ProcessData), `"sub_variable_condition":{"logical_operator":"and","conditions":[{"key":"type","comparison_operator":"in","value":["image"]},{"key":"extension","comparison_operator":"is","value":"png"}]}`) {
		t.Errorf("process_data = %s", ieJSON(t, n.ProcessData))
	}
}

func TestIfElseEmptyCaseID(t *testing.T) {
	t.Parallel()
	// Dify takes the branch selected_case_id or "false": an empty case id
	// passes but routes to "false".
	r := ieRun(t, ieDoc(ieValues, `
type: if-else
title: Route
cases:
- case_id: ''
  logical_operator: and
  conditions:
  - {variable_selector: [c, ok], comparison_operator: is, value: 'true'}
`, "false"))
	ieEqual(t, "outputs", r.ieNode(t, "n").Outputs, Vars{{"result", true}, {"selected_case_id", ""}})
	ieEqual(t, "branches taken", r.ieBranches(), []string{"false"})
}

func TestIfElseLoadValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, node string
		want       []string
	}{
		{"unknown operator", `
type: if-else
title: Bad
cases:
- case_id: a
  logical_operator: and
  conditions:
  - {variable_selector: [c, age], comparison_operator: '>=', value: '1'}
  - {variable_selector: [c, age], comparison_operator: '!=', value: '1'}
`, []string{`node n: cases[0].conditions[0]: unknown comparison_operator ">="`, `node n: cases[0].conditions[1]: unknown comparison_operator "!="`}},
		{"bad logical operator", `
type: if-else
title: Bad
cases:
- case_id: a
  logical_operator: xor
  conditions: []
`, []string{`cases[0].conditions: logical_operator must be "and" or "or", not "xor"`}},
		{"missing case fields", `
type: if-else
title: Bad
cases:
- conditions: []
`, []string{"cases[0]: case_id is required", "cases[0]: logical_operator is required"}},
		{"legacy logical operator", `
type: if-else
title: Bad
logical_operator: nand
conditions: []
`, []string{`conditions: logical_operator must be "and" or "or", not "nand"`}},
		{"reference to an unknown node", `
type: if-else
title: Bad
cases:
- case_id: a
  logical_operator: and
  conditions:
  - {variable_selector: [ghost, x], comparison_operator: empty}
  - {variable_selector: [c, age], comparison_operator: '=', value: '{{#phantom.v#}}'}
`, []string{`cases[0].conditions[0].variable_selector: references unknown node "ghost"`, `cases[0].conditions[1].value: references unknown node "phantom"`}},
		{"sub-condition problems", `
type: if-else
title: Bad
cases:
- case_id: a
  logical_operator: and
  conditions:
  - variable_selector: [c, files]
    comparison_operator: contains
    sub_variable_condition:
      logical_operator: both
      conditions:
      - {key: size, comparison_operator: '>>', value: '1'}
`, []string{`cases[0].conditions[0].sub_variable_condition: logical_operator must be "and" or "or", not "both"`, `cases[0].conditions[0].sub_variable_condition.conditions[0]: unknown comparison_operator ">>"`}},
	}
	for _, tc := range tests {
		doc := ieDoc(ieValues, tc.node, "a", "false")
		_, err := ieEngine().Compile([]byte(doc))
		if !errors.Is(err, ErrInvalidDSL) {
			t.Errorf("%s: err = %v, want ErrInvalidDSL", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.name, err, w)
			}
		}
	}
}

func TestIfElseBranchExample(t *testing.T) {
	t.Parallel()
	// examples/branch.yml routes on a start input through if-else.
	data, err := ieReadExample("branch")
	if err != nil {
		t.Fatal(err)
	}
	e := New(Config{}, nil)
	wf, err := e.Compile(data)
	if err != nil {
		t.Fatal(err)
	}
	for query, want := range map[string]string{"hello world": "greeting: hello world", "bye": "other: bye"} {
		in, err := wf.PrepareInputs(map[string]any{"query": query})
		if err != nil {
			t.Fatal(err)
		}
		info := e.Run(t.Context(), wf, Params{RunID: "r", Inputs: in}, nil)
		ieEqual(t, query, info.Outputs, Vars{{"answer", want}})
	}
}
