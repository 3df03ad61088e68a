package run

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Test helpers for the condition, if-else and list-operator tests. Names
// start with "ie" to stay clear of other test helpers in the package.

// ieEngine returns an engine whose registry adds the test node type
// "ie-const": a node whose outputs are its data.values, in key order. It
// puts arbitrary values into the variable pool.
func ieEngine() *Engine {
	reg := NewRegistry()
	reg.Register(NodeType{Name: "ie-const", Build: func(b *Build) (Executor, error) {
		var cfg struct {
			Values map[string]any `json:"values"`
		}
		if err := b.Decode(&cfg); err != nil {
			return nil, err
		}
		out := sortedVars(Normalize(cfg.Values).(map[string]any))
		return ExecutorFunc(func(context.Context, *Exec) (*Result, error) {
			return &Result{Outputs: out}, nil
		}), nil
	}})
	return New(Config{}, reg)
}

// ieDoc assembles a workflow: start → c (ie-const holding the values
// given as a YAML mapping) → n (the node under test, its data given as a
// YAML mapping) → one ie-const node "b_<handle>" per branch handle, on an
// edge with that source handle.
func ieDoc(values, node string, branches ...string) string {
	var b strings.Builder
	b.WriteString(`app: {mode: workflow, name: t}
kind: app
version: 0.3.1
workflow:
  graph:
    nodes:
    - id: start
      data: {type: start, title: Start, variables: []}
    - id: c
      data:
        type: ie-const
        title: Const
        values:
`)
	b.WriteString(ieIndent(values, 10))
	b.WriteString("    - id: n\n      data:\n")
	b.WriteString(ieIndent(node, 8))
	for _, h := range branches {
		fmt.Fprintf(&b, "    - id: b_%s\n      data: {type: ie-const, title: B, values: {}}\n", h)
	}
	b.WriteString("    edges:\n")
	b.WriteString("    - {id: e1, source: start, sourceHandle: source, target: c, targetHandle: target}\n")
	b.WriteString("    - {id: e2, source: c, sourceHandle: source, target: n, targetHandle: target}\n")
	for i, h := range branches {
		fmt.Fprintf(&b, "    - {id: eb%d, source: n, sourceHandle: '%s', target: b_%s, targetHandle: target}\n", i, h, h)
	}
	return b.String()
}

// ieIndent strips the common leading indentation of s and indents every
// non-empty line by n spaces.
func ieIndent(s string, n int) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		ind := len(l) - len(strings.TrimLeft(l, " "))
		if common < 0 || ind < common {
			common = ind
		}
	}
	var b strings.Builder
	pad := strings.Repeat(" ", n)
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		b.WriteString(pad + l[common:] + "\n")
	}
	return b.String()
}

// ieRunResult is what a test run produced.
type ieRunResult struct {
	Info *RunInfo
	// Nodes holds each node's finished record, by node id; nodes that did
	// not run (skipped branches) are absent.
	Nodes map[string]*NodeRun
}

// ieRun compiles and runs doc, failing the test if it does not compile.
func ieRun(t *testing.T, doc string) ieRunResult {
	t.Helper()
	e := ieEngine()
	wf, err := e.Compile([]byte(doc))
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, doc)
	}
	var (
		mu    sync.Mutex
		nodes = map[string]*NodeRun{}
	)
	info := e.Run(context.Background(), wf, Params{RunID: "r"}, ListenerFunc(func(ev *Event) {
		if ev.Type == EventNodeFinished {
			mu.Lock()
			nodes[ev.Node.NodeID] = ev.Node
			mu.Unlock()
		}
	}))
	return ieRunResult{Info: info, Nodes: nodes}
}

// ieNode returns the finished record of node id, failing if it did not run.
func (r ieRunResult) ieNode(t *testing.T, id string) *NodeRun {
	t.Helper()
	n, ok := r.Nodes[id]
	if !ok {
		t.Fatalf("node %s did not run (ran: %v)", id, ieKeys(r.Nodes))
	}
	return n
}

// ieBranches lists the branch nodes (b_<handle>) that ran, as handles.
func (r ieRunResult) ieBranches() []string {
	var out []string
	for _, id := range ieKeys(r.Nodes) {
		if h, ok := strings.CutPrefix(id, "b_"); ok {
			out = append(out, h)
		}
	}
	return out
}

func ieKeys(m map[string]*NodeRun) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ieJSON encodes v as JSON (Vars keep their order), with <, > and &
// unescaped for readable expectations.
func ieJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(b))
}

// ieEqual fails the test unless got and want are deeply equal.
func ieEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

// ieSet compiles conditions without a Build, as BuildConditions does:
// values are normalised and string values parsed as templates.
func ieSet(logical string, conds ...Condition) *ConditionSet {
	cs := &ConditionSet{Logical: logical, Conditions: conds, values: make([]*Template, len(conds))}
	for i := range conds {
		conds[i].Value = Normalize(conds[i].Value)
		if s, ok := conds[i].Value.(string); ok {
			t := ParseTemplate(s)
			cs.values[i] = &t
		}
	}
	return cs
}

// iePool returns a pool holding node "c" with the given variables.
func iePool(vs Vars) *Pool {
	p := NewPool(nil)
	p.Set("c", vs)
	return p
}

// ieFile returns a file mapping as Dify's File.to_dict lays it out.
func ieFile(name, ext, typ string, size int64, extra ...any) map[string]any {
	f := map[string]any{
		"dify_model_identity": "__dify__file__",
		"filename":            name,
		"extension":           ext,
		"type":                typ,
		"size":                size,
		"transfer_method":     "local_file",
		"mime_type":           "application/octet-stream",
		"remote_url":          nil,
		"related_id":          "id-" + name,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		f[extra[i].(string)] = extra[i+1]
	}
	return f
}

// ieReadExample reads examples/<name>.yml.
func ieReadExample(name string) ([]byte, error) {
	return os.ReadFile("../../examples/" + name + ".yml")
}
