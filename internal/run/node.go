package run

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"
)

// Executor runs one node. It reads its inputs from x.Pool and returns the
// node's result; an error fails the node (see NodeError for error_type).
// Executors must honour ctx: a stopped run or a timed-out node cancels it.
type Executor interface {
	Execute(ctx context.Context, x *Exec) (*Result, error)
}

// ExecutorFunc adapts a function to Executor.
type ExecutorFunc func(ctx context.Context, x *Exec) (*Result, error)

// Execute calls f.
func (f ExecutorFunc) Execute(ctx context.Context, x *Exec) (*Result, error) { return f(ctx, x) }

// Result is what a node produced.
type Result struct {
	Inputs      Vars
	ProcessData Vars
	Outputs     Vars
	// Handle is the source handle whose edges are taken; "" means "source".
	// Branch nodes (if-else, question-classifier) set it.
	Handle   string
	Metadata map[string]any
	// Tokens are LLM tokens used; they add up into the run's total_tokens.
	Tokens int64
	// RetrieverResources are the knowledge chunks an LLM node put in its
	// context (Dify's RunRetrieverResourceEvent), for the chat's
	// retriever_resources: no event shows them.
	RetrieverResources []map[string]any
}

// NodeError is a node failure with a Dify error_type (the Python exception
// class name Dify reports, e.g. "HTTPResponseCodeError").
type NodeError struct {
	Type string
	Err  error
}

func (e *NodeError) Error() string { return e.Err.Error() }
func (e *NodeError) Unwrap() error { return e.Err }

// NodeType describes one node type to a Registry.
type NodeType struct {
	// Name is the DSL's data.type.
	Name string
	// Build compiles a node's data. Problems are reported with b.Errorf.
	Build func(b *Build) (Executor, error)
	// Retry is set for types that honour retry_config (code, http-request,
	// llm, tool in Dify).
	Retry bool
	// Container is set for iteration and loop: their events are
	// iteration_*/loop_* instead of node_*.
	Container bool
	// Silent nodes (iteration-start, loop-start) run without events and do
	// not count as steps.
	Silent bool
}

// Registry maps node type names to their implementations. New node types
// plug in through Register without touching the scheduler.
type Registry struct {
	types map[string]*NodeType
}

// NewRegistry returns a registry holding the built-in node types.
func NewRegistry() *Registry {
	r := &Registry{types: map[string]*NodeType{}}
	for _, t := range builtins() {
		r.Register(t)
	}
	return r
}

// Register adds or replaces a node type.
func (r *Registry) Register(t NodeType) { r.types[t.Name] = &t }

// Types lists the registered type names, sorted.
func (r *Registry) Types() []string { return slices.Sorted(maps.Keys(r.types)) }

func (r *Registry) lookup(name string) (*NodeType, bool) {
	t, ok := r.types[name]
	return t, ok
}

// Build is handed to a NodeType's Build function: it decodes the node's
// data and resolves references once, at load time.
type Build struct {
	// Node is the node being compiled. Its Child graph is compiled before
	// the node itself, so container builders can use it.
	Node *Node
	// Data is the node's raw DSL data.
	Data map[string]any
	c    *compiler
}

// Decode decodes the node's data into v, a pointer to a struct with json
// tags. A failure is reported against the node and returned.
func (b *Build) Decode(v any) error {
	if err := decodeData(b.Data, v); err != nil {
		b.Errorf("invalid config: %v", err)
		return err
	}
	return nil
}

// Errorf reports a problem with the node. Compilation goes on so that every
// problem in the document is reported at once.
func (b *Build) Errorf(format string, args ...any) {
	b.c.problem(b.Node.ID, fmt.Sprintf(format, args...))
}

// Selector checks that sel names a variable: of sys, env, conversation or
// a node of the document. As in Dify, that node need not run before this
// one: the variable of a node that has not run (on a parallel or skipped
// branch, later, inside another container) resolves to none at run time.
// field names the config field in error messages. sel is returned for
// convenience.
func (b *Build) Selector(field string, sel Selector) Selector {
	b.c.checkRef(b.Node, field, sel)
	return sel
}

// Template parses a string with {{#node.var#}} references and checks each
// reference as Selector does.
func (b *Build) Template(field, s string) Template {
	t := ParseTemplate(s)
	for _, sel := range t.Selectors() {
		b.c.checkRef(b.Node, field, sel)
	}
	return t
}

// Jinja parses a Jinja2 template once. A syntax error is reported against
// the node.
func (b *Build) Jinja(field, src string) *Jinja {
	t, err := parseJinja(src, b.c.cfg.Template)
	if err != nil {
		b.Errorf("%s: invalid Jinja2 template: %v", field, err)
		return nil
	}
	return t
}

// Config returns the engine configuration, for limits such as
// LoopMaxCount.
func (b *Build) Config() Config { return b.c.cfg }

// Exec is the runtime context of one node execution.
type Exec struct {
	Node *Node
	Pool *Pool
	// Scope tells where the node runs: inside which iteration or loop round.
	Scope Scope
	run   *runState
	rec   *NodeRun
	// co is the response coordinator of the graph run (nil if the graph
	// has no response node).
	co *coordinator

	// start is a container's pending iteration_started/loop_started event;
	// startOnce makes sure it is emitted exactly once (see Start).
	start     *Event
	startOnce sync.Once
}

// Scope locates a node execution inside containers.
type Scope struct {
	IterationID    string
	IterationIndex int
	LoopID         string
	LoopIndex      int
	// Parallel is the concurrency limit for graphs run in this scope.
	Parallel int
}

// Chunk emits a text_chunk event attributed to sel at once, outside the
// response coordination that orders the text of End and Answer nodes.
func (x *Exec) Chunk(sel Selector, text string) {
	x.run.emit(&Event{Type: EventTextChunk, Chunk: &Chunk{Text: text, Selector: sel, NodeID: x.Node.ID}})
}

// Stream streams a piece of the node's own output variable name while the
// node runs (Dify's StreamChunkEvent with selector [node_id, name], as an
// LLM node does with each delta). Like Dify's response coordinator, the
// engine relays the pieces as text_chunk events, one per piece, in the
// order of the End and Answer nodes of the node's graph: as they arrive
// when the response node reading the variable is streaming and has
// reached it, else buffered until then. A response node reading a
// variable its node streamed does not send its whole value again once the
// node succeeded. Pieces no response node of the graph reads are dropped:
// Dify never shows them.
func (x *Exec) Stream(name, text string) {
	if x.co != nil {
		x.co.stream(x.Node, name, text)
	}
}

// AgentLog emits an agent_log event for the node's execution; the
// engine fills in NodeRunID and NodeID.
func (x *Exec) AgentLog(l AgentLog) {
	l.NodeRunID, l.NodeID = x.rec.ID, x.Node.ID
	x.run.emit(&Event{Type: EventAgentLog, Log: &l})
}

// SetOutputs records the run's outputs (End nodes call it).
func (x *Exec) SetOutputs(vs Vars) { x.run.setOutputs(vs) }

// RunGraph runs a container's child graph in pool with the given scope. It
// returns the error that failed the graph, or ctx's cause.
func (x *Exec) RunGraph(ctx context.Context, g *Graph, pool *Pool, s Scope) error {
	if s.Parallel == 0 {
		s.Parallel = x.Scope.Parallel
	}
	return x.run.runGraph(ctx, g, pool, s)
}

// Start emits a container's iteration_started or loop_started event with
// the inputs and metadata the container resolved before its first round
// (Dify's {"iteration_length": n} or {"loop_length": n}). Only the first
// call counts. A container that never calls Start (one that fails while
// resolving its inputs, or has nothing to iterate) gets the event without
// inputs and metadata just before its completion event. Other node types'
// started events are emitted by the engine, so Start does nothing for them.
func (x *Exec) Start(inputs Vars, metadata map[string]any) {
	x.startOnce.Do(func() {
		if x.start == nil {
			return
		}
		x.start.Node.Inputs, x.start.Node.Metadata = inputs, metadata
		x.run.emit(x.start)
	})
}

// flushStart emits a pending started event that Start has not emitted.
func (x *Exec) flushStart() {
	x.startOnce.Do(func() {
		if x.start != nil {
			x.run.emit(x.start)
		}
	})
}

// Next emits iteration_next or loop_next for round index of this container.
// It emits the container's started event first if Start has not been called.
func (x *Exec) Next(index int) {
	x.flushStart()
	typ := EventIterationNext
	if x.Node.Type == "loop" {
		typ = EventLoopNext
	}
	x.run.emit(&Event{Type: typ, Next: &Next{NodeRunID: x.rec.ID, NodeID: x.Node.ID, NodeType: x.Node.Type, Title: x.Node.Title, Index: index, CreatedAt: x.run.now()}})
}

// Config returns the engine configuration.
func (x *Exec) Config() Config { return x.run.eng.cfg }

// Now returns the engine clock's time.
func (x *Exec) Now() time.Time { return x.run.now() }

// RunID returns the id of the workflow run.
func (x *Exec) RunID() string { return x.run.info.ID }

// sortedVars is a helper for executors that build outputs from a map.
func sortedVars(m map[string]any) Vars {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vs := make(Vars, len(keys))
	for i, k := range keys {
		vs[i] = Var{k, m[k]}
	}
	return vs
}
