package sharedtest

import (
	"fmt"
	"strings"
)

// Graph returns a workflow document (YAML, app mode workflow) with nodes,
// each a flow-style YAML mapping such as
// "{id: a, data: {type: code, title: A}}", and edges, each written
// "src->dst" or "src->dst:handle" (the source handle, "source" when
// omitted). Edges get ids e0, e1, ... in order.
func Graph(nodes []string, edges ...string) string {
	var b strings.Builder
	b.WriteString("app: {mode: workflow, name: t}\nworkflow:\n  graph:\n    nodes:\n")
	for _, n := range nodes {
		b.WriteString("    - " + n + "\n")
	}
	b.WriteString("    edges:\n")
	for i, e := range edges {
		handle := "source"
		if j := strings.Index(e, ":"); j >= 0 {
			e, handle = e[:j], e[j+1:]
		}
		st := strings.SplitN(e, "->", 2)
		fmt.Fprintf(&b, "    - {id: e%d, source: '%s', target: '%s', sourceHandle: '%s'}\n", i, st[0], st[1], handle)
	}
	return b.String()
}
