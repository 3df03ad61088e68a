package run

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ErrInvalidDSL is wrapped by every error that rejects a DSL document.
var ErrInvalidDSL = errors.New("invalid workflow DSL")

// Problem is one thing wrong with a DSL document.
type Problem struct {
	// NodeID is the offending node ("" for document-level problems).
	NodeID  string
	Message string
}

func (p Problem) String() string {
	if p.NodeID == "" {
		return p.Message
	}
	return fmt.Sprintf("node %s: %s", p.NodeID, p.Message)
}

// ValidationError lists every problem found while compiling a document.
// It wraps ErrInvalidDSL.
type ValidationError struct {
	Problems []Problem
}

// maxProblemsShown bounds the problems Error lists: a document with
// thousands of broken nodes must not produce a message of megabytes.
const maxProblemsShown = 50

// Error lists the problems, the first maxProblemsShown of them if there
// are more (Problems holds them all).
func (e *ValidationError) Error() string {
	shown := e.Problems[:min(len(e.Problems), maxProblemsShown)]
	parts := make([]string, len(shown), len(shown)+1)
	for i, p := range shown {
		parts[i] = p.String()
	}
	if more := len(e.Problems) - len(shown); more > 0 {
		parts = append(parts, fmt.Sprintf("and %d more problems", more))
	}
	return "invalid workflow: " + strings.Join(parts, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalidDSL) hold.
func (e *ValidationError) Unwrap() error { return ErrInvalidDSL }

// Workflow is a compiled, immutable workflow, safe to run concurrently any
// number of times.
type Workflow struct {
	// Doc is the parsed document (app info, features, start variables).
	Doc *Document
	// Graph is the top-level graph; its root is the start node.
	Graph *Graph
	// Inputs are the start node's variables.
	Inputs []InputVar
	env    Vars
	// conv holds the initial values of conversation variables (chatflow).
	conv Vars
	// secretEnv names the environment variables of type secret.
	secretEnv []string
	start     *Node
	// history is HistoryLimit.
	history int
}

// Graph is a compiled graph: the top level of a workflow or the inside of an
// iteration or loop.
type Graph struct {
	Root  *Node
	Nodes []*Node
	Edges []*Edge
	// Parent is the container that owns this graph (nil at top level).
	Parent *Node
	// resp plans the streaming of its End and Answer nodes (nil if none).
	resp *respPlan
}

// Node is a compiled node.
type Node struct {
	ID    string
	Type  string
	Title string
	// Child is the inner graph of a container node.
	Child *Graph
	// Graph is the graph this node belongs to.
	Graph *Graph

	exec          Executor
	kind          *NodeType
	in, out       []*Edge
	idx           int
	retry         retryConfig
	errorStrategy string
	defaults      Vars
}

// Edge is a compiled edge.
type Edge struct {
	ID     string
	Source *Node
	Target *Node
	Handle string
	idx    int
}

type retryConfig struct {
	MaxRetries    int
	RetryInterval int64 // milliseconds
	RetryEnabled  bool
}

// UnmarshalJSON reads retry_config as Dify's pydantic model does: a field
// left out keeps its default, and numbers and booleans may be written as
// strings ('3', '1000', 'true'); see laxInt and laxBool.
func (r *retryConfig) UnmarshalJSON(b []byte) error {
	var raw map[string]any
	if err := decodeJSON(b, &raw); err != nil {
		return err
	}
	*r = retryConfig{}
	for _, f := range []struct {
		name string
		set  func(any) error
	}{
		{"max_retries", func(v any) error { n, err := laxInt(v); r.MaxRetries = int(n); return err }},
		{"retry_interval", func(v any) (err error) { r.RetryInterval, err = laxInt(v); return err }},
		{"retry_enabled", func(v any) (err error) { r.RetryEnabled, err = laxBool(v); return err }},
	} {
		v, ok := raw[f.name]
		if !ok {
			continue
		}
		if err := f.set(v); err != nil {
			return fmt.Errorf("retry_config.%s: %w", f.name, err)
		}
	}
	return nil
}

// commonData are the BaseNodeData fields every node may carry.
type commonData struct {
	Title         string         `json:"title"`
	ErrorStrategy string         `json:"error_strategy"`
	DefaultValue  []defaultValue `json:"default_value"`
	RetryConfig   *retryConfig   `json:"retry_config"`
}

// commonOf reads the common fields of the usual node, which has a string
// title, maybe a string error_strategy, and no default_value or
// retry_config, without a JSON round trip. Anything else (ok false) is
// left to decodeData, whose errors are the ones reported.
func commonOf(data map[string]any) (c commonData, ok bool) {
	if jsonField(data, "default_value") != nil || jsonField(data, "retry_config") != nil {
		return c, false
	}
	var okTitle, okStrategy bool
	c.Title, okTitle = optString(jsonField(data, "title"))
	c.ErrorStrategy, okStrategy = optString(jsonField(data, "error_strategy"))
	return c, okTitle && okStrategy
}

func optString(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	}
	return "", false
}

type defaultValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// compiler holds the state of one compilation. Every step is linear in the
// size of the document (up to a log factor): nothing walks the whole
// document once per node or per container.
type compiler struct {
	cfg      Config
	reg      *Registry
	problems []Problem
	// reported holds the ids of the nodes with a problem.
	reported map[string]bool
	nodes    map[string]*Node
	specs    map[string]*NodeSpec
	// parent is the id of each node's container ("" at top level).
	parent map[string]string
	// children lists each graph's node specs in document order, by
	// container id; edgesOf the indices of the edges that reach into it.
	children map[string][]*NodeSpec
	edgesOf  map[string][]int
	// history is the largest memory window a node declared.
	history int
}

func (c *compiler) problem(nodeID, msg string) {
	c.problems = append(c.problems, Problem{NodeID: nodeID, Message: msg})
	c.reported[nodeID] = true
}

// Compile parses and validates a DSL document (YAML or JSON) into a
// Workflow. Every problem found is reported at once in a *ValidationError.
func (e *Engine) Compile(data []byte) (*Workflow, error) {
	doc, err := parseDocument(data, e.cfg.Document)
	if err != nil {
		return nil, err
	}
	return e.CompileDocument(doc)
}

// CompileDocument compiles an already parsed document. A graph over the
// engine's DocLimits is refused with a *LimitError.
func (e *Engine) CompileDocument(doc *Document) (wf *Workflow, err error) {
	if err := e.cfg.Document.checkGraph(len(doc.Workflow.Graph.Nodes), len(doc.Workflow.Graph.Edges)); err != nil {
		return nil, err
	}
	defer func() {
		// A builder bug must not take the process down: report it.
		if r := recover(); r != nil {
			wf, err = nil, &ValidationError{Problems: []Problem{{Message: fmt.Sprintf("internal error compiling workflow: %v", r)}}}
		}
	}()
	c := &compiler{
		cfg: e.cfg, reg: e.reg, reported: map[string]bool{},
		nodes: map[string]*Node{}, specs: map[string]*NodeSpec{}, parent: map[string]string{},
		children: map[string][]*NodeSpec{}, edgesOf: map[string][]int{},
	}
	wf = &Workflow{Doc: doc}
	if doc.App.Mode != "workflow" && doc.App.Mode != "advanced-chat" {
		c.problem("", fmt.Sprintf("app mode %q is not a workflow", doc.App.Mode))
	}
	for _, ev := range doc.Workflow.EnvironmentVariables {
		if ev.Name == "" {
			c.problem("", "environment variable without a name")
			continue
		}
		wf.env = append(wf.env, Var{ev.Name, envValue(ev)})
		if ev.ValueType == "secret" {
			wf.secretEnv = append(wf.secretEnv, ev.Name)
		}
	}
	for _, cv := range doc.Workflow.ConversationVariables {
		if cv.Name == "" {
			c.problem("", "conversation variable without a name")
			continue
		}
		wf.conv = append(wf.conv, Var{cv.Name, Normalize(cv.Value)})
	}
	c.declare(doc)
	c.place(doc)
	if err := c.checkNesting(); err != nil {
		return nil, err
	}
	c.indexEdges(doc)
	top := c.graph(doc, nil)
	wf.Graph = top
	if top != nil {
		wf.start = top.Root
	}
	c.build(top)
	if len(c.problems) == 0 {
		planResponses(top, func(id string) bool { _, ok := c.nodes[id]; return ok })
	}
	if wf.Chat() {
		wf.history = c.history
	}
	if wf.start != nil {
		if s, ok := wf.start.exec.(*startNode); ok {
			wf.Inputs = s.vars
		}
	}
	if len(c.problems) > 0 {
		sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].NodeID < c.problems[j].NodeID })
		return nil, &ValidationError{Problems: c.problems}
	}
	return wf, nil
}

// envValue is a declared environment variable's value. Secrets never come
// from the document (Dify exports them empty; a value left in a file is
// ignored): deployments supply them through Params.Env.
func envValue(ev EnvVarSpec) any {
	if ev.ValueType == "secret" {
		return ""
	}
	if ev.ValueType == "number" {
		if s, ok := ev.Value.(string); ok {
			if v, err := coerceNumber(s); err == nil {
				return v
			}
		}
	}
	return ev.Value
}

// declare creates a Node for every non-note node and checks node types.
func (c *compiler) declare(doc *Document) {
	unsupported := map[string][]string{}
	for i := range doc.Workflow.Graph.Nodes {
		spec := &doc.Workflow.Graph.Nodes[i]
		if spec.Type == "custom-note" {
			continue
		}
		id := string(spec.ID)
		if id == "" {
			c.problem("", fmt.Sprintf("node #%d has no id", i+1))
			continue
		}
		if _, dup := c.nodes[id]; dup {
			c.problem(id, "duplicate node id")
			continue
		}
		typ, _ := spec.Data["type"].(string)
		common, ok := commonOf(spec.Data)
		if !ok {
			if err := decodeData(spec.Data, &common); err != nil {
				c.problem(id, fmt.Sprintf("invalid config: %v", err))
			}
		}
		n := &Node{ID: id, Type: typ, Title: common.Title, errorStrategy: common.ErrorStrategy}
		if common.RetryConfig != nil {
			n.retry = *common.RetryConfig
		}
		kind, ok := c.reg.lookup(typ)
		switch {
		case typ == "":
			c.problem(id, "node has no type")
		case !ok:
			unsupported[typ] = append(unsupported[typ], id)
		default:
			n.kind = kind
		}
		switch n.errorStrategy {
		case "", "none", "fail-branch":
		case "default-value":
			n.defaults = c.defaults(id, common.DefaultValue)
		default:
			c.problem(id, fmt.Sprintf("unknown error_strategy %q", n.errorStrategy))
		}
		c.nodes[id] = n
		c.specs[id] = spec
	}
	for _, typ := range slices.Sorted(mapKeys(unsupported)) {
		ids := unsupported[typ]
		c.problem(ids[0], fmt.Sprintf("node type %q is not supported (nodes: %s)", typ, strings.Join(ids, ", ")))
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (c *compiler) defaults(id string, dvs []defaultValue) Vars {
	var out Vars
	for _, dv := range dvs {
		v := dv.Value
		if s, ok := v.(string); ok && dv.Type != "string" {
			parsed, err := parseJSONValue(s)
			if err != nil {
				c.problem(id, fmt.Sprintf("default_value %q: value is not valid %s", dv.Key, dv.Type))
				continue
			}
			v = parsed
		}
		out = append(out, Var{dv.Key, Normalize(v)})
	}
	return out
}

// checkNesting refuses containers nested more than DocLimits.MaxDepth
// deep: compiling and checking references walk up through the containers
// around a node. Each node's depth is computed once, so this is linear.
// A parent chain that loops back is not followed round again (such nodes
// never form a graph and are reported otherwise).
func (c *compiler) checkNesting() error {
	limit := c.cfg.Document.MaxDepth
	depth := make(map[string]int, len(c.parent))
	onPath := map[string]bool{}
	var chain []string
	for id := range c.parent {
		chain = chain[:0]
		d, p := 0, id
		for {
			if known, ok := depth[p]; ok {
				d = known
				break
			}
			pp, ok := c.parent[p]
			if !ok || pp == "" || onPath[p] {
				break // top level, an unknown container, or a loop
			}
			onPath[p] = true
			chain = append(chain, p)
			p = pp
		}
		for i := len(chain) - 1; i >= 0; i-- {
			d++
			depth[chain[i]] = d
			delete(onPath, chain[i])
			if d > limit {
				return &LimitError{Limit: LimitDepth, Max: limit,
					What: fmt.Sprintf("node %s is nested in more than %d containers", chain[i], limit)}
			}
		}
	}
	return nil
}

// indexEdges files every edge under the graphs it reaches into: those of
// its two ends, or of its one known end, or the top level when neither end
// exists.
func (c *compiler) indexEdges(doc *Document) {
	for i, es := range doc.Workflow.Graph.Edges {
		src, sok := c.parent[string(es.Source)]
		dst, dok := c.parent[string(es.Target)]
		switch {
		case sok && dok:
			c.edgesOf[src] = append(c.edgesOf[src], i)
			if dst != src {
				c.edgesOf[dst] = append(c.edgesOf[dst], i)
			}
		case sok:
			c.edgesOf[src] = append(c.edgesOf[src], i)
		case dok:
			c.edgesOf[dst] = append(c.edgesOf[dst], i)
		default:
			c.edgesOf[""] = append(c.edgesOf[""], i)
		}
	}
}

// graph assembles the nodes whose parent is container (nil: top level) and
// the edges among them, finds the root and checks for cycles.
func (c *compiler) graph(doc *Document, container *Node) *Graph {
	g := &Graph{Parent: container}
	parentID := ""
	if container != nil {
		parentID = container.ID
	}
	for _, spec := range c.children[parentID] {
		n := c.nodes[string(spec.ID)]
		n.Graph = g
		g.Nodes = append(g.Nodes, n)
	}
	for _, i := range c.edgesOf[parentID] {
		es := doc.Workflow.Graph.Edges[i]
		src, sok := c.nodes[string(es.Source)]
		dst, dok := c.nodes[string(es.Target)]
		if !sok {
			c.problem("", fmt.Sprintf("edge %s: source node %q does not exist", es.ID, es.Source))
		}
		if !dok {
			c.problem("", fmt.Sprintf("edge %s: target node %q does not exist", es.ID, es.Target))
		}
		if !sok || !dok {
			continue
		}
		if src.Graph != dst.Graph {
			c.problem(dst.ID, fmt.Sprintf("edge %s crosses a container boundary (from %s)", es.ID, src.ID))
			continue
		}
		handle := string(es.SourceHandle)
		if handle == "" {
			handle = "source"
		}
		e := &Edge{ID: string(es.ID), Source: src, Target: dst, Handle: handle, idx: len(g.Edges)}
		g.Edges = append(g.Edges, e)
		src.out = append(src.out, e)
		dst.in = append(dst.in, e)
	}
	g.Root = c.root(g, container)
	if g.Root == nil {
		return g
	}
	c.prune(g)
	c.acyclic(g)
	for _, n := range g.Nodes {
		if n.kind != nil && n.kind.Container {
			n.Child = c.graph(doc, n)
		}
	}
	return g
}

// root finds the start node of g.
func (c *compiler) root(g *Graph, container *Node) *Node {
	if container == nil {
		var starts []*Node
		for _, n := range g.Nodes {
			if n.Type == "start" {
				starts = append(starts, n)
			}
		}
		switch len(starts) {
		case 0:
			c.problem("", "workflow has no start node")
			return nil
		case 1:
			if len(starts[0].in) > 0 {
				c.problem(starts[0].ID, "start node has incoming edges")
			}
			return starts[0]
		default:
			ids := make([]string, len(starts))
			for i, s := range starts {
				ids[i] = s.ID
			}
			c.problem("", fmt.Sprintf("workflow has %d start nodes (%s); exactly one is allowed", len(starts), strings.Join(ids, ", ")))
			return nil
		}
	}
	startID, _ := c.specs[container.ID].Data["start_node_id"].(string)
	if n, ok := c.nodes[startID]; ok && n.Graph == g {
		return n
	}
	// Legacy iteration without start_node_id: the inner node with no
	// incoming edge.
	var heads []*Node
	for _, n := range g.Nodes {
		if len(n.in) == 0 {
			heads = append(heads, n)
		}
	}
	if len(heads) == 1 {
		return heads[0]
	}
	if len(g.Nodes) == 0 {
		c.problem(container.ID, fmt.Sprintf("%s has no inner nodes", container.Type))
	} else {
		c.problem(container.ID, fmt.Sprintf("%s start_node_id %q does not name one of its inner nodes", container.Type, startID))
	}
	return nil
}

// prune drops nodes that cannot be reached from the root: Dify never runs
// them, and left in place they would hold up joins forever.
func (c *compiler) prune(g *Graph) {
	seen := map[*Node]bool{g.Root: true}
	stack := []*Node{g.Root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, e := range n.out {
			if !seen[e.Target] {
				seen[e.Target] = true
				stack = append(stack, e.Target)
			}
		}
	}
	keep := g.Nodes[:0]
	for _, n := range g.Nodes {
		if seen[n] {
			n.idx = len(keep)
			keep = append(keep, n)
		} else {
			n.Graph = nil
		}
	}
	g.Nodes = keep
	edges := g.Edges[:0]
	for _, e := range g.Edges {
		if seen[e.Source] {
			e.idx = len(edges)
			edges = append(edges, e)
		}
	}
	g.Edges = edges
	for _, n := range g.Nodes {
		n.in = slices.DeleteFunc(n.in, func(e *Edge) bool { return !seen[e.Source] })
	}
}

// acyclic reports cycles (Kahn's algorithm), and records g's nodes in
// topological order when it has none.
func (c *compiler) acyclic(g *Graph) bool {
	indeg := make([]int, len(g.Nodes))
	for _, n := range g.Nodes {
		indeg[n.idx] = len(n.in)
	}
	order := make([]*Node, 0, len(g.Nodes))
	queue := []*Node{g.Root}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		order = append(order, n)
		for _, e := range n.out {
			indeg[e.Target.idx]--
			if indeg[e.Target.idx] == 0 {
				queue = append(queue, e.Target)
			}
		}
	}
	if len(order) != len(g.Nodes) {
		var ids []string
		for _, n := range g.Nodes {
			if indeg[n.idx] > 0 {
				ids = append(ids, n.ID)
			}
		}
		where := "the workflow"
		if g.Parent != nil {
			where = g.Parent.Type + " " + g.Parent.ID
		}
		c.problem(ids[0], fmt.Sprintf("cycle in %s through nodes %s", where, strings.Join(ids, ", ")))
		return false
	}
	return true
}

// checkRef validates that n may read sel.
func (c *compiler) checkRef(n *Node, field string, sel Selector) {
	if len(sel) == 0 {
		c.problem(n.ID, fmt.Sprintf("%s: empty variable selector", field))
		return
	}
	if len(sel) < 2 {
		c.problem(n.ID, fmt.Sprintf("%s: variable selector %v needs a node id and a variable name", field, []string(sel)))
		return
	}
	switch sel[0] {
	case "sys", "env", "conversation":
		return
	}
	if _, ok := c.nodes[sel[0]]; !ok {
		c.problem(n.ID, fmt.Sprintf("%s: references unknown node %q", field, sel[0]))
	}
}

// build runs each node type's builder, children before their container.
func (c *compiler) build(g *Graph) {
	if g == nil {
		return
	}
	for _, n := range g.Nodes {
		if n.Child != nil {
			c.build(n.Child)
		}
		if n.kind == nil {
			continue
		}
		b := &Build{Node: n, Data: c.specs[n.ID].Data, c: c}
		ex, err := n.kind.Build(b)
		if err != nil {
			if !c.reported[n.ID] {
				c.problem(n.ID, err.Error())
			}
			continue
		}
		n.exec = ex
	}
}
