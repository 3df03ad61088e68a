package sharedtest

import (
	"encoding/json"
	"fmt"
)

// Node is a node of a workflow document: its id and its data.
type Node struct {
	ID   string
	Data map[string]any
}

// Chain returns a workflow document in JSON (which YAML reads too), an
// app in workflow mode named name, whose nodes run one after another:
// edges e1, e2, ... lead from each node to the next. It panics if a
// node's data cannot be marshalled.
func Chain(name string, nodes ...Node) []byte {
	var ns, es []any
	for i, n := range nodes {
		ns = append(ns, map[string]any{"id": n.ID, "data": n.Data})
		if i > 0 {
			es = append(es, map[string]any{"id": fmt.Sprintf("e%d", i), "source": nodes[i-1].ID, "target": n.ID, "sourceHandle": "source"})
		}
	}
	b, err := json.Marshal(map[string]any{
		"app": map[string]any{"mode": "workflow", "name": name}, "kind": "app", "version": "0.3.1",
		"workflow": map[string]any{"graph": map[string]any{"nodes": ns, "edges": es}},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// Start is a start node (id start) declaring vars.
func Start(vars ...map[string]any) Node {
	if vars == nil {
		vars = []map[string]any{}
	}
	return Node{ID: "start", Data: map[string]any{"type": "start", "title": "Start", "variables": vars}}
}

// Input is an optional variable of a start node, named name, of type typ
// (text-input, paragraph, number, file, file-list...).
func Input(name, typ string) map[string]any {
	return map[string]any{"variable": name, "label": name, "type": typ, "required": false}
}

// End is an end node (id end) whose outputs are the outputs names of node
// from, under the same names.
func End(from string, names ...string) Node {
	outs := []any{}
	for _, n := range names {
		outs = append(outs, map[string]any{"variable": n, "value_selector": []any{from, n}})
	}
	return Node{ID: "end", Data: map[string]any{"type": "end", "title": "End", "outputs": outs}}
}
