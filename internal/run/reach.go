package run

// refCheck is a variable reference whose check waits for resolveRefs:
// does from run before to, both in one acyclic graph? problem is the
// index of the problem reported if it does not.
type refCheck struct {
	problem  int
	from, to *Node
}

// resolveRefs answers every pending refCheck and drops the problems of the
// references that hold.
//
// "from runs before to" means from reaches to in their graph. Computing
// every node's ancestors costs time and memory quadratic in the graph's
// size (a 4,000-node chain took seconds and hundreds of MB). Instead, for
// each graph, the distinct nodes referenced are numbered and taken 64 at a
// time: one pass in topological order spreads a 64-bit mask of the
// referenced nodes that reach each node along the edges. That is
// O((nodes + edges) · referenced / 64) time and one word per node, and a
// typical graph, which references fewer than 64 distinct nodes through
// such checks (references to the start node, to an enclosing container or
// to a direct predecessor never get here), takes a single pass.
func (c *compiler) resolveRefs() {
	if len(c.refs) == 0 {
		return
	}
	byGraph := map[*Graph][]int{}
	for i, r := range c.refs {
		byGraph[r.from.Graph] = append(byGraph[r.from.Graph], i)
	}
	holds := make([]bool, len(c.problems))
	for g, checks := range byGraph {
		column := map[*Node]int{}
		var targets []*Node
		for _, i := range checks {
			if _, ok := column[c.refs[i].from]; !ok {
				column[c.refs[i].from] = len(targets)
				targets = append(targets, c.refs[i].from)
			}
		}
		// Checks grouped by the 64-target batch of their target.
		batches := make([][]int, (len(targets)+63)/64)
		for _, i := range checks {
			b := column[c.refs[i].from] / 64
			batches[b] = append(batches[b], i)
		}
		order := c.topo[g]
		mask := make([]uint64, len(g.Nodes))
		for b, batch := range batches {
			clear(mask)
			for j, t := range targets[b*64 : min(b*64+64, len(targets))] {
				mask[t.idx] |= 1 << j
			}
			for _, n := range order {
				if m := mask[n.idx]; m != 0 {
					for _, e := range n.out {
						mask[e.Target.idx] |= m
					}
				}
			}
			for _, i := range batch {
				r := c.refs[i]
				bit := uint64(1) << (column[r.from] % 64)
				// from's own bit is set at from: to != from, so a bit at
				// to came along a path.
				holds[r.problem] = mask[r.to.idx]&bit != 0
			}
		}
	}
	kept := c.problems[:0]
	for i, p := range c.problems {
		if !holds[i] {
			kept = append(kept, p)
		}
	}
	c.problems = kept
}
