package run

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// ctAssignerNode compiles start → src (ct-const) → asg (an assigner with
// data) in a chatflow and returns the assigner node, to run its executor
// against a hand-made pool.
func ctAssignerNode(t *testing.T, data map[string]any) *Node {
	t.Helper()
	data["type"], data["title"] = "assigner", "asg"
	doc := ctDoc("advanced-chat", []ctNode{ctStart(), ctConst("src", nil), {ID: "asg", Data: data}}, []ctEdge{ctE("start", "src"), ctE("src", "asg")})
	wf := ctCompile(t, New(Config{}, ctRegistry()), doc)
	for _, n := range wf.Graph.Nodes {
		if n.ID == "asg" {
			return n
		}
	}
	t.Fatal("no assigner node")
	return nil
}

// ctAssignPool returns a pool with conversation variables of every type
// (inside a parent pool, as a run's would be) and source values under
// "src".
func ctAssignPool() (root, pool *Pool) {
	root = NewPool(nil)
	root.Set("conversation", Vars{
		{"s", "abc"}, {"i", int64(5)}, {"f", 2.5}, {"b", true}, {"o", map[string]any{"a": int64(1)}},
		{"as", []any{"x"}}, {"an", []any{int64(1), int64(2)}}, {"ao", []any{map[string]any{"k": int64(1)}}},
		{"ab", []any{true}}, {"aa", []any{}}, {"nul", nil},
	})
	pool = NewPool(root)
	pool.Set("src", Vars{
		{"str", "hello"}, {"num", int64(3)}, {"list", []any{"y", "z"}}, {"nums", []any{int64(7)}}, {"none", nil},
		{"obj", map[string]any{"z": int64(9)}},
	})
	return root, pool
}

func ctItem(target, op, inputType string, value any) map[string]any {
	return map[string]any{"variable_selector": []string{"conversation", target}, "operation": op, "input_type": inputType, "value": value}
}

func ctSrc(name string) []string { return []string{"src", name} }

func TestAssignerOperations(t *testing.T) {
	cases := []struct {
		target, op, in string
		value          any
		want           any // new value, or the error message (string starting with "!")
	}{
		// over-write
		{"s", "over-write", "constant", "new", "new"},
		{"s", "over-write", "variable", ctSrc("str"), "hello"},
		{"s", "over-write", "constant", 3, "!Invalid input value 3"},
		{"i", "over-write", "constant", 2.5, 2.5},
		{"b", "over-write", "constant", false, false},
		{"b", "over-write", "constant", "true", "!Invalid input value true"},
		{"o", "over-write", "constant", map[string]any{"z": 1}, map[string]any{"z": 1}},
		{"o", "over-write", "variable", ctSrc("obj"), map[string]any{"z": 9}},
		{"as", "over-write", "variable", ctSrc("list"), []any{"y", "z"}},
		{"an", "over-write", "variable", ctSrc("list"), "!Invalid input value ['y', 'z']"},
		{"as", "over-write", "constant", []any{"q"}, "!Input type constant is not supported for operation over-write"},
		{"nul", "over-write", "variable", ctSrc("str"), "!Invalid input value hello"},
		// clear
		{"s", "clear", "variable", nil, ""},
		{"i", "clear", "variable", nil, 0},
		{"f", "clear", "variable", nil, 0.0},
		{"b", "clear", "variable", nil, false},
		{"o", "clear", "variable", nil, map[string]any{}},
		{"as", "clear", "variable", nil, []any{}},
		{"nul", "clear", "variable", nil, "!unsupported variable type: none"},
		{"as", "clear", "constant", nil, "!Input type constant is not supported for operation clear"},
		// set
		{"s", "set", "constant", "x", "x"},
		{"i", "set", "constant", 7, 7},
		{"b", "set", "constant", false, false},
		{"o", "set", "constant", `{"b": 2}`, map[string]any{"b": 2}},
		{"o", "set", "constant", "{", "!Invalid input value {"},
		{"o", "set", "constant", "[1]", "!Invalid input value [1]"},
		{"as", "set", "constant", "x", "!Operation set is not supported for type array[string]"},
		{"s", "set", "variable", ctSrc("str"), "!Input type variable is not supported for operation set"},
		// arithmetic
		{"i", "+=", "constant", 2, 7},
		{"i", "+=", "constant", 2.5, 7.5},
		{"i", "+=", "constant", true, 6},
		{"i", "-=", "constant", 2, 3},
		{"i", "*=", "constant", 3, 15},
		{"i", "/=", "constant", 2, 2.5},
		{"i", "/=", "constant", 5, 1.0},
		{"f", "*=", "constant", 2, 5.0},
		{"i", "/=", "constant", 0, "!Invalid input value 0"},
		{"i", "+=", "constant", "1", "!Invalid input value 1"},
		{"s", "+=", "constant", 1, "!Operation += is not supported for type string"},
		{"i", "+=", "variable", ctSrc("num"), "!Input type variable is not supported for operation +="},
		// append / extend
		{"as", "append", "variable", ctSrc("str"), []any{"x", "hello"}},
		{"an", "append", "variable", ctSrc("num"), []any{1, 2, 3}},
		{"as", "append", "variable", ctSrc("num"), "!Invalid input value 3"},
		{"aa", "append", "variable", ctSrc("obj"), []any{map[string]any{"z": 9}}},
		{"aa", "append", "variable", ctSrc("list"), "!Invalid input value ['y', 'z']"},
		{"ao", "append", "variable", ctSrc("obj"), []any{map[string]any{"k": 1}, map[string]any{"z": 9}}},
		{"as", "append", "constant", "y", "!Input type constant is not supported for operation append"},
		{"s", "append", "variable", ctSrc("str"), "!Operation append is not supported for type string"},
		{"as", "extend", "variable", ctSrc("list"), []any{"x", "y", "z"}},
		{"an", "extend", "variable", ctSrc("nums"), []any{1, 2, 7}},
		{"as", "extend", "variable", ctSrc("str"), "!Invalid input value hello"},
		{"ab", "extend", "variable", ctSrc("nums"), "!Invalid input value [7]"},
		// remove-first / remove-last
		{"an", "remove-first", "variable", nil, []any{2}},
		{"an", "remove-last", "variable", nil, []any{1}},
		{"aa", "remove-first", "variable", nil, []any{}},
		{"aa", "remove-last", "variable", nil, []any{}},
		{"s", "remove-last", "variable", nil, "!Operation remove-last is not supported for type string"},
		{"an", "remove-first", "constant", nil, "!Input type constant is not supported for operation remove-first"},
		// missing variables
		{"nope", "over-write", "constant", "x", "!Variable ['conversation', 'nope'] not found"},
		{"s", "over-write", "variable", ctSrc("missing"), "!Variable ['src', 'missing'] not found"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s %s %s %v", c.target, c.op, c.in, c.value), func(t *testing.T) {
			n := ctAssignerNode(t, map[string]any{"version": "2", "items": []any{ctItem(c.target, c.op, c.in, c.value)}})
			root, pool := ctAssignPool()
			before, _ := root.Vars("conversation")
			res, err := n.exec.Execute(context.Background(), &Exec{Node: n, Pool: pool})
			if msg, ok := c.want.(string); ok && strings.HasPrefix(msg, "!") {
				if err == nil || err.Error() != msg[1:] {
					t.Fatalf("error %v, want %q", err, msg[1:])
				}
				after, _ := root.Vars("conversation")
				ctEqual(t, "variables after a failure", after, before.Map())
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			got, _ := root.Get(Selector{"conversation", c.target})
			ctEqual(t, "new value", got, c.want)
			if _, ok := pool.vars["conversation"]; ok {
				t.Error("the write went to the child pool, not the one holding the variable")
			}
			pv, _ := res.ProcessData.Get(c.target)
			ctEqual(t, "process_data", pv, c.want)
		})
	}
}

func TestAssignerItemsInOrder(t *testing.T) {
	// Later items see earlier ones; a None input skips its item.
	n := ctAssignerNode(t, map[string]any{"version": "2", "items": []any{
		ctItem("i", "+=", "constant", 1),
		ctItem("s", "over-write", "variable", ctSrc("none")),
		ctItem("i", "*=", "constant", 10),
		ctItem("as", "append", "variable", ctSrc("str")),
	}})
	root, pool := ctAssignPool()
	res, err := n.exec.Execute(context.Background(), &Exec{Node: n, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	conv, _ := root.Vars("conversation")
	ctEqual(t, "i", conv.Map()["i"], 60)
	ctEqual(t, "s", conv.Map()["s"], "abc")
	ctEqual(t, "as", conv.Map()["as"], []any{"x", "hello"})
	ctEqual(t, "process_data", res.ProcessData, map[string]any{
		"i": 60, "as": []any{"x", "hello"},
		"__updated_variables": []any{
			map[string]any{"name": "i", "selector": []any{"conversation", "i"}, "value_type": "integer", "new_value": 60},
			map[string]any{"name": "as", "selector": []any{"conversation", "as"}, "value_type": "array[string]", "new_value": []any{"x", "hello"}},
		},
	})
	ctEqual(t, "outputs", res.Outputs, map[string]any{})

	// All or nothing: a failing item leaves every variable as it was.
	n = ctAssignerNode(t, map[string]any{"version": "2", "items": []any{
		ctItem("i", "+=", "constant", 1),
		ctItem("s", "+=", "constant", 1),
	}})
	root, pool = ctAssignPool()
	if _, err := n.exec.Execute(context.Background(), &Exec{Node: n, Pool: pool}); err == nil || errorType(err) != "OperationNotSupportedError" {
		t.Fatalf("error %v (%s)", err, errorType(err))
	}
	conv, _ = root.Vars("conversation")
	ctEqual(t, "i after failure", conv.Map()["i"], 5)
}

func TestAssignerV1(t *testing.T) {
	cases := []struct {
		target, mode string
		input        []string
		want         any
	}{
		{"s", "over-write", ctSrc("str"), "hello"},
		{"as", "append", ctSrc("str"), []any{"x", "hello"}},
		{"i", "clear", nil, 0},
		{"o", "clear", nil, map[string]any{}},
		{"s", "append", ctSrc("str"), `!can only concatenate str (not "list") to str`},
		{"s", "over-write", ctSrc("missing"), "!input value not found"},
		{"nope", "over-write", ctSrc("str"), "!assigned variable not found"},
	}
	for _, c := range cases {
		t.Run(c.target+" "+c.mode, func(t *testing.T) {
			data := map[string]any{"assigned_variable_selector": []string{"conversation", c.target}, "write_mode": c.mode}
			if c.input != nil {
				data["input_variable_selector"] = c.input
			}
			n := ctAssignerNode(t, data)
			root, pool := ctAssignPool()
			res, err := n.exec.Execute(context.Background(), &Exec{Node: n, Pool: pool})
			if msg, ok := c.want.(string); ok && strings.HasPrefix(msg, "!") {
				if err == nil || err.Error() != msg[1:] {
					t.Fatalf("error %v, want %q", err, msg[1:])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := root.Get(Selector{"conversation", c.target})
			ctEqual(t, "new value", got, c.want)
			if up, _ := res.ProcessData.Get("__updated_variables"); len(up.([]any)) != 1 {
				t.Errorf("process_data %v", res.ProcessData)
			}
		})
	}
}

func TestAssignerValidation(t *testing.T) {
	e := New(Config{}, ctRegistry())
	cases := map[string]map[string]any{
		`unknown operation "append-all"`: {"version": "2", "items": []any{ctItem("s", "append-all", "variable", ctSrc("str"))}},
		`input_type must be`:             {"version": "2", "items": []any{ctItem("s", "over-write", "expr", "x")}},
		`needs a variable selector`:      {"version": "2", "items": []any{ctItem("s", "over-write", "variable", "src.str")}},
		`references unknown node "zz"`:   {"version": "2", "items": []any{ctItem("s", "over-write", "variable", []string{"zz", "v"})}},
		`write_mode must be`:             {"assigned_variable_selector": []string{"conversation", "s"}, "write_mode": "merge"},
	}
	for want, data := range cases {
		data["type"], data["title"] = "assigner", "asg"
		doc := ctDoc("advanced-chat", []ctNode{ctStart(), ctConst("src", nil), {ID: "asg", Data: data}}, []ctEdge{ctE("start", "src"), ctE("src", "asg")})
		if _, err := e.Compile(doc); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("compile error %v, want it to mention %q", err, want)
		}
	}
}

// In a run, an assigner inside a loop updates the loop's variables, which
// later rounds and the nodes after the loop see.
func TestAssignerLoopVariablesInRun(t *testing.T) {
	e := New(Config{}, ctRegistry())
	nodes := ctNodes(ctStart(), ctConst("src", []any{"a", "b"}),
		ctLoop("lp", 3, []any{
			map[string]any{"label": "acc", "var_type": "array[string]", "value_type": "constant", "value": "[]"},
			map[string]any{"label": "n", "var_type": "number", "value_type": "constant", "value": 1},
		}, nil, nil),
		ctAssign("asg", "lp",
			map[string]any{"variable_selector": []string{"lp", "acc"}, "input_type": "variable", "operation": "extend", "value": []string{"src", "value"}},
			map[string]any{"variable_selector": []string{"lp", "n"}, "input_type": "constant", "operation": "*=", "value": 2}),
		ctEnd(map[string][]string{"acc": {"lp", "acc"}, "n": {"lp", "n"}}))
	r := ctRun(t, e, ctDoc("workflow", nodes, []ctEdge{ctE("start", "src"), ctE("src", "lp"), ctE("lp", "end"), ctE("lpstart", "asg")}), nil)
	ctEqual(t, "acc", r.output(t, "acc"), []any{"a", "b", "a", "b", "a", "b"})
	ctEqual(t, "n", r.output(t, "n"), 8)
}

// TestAssignerGrowthIsBounded: a loop that extends a list with itself
// doubles it every round; the assigner fails it cleanly (Dify's message
// for a variable over its size limit) long before memory runs out, and
// the run fails with that error.
func TestAssignerGrowthIsBounded(t *testing.T) {
	e := New(Config{}, ctRegistry())
	nodes := ctNodes(ctStart(),
		ctLoop("lp", 100, []any{
			map[string]any{"label": "acc", "var_type": "array[string]", "value_type": "constant", "value": `["a", "b"]`},
		}, nil, nil),
		ctAssign("asg", "lp",
			map[string]any{"variable_selector": []string{"lp", "acc"}, "input_type": "variable", "operation": "extend", "value": []string{"lp", "acc"}}),
		ctEnd(map[string][]string{"acc": {"lp", "acc"}}))
	r := ctRun(t, e, ctDoc("workflow", nodes, []ctEdge{ctE("start", "lp"), ctE("lp", "end"), ctE("lpstart", "asg")}), nil)
	if r.Info.Status != StatusFailed || !strings.Contains(r.Info.Error, fmt.Sprintf("exceeds limit %d", MaxVariableBytes)) {
		t.Fatalf("run %s: %q", r.Info.Status, r.Info.Error)
	}
	for _, ev := range r.Events {
		if ev.Type == EventNodeFinished && ev.Node.NodeID == "asg" && ev.Node.Status == StatusFailed {
			if ev.Node.ErrorType != "VariableError" {
				t.Fatalf("error type %q", ev.Node.ErrorType)
			}
			return
		}
	}
	t.Fatal("no failed assigner execution")
}
