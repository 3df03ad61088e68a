package run

import (
	"context"
	"fmt"
)

// This file ports Dify's if-else node
// (api/core/workflow/nodes/if_else/if_else_node.py).

func init() {
	registerBuiltin(NodeType{Name: "if-else", Build: buildIfElse})
}

// ifElseCase is one case of an if-else node (IfElseNodeData.Case).
type ifElseCase struct {
	CaseID          *string     `json:"case_id"`
	LogicalOperator string      `json:"logical_operator"`
	Conditions      []Condition `json:"conditions"`
}

type compiledCase struct {
	id   string
	set  *ConditionSet
	dump Vars // case.model_dump(), recorded in process_data
}

type ifElseNode struct {
	// cases is nil for the legacy form (top-level conditions), which
	// Dify also uses when cases is present but empty.
	cases  []compiledCase
	legacy *ConditionSet
}

func buildIfElse(b *Build) (Executor, error) {
	var cfg struct {
		Cases           []ifElseCase `json:"cases"`
		LogicalOperator *string      `json:"logical_operator"`
		Conditions      []Condition  `json:"conditions"`
	}
	if err := b.Decode(&cfg); err != nil {
		return nil, err
	}
	n := &ifElseNode{}
	if len(cfg.Cases) == 0 {
		logical := "and"
		if cfg.LogicalOperator != nil && *cfg.LogicalOperator != "" {
			logical = *cfg.LogicalOperator
		}
		n.legacy = BuildConditions(b, "conditions", logical, cfg.Conditions)
		return n, nil
	}
	for i, c := range cfg.Cases {
		field := fmt.Sprintf("cases[%d]", i)
		id := ""
		if c.CaseID == nil {
			b.Errorf("%s: case_id is required", field)
		} else {
			id = *c.CaseID
		}
		if c.LogicalOperator == "" {
			b.Errorf("%s: logical_operator is required", field)
		}
		set := BuildConditions(b, field+".conditions", c.LogicalOperator, c.Conditions)
		n.cases = append(n.cases, compiledCase{id: id, set: set, dump: Vars{
			{"case_id", id},
			{"logical_operator", set.Logical},
			{"conditions", dumpConditions(set.Conditions)},
		}})
	}
	return n, nil
}

// dumpConditions renders conditions as Dify's model_dump() does.
func dumpConditions(conds []Condition) []any {
	out := make([]any, len(conds))
	for i, c := range conds {
		var sub any
		if sc := c.SubVariableCondition; sc != nil {
			keys := make([]any, len(sc.Conditions))
			for j, k := range sc.Conditions {
				keys[j] = Vars{{"key", k.Key}, {"comparison_operator", k.ComparisonOperator}, {"value", k.Value}}
			}
			sub = Vars{{"logical_operator", sc.LogicalOperator}, {"conditions", keys}}
		}
		out[i] = Vars{
			{"variable_selector", stringsToAny(c.VariableSelector)},
			{"comparison_operator", c.ComparisonOperator},
			{"value", c.Value},
			{"sub_variable_condition", sub},
		}
	}
	return out
}

// Execute evaluates the cases in order and takes the first passing case's
// case_id as the branch ("false" when none passes). As in Dify, inputs
// record the comparisons of the last case evaluated, and process_data one
// entry per case evaluated. A failure (such as a missing variable) fails
// the node with inputs {"conditions": []} and the results so far.
func (n *ifElseNode) Execute(_ context.Context, x *Exec) (*Result, error) {
	var results []any
	res := &Result{
		Inputs:      Vars{{"conditions", []any{}}},
		ProcessData: Vars{{"condition_results", []any{}}},
	}
	record := func(group any, o ConditionOutcome) {
		rs := make([]any, len(o.Results))
		for i, r := range o.Results {
			rs[i] = r
		}
		results = append(results, Vars{{"group", group}, {"results", rs}, {"final_result", o.Final}})
		res.ProcessData = Vars{{"condition_results", results}}
	}
	var (
		last     ConditionOutcome
		selected any // Dify's selected_case_id: None when no case passes
	)
	if n.cases == nil {
		o, err := n.legacy.Check(x.Pool)
		if err != nil {
			return res, err
		}
		last = o
		selected = "false"
		if o.Final {
			selected = "true"
		}
		record("default", o)
	} else {
		for _, c := range n.cases {
			o, err := c.set.Check(x.Pool)
			if err != nil {
				return res, err
			}
			last = o
			record(c.dump, o)
			if o.Final {
				selected = c.id
				break
			}
		}
	}
	conds := make([]any, len(last.Inputs))
	for i, in := range last.Inputs {
		conds[i] = in.Vars()
	}
	res.Inputs = Vars{{"conditions", conds}}
	res.Outputs = Vars{{"result", last.Final}, {"selected_case_id", selected}}
	res.Handle = "false"
	if s, _ := selected.(string); s != "" {
		res.Handle = s
	}
	return res, nil
}
