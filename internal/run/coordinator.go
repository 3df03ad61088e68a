package run

import (
	"slices"
	"sync"
)

// coordinator is Dify's ResponseStreamCoordinator for one run of a graph
// (the top level, or one round of an iteration or loop): it decides when
// the text of the graph's response nodes goes out as text_chunk events.
//
// One session per response node; a session starts once its node becomes
// reachable (see response.go), and runs at once if no other session is
// active, else queues. The active session emits its template's segments
// in order: literal text at once; a variable its node streams chunk by
// chunk as the pieces arrive (and, once the node succeeded, nothing
// more); any other variable once, in markdown form, when the pool holds
// it; a variable of a skipped node not at all. When it reaches a segment
// whose value is not there yet it waits, and every later trigger (a
// streamed piece, a node's success, a session starting) tries again.
//
// Like Dify's, the read position of a stream is shared: a streamed
// variable that a template reads twice, or that two response nodes read,
// goes out once, to the first segment that reads it.
type coordinator struct {
	rs   *runState
	p    *respPlan
	g    *Graph
	pool *Pool

	// mu orders the chunks: they are emitted while it is held.
	mu sync.Mutex
	// started is set once the graph took its first edge.
	started bool
	// unstarted marks the sessions that have not started.
	unstarted []bool
	// active is the index in p.nodes of the active session (-1: none);
	// pos is its next segment.
	active, pos int
	queue       []int
	skipped     []bool
	bufs        []streamBuf
	// reach is set when some session does not start with the graph's
	// first edge.
	reach *reach
	found []int

	// skips and took collect, for done, the nodes a node's end skipped
	// and the edges it took; only the scheduler's goroutine uses them.
	skips []*Node
	took  []*Edge

	// Small graphs need no allocations beyond the coordinator's own.
	waitBuf  [4]bool
	foundBuf [4]int
	skipsBuf [4]*Node
	tookBuf  [4]*Edge
}

// streamBuf holds the pieces of one streamed variable not yet emitted.
type streamBuf struct {
	pieces []string
	// used is set once a piece arrived; closed once its node succeeded
	// after streaming (Dify's final chunk); ended once its node ended
	// some other way, an exception an error strategy handled.
	used, closed, ended bool
}

// newCoordinator returns the coordinator of a run of g, or nil when g has
// no response node.
func (rs *runState) newCoordinator(g *Graph, pool *Pool) *coordinator {
	p := g.resp
	if p == nil {
		return nil
	}
	c := &coordinator{rs: rs, p: p, g: g, pool: pool, active: -1}
	if n := len(p.nodes); n <= len(c.waitBuf) {
		c.unstarted = c.waitBuf[:n]
	} else {
		c.unstarted = make([]bool, n)
	}
	for i := range c.unstarted {
		c.unstarted[i] = true
	}
	c.found, c.skips, c.took = c.foundBuf[:0], c.skipsBuf[:0], c.tookBuf[:0]
	return c
}

// skip records that the end of the node being finished skipped n.
func (c *coordinator) skip(n *Node) { c.skips = append(c.skips, n) }

// take records that the node being finished took e.
func (c *coordinator) take(e *Edge) { c.took = append(c.took, e) }

// stream takes a piece of variable name that node n streams.
func (c *coordinator) stream(n *Node, name, text string) {
	if c.p.byNode == nil {
		return
	}
	k := -1
	for _, s := range c.p.byNode[n.idx] {
		if c.p.streams[s].name == name {
			k = int(s)
			break
		}
	}
	if k < 0 {
		return // no template reads it: Dify never shows it
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bufs == nil {
		c.bufs = make([]streamBuf, len(c.p.streams))
	}
	b := &c.bufs[k]
	b.used = true
	b.pieces = append(b.pieces, text)
	c.flush()
}

// done handles node n's end as Dify's event handler does: for a success,
// its streams close and the active session moves on; then the nodes its
// end skipped (skip) are marked, and each edge it took (take) may start
// sessions. Exceptions handled by an error strategy are not successes:
// their values are picked up at the next trigger. With ok false (the
// graph is failing) it only forgets what was recorded.
func (c *coordinator) done(n *Node, succeeded, ok bool) {
	skipped, taken := c.skips, c.took
	c.skips, c.took = c.skips[:0], c.took[:0]
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bufs != nil {
		for _, k := range c.p.byNode[n.idx] {
			if b := &c.bufs[k]; b.used {
				b.closed, b.ended = succeeded, !succeeded
			}
		}
	}
	if succeeded {
		c.flush()
	}
	if len(skipped) > 0 {
		if c.skipped == nil {
			c.skipped = make([]bool, len(c.g.Nodes))
		}
		for _, s := range skipped {
			c.skipped[s.idx] = true
		}
	}
	for _, e := range taken {
		c.edgeTaken(e)
	}
}

// edgeTaken starts, in id order, the sessions of the response nodes that
// taking e made reachable.
func (c *coordinator) edgeTaken(e *Edge) {
	found := c.found[:0]
	if !c.started {
		c.started = true
		for i := range c.p.nodes {
			if c.p.nodes[i].initial {
				found = append(found, i)
			}
		}
		if c.p.lazy {
			c.reach = &reach{}
			c.reach.init(c.p, c.g)
			for w := range c.reach.ok {
				c.reach.add(w, c.g.Root.idx, c.reach.all(w), nil)
			}
		}
	}
	if c.reach != nil {
		for w := range c.reach.ok {
			c.reach.add(w, e.Target.idx, c.reach.all(w), &found)
		}
	}
	if len(found) > 1 {
		slices.Sort(found)
	}
	for _, i := range found {
		if !c.unstarted[i] {
			continue
		}
		c.unstarted[i] = false
		if c.active < 0 {
			c.active, c.pos = i, 0
			c.flush()
		} else {
			c.queue = append(c.queue, i)
		}
	}
	c.found = found[:0]
}

// flush emits what the active session can, ending sessions that are
// complete and going on with the next queued one.
func (c *coordinator) flush() {
	for c.active >= 0 {
		segs := c.p.nodes[c.active].segs
		for c.pos < len(segs) {
			s := &segs[c.pos]
			switch {
			case s.lit:
				c.emit(s, s.text)
			case s.src >= 0 && c.skipped != nil && c.skipped[s.src]:
			case !c.variable(s):
				return
			}
			c.pos++
		}
		c.active = -1
		if len(c.queue) > 0 {
			c.active, c.pos = c.queue[0], 0
			c.queue = c.queue[1:]
		}
	}
}

// variable emits what is available of a variable segment and reports
// whether the segment is complete: its stream closed, or its value is in
// the pool.
func (c *coordinator) variable(s *respSeg) bool {
	if s.stream >= 0 && c.bufs != nil {
		b := &c.bufs[s.stream]
		for _, t := range b.pieces {
			c.emit(s, t)
		}
		clear(b.pieces)
		b.pieces = b.pieces[:0]
		if b.closed {
			return true
		}
		if b.used && !b.ended {
			// The node may have written its value to the pool before
			// its end reached done: the value is what it streamed, so
			// wait for the stream to close rather than show it twice.
			return false
		}
	}
	v, ok := c.pool.Get(s.sel)
	if ok {
		c.emit(s, Markdown(v))
	}
	return ok
}

func (c *coordinator) emit(s *respSeg, text string) {
	c.rs.emit(&Event{Type: EventTextChunk, Chunk: &Chunk{Text: text, Selector: s.sel, NodeID: s.from}})
}
