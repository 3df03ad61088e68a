package run

// place puts every declared node in a graph (c.parent, c.children in
// document order) the way Dify's engine finds them: a graph is what its
// root reaches along edges. The top level is what the start node reaches;
// the inside of an iteration or loop is what its start_node_id reaches,
// run by a child engine. Dify never reads parentId, isInIteration/
// iteration_id or isInLoop/loop_id to run a workflow, and exports carry
// stale ones: a node pasted out of a loop keeps isInLoop and loop_id, a
// deleted container leaves them naming nothing.
//
// Those hints only place the nodes no root reaches: nodes Dify never runs
// (pruned with their graph), and the inside of a legacy iteration without
// start_node_id, whose root is found among the nodes the hints put in it.
func (c *compiler) place(doc *Document) {
	specs := doc.Workflow.Graph.Nodes
	out := make(map[string][]string, len(c.nodes))
	for _, es := range doc.Workflow.Graph.Edges {
		src, dst := string(es.Source), string(es.Target)
		if c.nodes[src] != nil && c.nodes[dst] != nil {
			out[src] = append(out[src], dst)
		}
	}
	var queue []string
	claim := func(id, parent string) {
		if _, done := c.parent[id]; !done {
			c.parent[id] = parent
			queue = append(queue, id)
		}
	}
	for i := range specs {
		if id := string(specs[i].ID); c.declared(&specs[i]) && c.nodes[id].Type == "start" {
			claim(id, "")
		}
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, t := range out[id] {
			claim(t, c.parent[id])
		}
		if c.isContainer(id) {
			if start, _ := c.specs[id].Data["start_node_id"].(string); c.nodes[start] != nil {
				claim(start, id)
			}
		}
	}
	for i := range specs {
		spec := &specs[i]
		if !c.declared(spec) {
			continue
		}
		id := string(spec.ID)
		pid, ok := c.parent[id]
		if !ok {
			pid = c.hint(spec)
			c.parent[id] = pid
		}
		c.children[pid] = append(c.children[pid], spec)
	}
}

// declared reports whether spec is the node c.nodes holds under its id
// (not a note, a node without an id, or a duplicate).
func (c *compiler) declared(spec *NodeSpec) bool {
	return c.specs[string(spec.ID)] == spec
}

func (c *compiler) isContainer(id string) bool {
	n := c.nodes[id]
	return n != nil && n.kind != nil && n.kind.Container
}

// hint is the container a node's own keys name, if that container exists:
// parentId, or (older exports) iteration_id or loop_id with its flag set.
func (c *compiler) hint(spec *NodeSpec) string {
	if c.isContainer(string(spec.ParentID)) {
		return string(spec.ParentID)
	}
	for _, m := range legacyParentKeys {
		if inside, _ := spec.Data[m.flag].(bool); inside {
			if id, _ := spec.Data[m.key].(string); c.isContainer(id) {
				return id
			}
		}
	}
	return ""
}

var legacyParentKeys = []struct{ flag, key string }{{"isInIteration", "iteration_id"}, {"isInLoop", "loop_id"}}
