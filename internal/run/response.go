package run

import (
	"slices"
	"strconv"
	"strings"
)

// This file plans, at load time, what Dify's response coordinator
// (api/core/workflow/graph_engine/response_coordinator, 1.9+) needs to
// order a graph's streamed text; coordinator.go runs it.
//
// Answer and End nodes are response nodes. Each has a streaming template
// of literal and variable segments: an Answer's text, or an End's outputs
// joined by "\n". Dify starts a response node's session once, on some
// path from the graph's root to it, every edge that leaves a branch
// (if-else, question-classifier, a fail-branch node), a container
// (iteration, loop), another response node, or an assigner writing a
// variable the template reads, has been taken. It finds those paths by
// enumerating them, which is exponential in the worst case. The plan
// uses an equivalent that is linear: an edge is taken only after its
// source ran, and every node that ran is joined to the root by taken
// edges, so a response node is reachable that way exactly when it can be
// reached from the root, or from the target of a taken edge, through
// edges that wait for nothing ("free" edges). Which edges are free
// depends on the response node only through assigners; response nodes
// blocked by the same assigners share an activation group, and the
// coordinator keeps one reachability bit per node and group.

// respPlan is the response coordination of one graph.
type respPlan struct {
	// nodes are the graph's response nodes sorted by id, the order in
	// which Dify's newer releases start sessions that become ready
	// together (1.12.1 iterates a Python set).
	nodes []respNode
	// at maps a node's index in the graph to its index in nodes, or -1.
	at []int32
	// block marks the nodes whose outgoing edges wait to be taken for
	// every response node: branches, containers and response nodes.
	block []bool
	// stops marks, per 64 groups (one word of bits), the nodes whose
	// outgoing edges also wait for the groups of the bits set: the
	// assigners. Nil when there is only the group of response nodes no
	// assigner blocks.
	stops [][]uint64
	// groups counts the activation groups; group 0 is blocked by no
	// assigner.
	groups int
	// lazy is set when some response node is not active from the start,
	// so the coordinator must track reachability.
	lazy bool
	// streams are the variables, [node of the graph, name], that a
	// template reads whole: a node streams them through Exec.Stream.
	streams []streamRef
	// byNode lists the streams of each node by its index in the graph
	// (nil when there are no streams).
	byNode [][]int32
}

// respNode is one response node of a plan.
type respNode struct {
	node *Node
	segs []respSeg
	// group is the node's activation group.
	group int
	// initial is set when the root reaches the node through free edges:
	// its session starts when the first edge of the graph is taken.
	initial bool
}

// respSeg is one segment of a response node's streaming template.
type respSeg struct {
	// sel is the variable read, or [response_id, "answer"] for literal
	// text (lit set), the selector Dify reports for it.
	sel  Selector
	lit  bool
	text string
	// from is the node a chunk of the segment is attributed to: the
	// response node for literal text and for sys, env and conversation
	// variables, else the node the variable belongs to.
	from string
	// src is the index in the graph of the node sel names, or -1 when it
	// is not a node of this graph (its skipping is not seen here).
	src int
	// stream indexes respPlan.streams, or is -1.
	stream int
}

// streamRef names a variable a node of the graph may stream.
type streamRef struct {
	node int
	name string
}

// responseNode is implemented by the executors of response nodes.
type responseNode interface {
	// template returns the node's streaming template.
	template(id string) []respSeg
}

// outputBlocker is implemented by executors that make a response node
// wait for them when they write a variable its template reads (Dify's
// Node.blocks_variable_output: the variable assigners).
type outputBlocker interface {
	// writes lists the selectors the node assigns.
	writes() []Selector
}

// branchTypes are the node types Dify runs as branches (NodeExecutionType
// BRANCH) among those flowrun knows; nodes with error_strategy
// fail-branch are branches too.
var branchTypes = map[string]bool{"if-else": true, "question-classifier": true}

func (a *answerNode) template(id string) []respSeg {
	segs := make([]respSeg, 0, len(a.tpl.parts))
	for _, p := range a.tpl.parts {
		if p.sel == nil {
			segs = append(segs, textSeg(id, p.lit))
		} else {
			segs = append(segs, respSeg{sel: p.sel})
		}
	}
	return segs
}

// template is Dify's Template.from_end_outputs: the outputs' variables
// separated by "\n", an output without a selector leaving only its
// separator, and a trailing separator dropped.
func (e *endNode) template(id string) []respSeg {
	var segs []respSeg
	for i, o := range e.outputs {
		if i > 0 {
			segs = append(segs, textSeg(id, "\n"))
		}
		if len(o.ValueSelector) > 0 {
			segs = append(segs, respSeg{sel: o.ValueSelector})
		}
	}
	if n := len(segs); n > 0 && segs[n-1].lit {
		segs = segs[:n-1]
	}
	return segs
}

func textSeg(id, text string) respSeg {
	return respSeg{sel: Selector{id, "answer"}, lit: true, text: text, from: id, src: -1, stream: -1}
}

func (a *assignerNode) writes() []Selector {
	out := make([]Selector, len(a.items))
	for i, it := range a.items {
		out[i] = it.VariableSelector
	}
	return out
}

func (a *assignerV1) writes() []Selector { return []Selector{a.assigned} }

// planResponses plans every graph of the workflow whose top graph is g;
// isNode tells the ids of the workflow's nodes (at any depth).
func planResponses(g *Graph, isNode func(string) bool) {
	if g == nil {
		return
	}
	for _, n := range g.Nodes {
		planResponses(n.Child, isNode)
	}
	g.resp = newRespPlan(g, isNode)
}

// newRespPlan plans g, or returns nil when g has no response node.
func newRespPlan(g *Graph, isNode func(string) bool) *respPlan {
	p := &respPlan{}
	for _, n := range g.Nodes {
		if r, ok := n.exec.(responseNode); ok {
			p.nodes = append(p.nodes, respNode{node: n, segs: r.template(n.ID)})
		}
	}
	if len(p.nodes) == 0 {
		return nil
	}
	slices.SortFunc(p.nodes, func(a, b respNode) int { return strings.Compare(a.node.ID, b.node.ID) })
	p.at = make([]int32, len(g.Nodes))
	for i := range p.at {
		p.at[i] = -1
	}
	p.block = make([]bool, len(g.Nodes))
	for _, n := range g.Nodes {
		_, resp := n.exec.(responseNode)
		p.block[n.idx] = resp || branchTypes[n.Type] || n.errorStrategy == "fail-branch" || (n.kind != nil && n.kind.Container)
	}

	inGraph := make(map[string]int, len(g.Nodes))
	for _, n := range g.Nodes {
		inGraph[n.ID] = n.idx
	}
	streams := map[string]int{}
	// writers maps "node\x00name" to the assigners of g writing it.
	writers := map[string][]int{}
	for _, n := range g.Nodes {
		if w, ok := n.exec.(outputBlocker); ok {
			for _, sel := range w.writes() {
				k := strings.Join(sel, "\x00")
				if !slices.Contains(writers[k], n.idx) {
					writers[k] = append(writers[k], n.idx)
				}
			}
		}
	}
	groups := map[string]int{"": 0}
	var stopSets [][]int
	stopSets = append(stopSets, nil)
	for i := range p.nodes {
		r := &p.nodes[i]
		p.at[r.node.idx] = int32(i)
		var stops []int
		for j := range r.segs {
			s := &r.segs[j]
			if s.lit {
				continue
			}
			s.src, s.stream = -1, -1
			s.from = r.node.ID
			if isNode(s.sel[0]) {
				s.from = s.sel[0]
			}
			if len(s.sel) < 2 {
				continue
			}
			key := s.sel[0] + "\x00" + s.sel[1]
			for _, w := range writers[key] {
				if !slices.Contains(stops, w) {
					stops = append(stops, w)
				}
			}
			idx, ok := inGraph[s.sel[0]]
			if !ok {
				continue
			}
			s.src = idx
			if len(s.sel) != 2 {
				continue
			}
			k, ok := streams[key]
			if !ok {
				k = len(p.streams)
				streams[key] = k
				p.streams = append(p.streams, streamRef{node: idx, name: s.sel[1]})
			}
			s.stream = k
		}
		slices.Sort(stops)
		gk := fmtInts(stops)
		grp, ok := groups[gk]
		if !ok {
			grp = len(stopSets)
			groups[gk] = grp
			stopSets = append(stopSets, stops)
		}
		r.group = grp
	}
	p.groups = len(stopSets)
	if p.groups > 1 {
		words := (p.groups + 63) / 64
		p.stops = make([][]uint64, words)
		for w := range p.stops {
			p.stops[w] = make([]uint64, len(g.Nodes))
		}
		for grp, stops := range stopSets {
			for _, idx := range stops {
				p.stops[grp/64][idx] |= 1 << (grp % 64)
			}
		}
	}
	if len(p.streams) > 0 {
		p.byNode = make([][]int32, len(g.Nodes))
		for k, s := range p.streams {
			p.byNode[s.node] = append(p.byNode[s.node], int32(k))
		}
	}

	// The response nodes the root reaches through free edges start at
	// the first taken edge; the others need the coordinator to follow
	// the edges taken.
	var reach reach
	reach.init(p, g)
	for w := range reach.ok {
		reach.add(w, g.Root.idx, reach.all(w), nil)
	}
	for i := range p.nodes {
		r := &p.nodes[i]
		r.initial = reach.has(r.group, r.node.idx)
		p.lazy = p.lazy || !r.initial
	}
	return p
}

// fmtInts is a map key for a set of node indices.
func fmtInts(xs []int) string {
	var b strings.Builder
	for _, x := range xs {
		b.WriteString(strconv.Itoa(x))
		b.WriteByte(',')
	}
	return b.String()
}

// reach is the set of nodes each activation group reaches from the root
// and from the targets of taken edges through free edges: one bit per
// group and node, 64 groups to a word.
type reach struct {
	p     *respPlan
	g     *Graph
	ok    [][]uint64
	stack []reachItem

	okBuf    [1][]uint64
	stackBuf [8]reachItem
}

type reachItem struct {
	node int
	bits uint64
}

// init prepares r for p's graph g, with no node reached.
func (r *reach) init(p *respPlan, g *Graph) {
	r.p, r.g = p, g
	if words := (p.groups + 63) / 64; words <= len(r.okBuf) {
		r.ok = r.okBuf[:words]
	} else {
		r.ok = make([][]uint64, words)
	}
	for w := range r.ok {
		r.ok[w] = make([]uint64, len(g.Nodes))
	}
	r.stack = r.stackBuf[:0]
}

// all is the mask of every group of word w.
func (r *reach) all(w int) uint64 {
	if n := r.p.groups - 64*w; n < 64 {
		return 1<<n - 1
	}
	return ^uint64(0)
}

func (r *reach) has(group, node int) bool {
	return r.ok[group/64][node]&(1<<(group%64)) != 0
}

// add marks node reached for the groups of bits (word w) and spreads the
// new bits along free edges, appending to found (when not nil) the index
// in the plan of each response node that gets its own group's bit.
func (r *reach) add(w, node int, bits uint64, found *[]int) {
	ok := r.ok[w]
	push := func(n int, bits uint64) {
		if nb := bits &^ ok[n]; nb != 0 {
			ok[n] |= nb
			r.stack = append(r.stack, reachItem{n, nb})
		}
	}
	push(node, bits)
	for len(r.stack) > 0 {
		it := r.stack[len(r.stack)-1]
		r.stack = r.stack[:len(r.stack)-1]
		if i := r.p.at[it.node]; i >= 0 {
			if grp := r.p.nodes[i].group; found != nil && grp/64 == w && it.bits&(1<<(grp%64)) != 0 {
				*found = append(*found, int(i))
			}
		}
		if r.p.block[it.node] {
			continue
		}
		pass := it.bits
		if r.p.stops != nil {
			pass &^= r.p.stops[w][it.node]
		}
		if pass == 0 {
			continue
		}
		for _, e := range r.g.Nodes[it.node].out {
			push(e.Target.idx, pass)
		}
	}
}
