package run

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Defaults, as in Dify (WORKFLOW_MAX_EXECUTION_TIME, WORKFLOW_MAX_EXECUTION_STEPS,
// GRAPH_ENGINE_MAX_WORKERS, LOOP_NODE_MAX_COUNT).
const (
	DefaultTimeout      = 1200 * time.Second
	DefaultMaxSteps     = 500
	DefaultMaxParallel  = 10
	DefaultLoopMaxCount = 100
)

// Errors that end a run. They are context causes: cancel a run's context
// with ErrStopped to stop it.
var (
	// ErrStopped stops a run: it ends with status "stopped".
	ErrStopped = errors.New("Stopped by user.") //nolint:staticcheck // Dify's exact message
	// ErrTimeout is the cause when the whole-run timeout expires.
	ErrTimeout = errors.New("workflow run timed out")
	// ErrMaxSteps is the cause when a run would execute more than MaxSteps
	// nodes, counting the nodes inside iterations and loops.
	ErrMaxSteps = errors.New("max steps reached")
)

// Config tunes an Engine. Zero values take the defaults noted per field.
type Config struct {
	// MaxParallel bounds how many nodes of one graph run at once
	// (default 10).
	MaxParallel int
	// MaxSteps bounds node executions per run (default 500), counted as
	// total_steps counts them: every node execution, inside iterations and
	// loops too, except the silent iteration-start and loop-start nodes.
	MaxSteps int
	// Timeout bounds a whole run (default 1200 s).
	Timeout time.Duration
	// NodeTimeout bounds one node execution (default: none beyond Timeout).
	// Iteration and loop containers are exempt: the nodes they run are
	// bounded one by one.
	NodeTimeout time.Duration
	// LoopMaxCount caps loop_count (default 100).
	LoopMaxCount int
	// Document bounds the DSL documents Compile accepts (see DocLimits).
	Document DocLimits
	// Template bounds each Jinja2 render (defaults: see TemplateLimits).
	Template TemplateLimits
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// NewID returns a fresh node execution id (default: NewID).
	NewID func() string
	// Logger receives node panics with their stack (default slog.Default()).
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.MaxParallel = cmp.Or(c.MaxParallel, DefaultMaxParallel)
	c.MaxSteps = cmp.Or(c.MaxSteps, DefaultMaxSteps)
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.LoopMaxCount = cmp.Or(c.LoopMaxCount, DefaultLoopMaxCount)
	c.Document = c.Document.withDefaults()
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.NewID == nil {
		c.NewID = NewID
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func init() { uuid.EnableRandPool() }

// NewID returns a fresh time-ordered (version 7) UUID. Ids made close in
// time sort close together, so PostgreSQL's indexes on them take inserts
// at their right edge instead of dirtying a random page each: less WAL
// (fewer full-page images after a checkpoint) and fewer pages to cache.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// Engine compiles and runs workflows. It holds no per-run state and is safe
// for concurrent use.
type Engine struct {
	cfg Config
	reg *Registry
}

// New returns an engine using reg (nil: NewRegistry()).
func New(cfg Config, reg *Registry) *Engine {
	if reg == nil {
		reg = NewRegistry()
	}
	return &Engine{cfg: cfg.withDefaults(), reg: reg}
}

// Params identifies a run and carries its validated inputs.
type Params struct {
	RunID      string
	TaskID     string
	WorkflowID string
	AppID      string
	UserID     string
	// Inputs are the user inputs as returned by Workflow.PrepareInputs.
	Inputs Vars
	// Files become sys.files.
	Files []any
	// Query is the user's message for chatflow (advanced-chat) apps:
	// sys.query, as Dify's chat API supplies it. Workflow apps have no
	// sys.query.
	Query string
	// Conversation is the conversation of a chatflow turn (nil: a chatflow
	// run outside any conversation, as the first turn of a new one with
	// an empty id). Workflow apps ignore it.
	Conversation *Conversation
	// Env supplies values of the DSL's environment variables by name,
	// replacing the document's. Secret variables get their value only from
	// here; wherever a secret's value appears in an event (and so in a
	// record), it is replaced by "******".
	Env map[string]string
}

// Run executes wf and returns the final state of the run. Events go to l
// (which may be nil) in order, the last one always workflow_finished. Run
// returns when every node it started has returned. Cancel ctx with cause
// ErrStopped to stop the run.
func (e *Engine) Run(ctx context.Context, wf *Workflow, p Params, l Listener) *RunInfo {
	rs := &runState{eng: e, wf: wf, listener: l, secrets: wf.secretValues(p.Env)}
	now := rs.now()
	rs.info = RunInfo{
		ID: p.RunID, TaskID: p.TaskID, WorkflowID: p.WorkflowID, AppID: p.AppID, UserID: p.UserID,
		Status: StatusRunning, CreatedAt: now,
	}
	files := p.Files
	if files == nil {
		files = []any{}
	}
	sys := Vars{
		{"files", files}, {"user_id", p.UserID}, {"app_id", p.AppID},
		{"workflow_id", p.WorkflowID}, {"workflow_run_id", p.RunID},
	}
	// What workflow_started reports of sys: Dify leaves out sys.timestamp
	// (workflow apps) and sys.conversation_id (chatflows).
	shown := len(sys)
	if wf.Chat() {
		conv := p.Conversation
		if conv == nil {
			conv = &Conversation{Turn: 1}
		}
		rs.conv = conv
		// Dify sets no sys.timestamp in a chatflow.
		sys = append(sys, Var{"query", p.Query}, Var{"dialogue_count", conv.Turn}, Var{"conversation_id", conv.ID})
		shown += 2
	} else {
		sys = append(sys, Var{"timestamp", now.Unix()})
	}
	inputs := make(Vars, 0, len(p.Inputs)+shown)
	inputs = append(inputs, p.Inputs...)
	for _, v := range sys[:shown] {
		inputs = append(inputs, Var{"sys." + v.Name, v.Value})
	}
	rs.info.Inputs = inputs

	pool := NewPool(nil)
	pool.Set("sys", sys)
	pool.Set("env", wf.envVars(p.Env))
	if wf.conv != nil {
		pool.Set("conversation", wf.convVars(rs.conv))
	}
	pool.Set(startInputsKey, p.Inputs)

	started := rs.info
	started.Inputs = rs.redactVars(started.Inputs)
	rs.emit(&Event{Type: EventWorkflowStarted, Run: &started})

	// One context ends the run for every limit: the timeout, and max steps
	// (rs.abort) from whatever graph or container hits it.
	ctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	rs.abort = abort
	timeout := time.AfterFunc(e.cfg.Timeout, func() { abort(ErrTimeout) })
	defer timeout.Stop()
	err := rs.runGraph(ctx, wf.Graph, pool, Scope{Parallel: e.cfg.MaxParallel})

	fin := rs.now()
	info := &rs.info
	info.FinishedAt = fin
	info.Elapsed = fin.Sub(info.CreatedAt)
	info.TotalTokens = rs.tokens.Load()
	info.TotalSteps = rs.steps.Load()
	info.ExceptionsCount = rs.exceptions.Load()
	rs.outMu.Lock()
	info.Outputs = rs.outputs
	rs.outMu.Unlock()
	if wf.conv != nil {
		info.ConversationVars, _ = pool.Vars("conversation")
	}
	switch {
	case err == nil && info.ExceptionsCount > 0:
		info.Status = StatusPartialSucceeded
	case err == nil:
		info.Status = StatusSucceeded
	case errors.Is(err, ErrStopped):
		info.Status, info.Error = StatusStopped, ErrStopped.Error()
	case errors.Is(err, ErrTimeout), errors.Is(err, ErrMaxSteps):
		info.Status, info.Error = StatusFailed, rs.limitMessage(err)
	default:
		info.Status, info.Error = StatusFailed, err.Error()
	}
	if info.Status != StatusSucceeded && info.Status != StatusPartialSucceeded && info.Outputs == nil {
		info.Outputs = Vars{}
	}
	final := *info
	final.Inputs, final.Outputs, final.Error = rs.redactVars(final.Inputs), rs.redactVars(final.Outputs), rs.redactString(final.Error)
	rs.emit(&Event{Type: EventWorkflowFinished, Run: &final})
	return &final
}

// startInputsKey holds the validated user inputs in the pool, where the
// start node picks them up.
const startInputsKey = "\x00inputs"

func (wf *Workflow) envVars(override map[string]string) Vars {
	if len(override) == 0 {
		return wf.env
	}
	out := make(Vars, len(wf.env))
	for i, v := range wf.env {
		out[i] = v
		if s, ok := override[v.Name]; ok {
			out[i].Value = s
		}
	}
	return out
}

// runState is the mutable state of one run.
type runState struct {
	eng      *Engine
	wf       *Workflow
	listener Listener
	info     RunInfo
	// conv is the chatflow turn's conversation (nil for workflow apps).
	conv *Conversation
	// secrets are the run's non-empty secret values, longest first.
	secrets []string

	emitMu sync.Mutex
	seq    int64

	index      atomic.Int64
	steps      atomic.Int64
	tokens     atomic.Int64
	exceptions atomic.Int64
	// abort cancels the run's context with a cause (ErrTimeout,
	// ErrMaxSteps).
	abort context.CancelCauseFunc

	outMu   sync.Mutex
	outputs Vars
}

func (rs *runState) now() time.Time { return rs.eng.cfg.Clock() }

// emit delivers e to the listener. The lock gives every event a place in
// one total order even when nodes run concurrently.
func (rs *runState) emit(e *Event) {
	if len(rs.secrets) > 0 {
		rs.redactEvent(e)
	}
	rs.emitMu.Lock()
	rs.seq++
	e.Seq = rs.seq
	if rs.listener != nil {
		rs.listener.OnEvent(e)
	}
	rs.emitMu.Unlock()
}

func (rs *runState) setOutputs(vs Vars) {
	rs.outMu.Lock()
	defer rs.outMu.Unlock()
	if rs.outputs == nil {
		rs.outputs = vs
		return
	}
	for _, v := range vs {
		rs.outputs = rs.outputs.With(v.Name, v.Value)
	}
}

type edgeState uint8

const (
	edgePending edgeState = iota
	edgeTaken
	edgeSkipped
)

// done is a finished node execution reported to the scheduler.
type done struct {
	node   *Node
	handle string
	err    error // the graph fails with it
	// ok is set when the node succeeded (not for an exception handled
	// by its error strategy).
	ok bool
	// finish is the node's node_finished (or container completion)
	// event, which the scheduler emits after the text the node's end
	// released; nil for silent nodes.
	finish *Event
}

// runGraph is the ready-queue scheduler. A node is ready once every
// incoming edge is resolved and at least one was taken; when all were
// skipped the node is skipped and so are its outgoing edges. Ready nodes
// run concurrently up to s.Parallel; with one ready node and none running,
// it runs on the scheduler's own goroutine, which keeps chains cheap.
func (rs *runState) runGraph(ctx context.Context, g *Graph, pool *Pool, s Scope) error {
	// The graph's own cancellable context (to stop the other branches when
	// one fails) is created only when a node first runs on another
	// goroutine: a sequential graph never needs it.
	gc := graphCtx{parent: ctx}
	defer gc.stop(nil)

	edges := make([]edgeState, len(g.Edges))
	pending := make([]int, len(g.Nodes))
	taken := make([]int, len(g.Nodes))
	preds := make([]string, len(g.Nodes))
	for _, n := range g.Nodes {
		pending[n.idx] = len(n.in)
	}
	ready := make([]*Node, 0, 4)
	ready = append(ready, g.Root)
	var results chan done
	running := 0
	var failed error
	// co orders the text of the graph's response nodes.
	co := rs.newCoordinator(g, pool)

	var skip func(n *Node)
	resolve := func(e *Edge, st edgeState) {
		edges[e.idx] = st
		t := e.Target.idx
		pending[t]--
		if st == edgeTaken {
			taken[t]++
			if preds[t] == "" {
				preds[t] = e.Source.ID
			}
		}
		if pending[t] == 0 {
			if taken[t] > 0 {
				ready = append(ready, e.Target)
			} else {
				skip(e.Target)
			}
		}
	}
	skip = func(n *Node) {
		if co != nil {
			co.skip(n)
		}
		for _, e := range n.out {
			resolve(e, edgeSkipped)
		}
	}
	// finish resolves a node's outgoing edges and emits its finished
	// event. As in Dify, the text its end released comes first, except
	// for a container, whose completion Dify reports before the node
	// success that releases the text.
	finish := func(d done) {
		if d.finish != nil && (d.err != nil || d.node.kind.Container) {
			rs.emit(d.finish)
			d.finish = nil
		}
		if d.err != nil {
			if failed == nil {
				failed = d.err
				gc.stop(d.err)
			}
			return
		}
		handle := cmp.Or(d.handle, "source")
		for _, e := range d.node.out {
			if e.Handle == handle {
				resolve(e, edgeTaken)
				if co != nil {
					co.take(e)
				}
			} else {
				resolve(e, edgeSkipped)
			}
		}
		if co != nil {
			co.done(d.node, d.ok, failed == nil)
		}
		if d.finish != nil {
			rs.emit(d.finish)
		}
	}

	for {
		for len(ready) > 0 && running < s.Parallel && failed == nil && ctx.Err() == nil {
			n := ready[0]
			ready = ready[1:]
			if !n.kind.Silent && !rs.step() {
				failed = ErrMaxSteps
				break
			}
			pred := preds[n.idx]
			if len(ready) == 0 && running == 0 {
				finish(rs.execNode(ctx, n, pool, s, pred, co))
				continue
			}
			if gc.cancel == nil {
				ctx = gc.detach()
				results = make(chan done, len(g.Nodes))
			}
			running++
			go func() { results <- rs.execNode(ctx, n, pool, s, pred, co) }()
		}
		if running == 0 {
			break
		}
		d := <-results
		running--
		finish(d)
	}
	if failed != nil {
		return failed
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// step counts one node execution toward Config.MaxSteps. Steps are counted
// per run, in every graph of it (iterations and loops included), exactly
// as total_steps reports them. Past the limit the node does not run, the
// step is not counted and the whole run is aborted with ErrMaxSteps: its
// other branches and enclosing containers end as they would on a timeout.
func (rs *runState) step() bool {
	if rs.steps.Add(1) <= int64(rs.eng.cfg.MaxSteps) {
		return true
	}
	rs.steps.Add(-1)
	rs.abort(ErrMaxSteps)
	return false
}

// limitMessage is the error of a run (or of a node cancelled with it) that
// hit a run limit, in the words of Dify's ExecutionLimitsLayer.
func (rs *runState) limitMessage(cause error) string {
	cfg := &rs.eng.cfg
	switch {
	case errors.Is(cause, ErrMaxSteps):
		return fmt.Sprintf("Maximum execution steps exceeded: %d > %d", cfg.MaxSteps+1, cfg.MaxSteps)
	case errors.Is(cause, ErrTimeout):
		elapsed := rs.now().Sub(rs.info.CreatedAt).Seconds()
		return fmt.Sprintf("Maximum execution time exceeded: %.2fs > %ss", elapsed, strconv.FormatFloat(cfg.Timeout.Seconds(), 'f', -1, 64))
	default:
		return cause.Error()
	}
}

// graphCtx lazily derives a graph run's cancellable context.
type graphCtx struct {
	parent context.Context
	cancel context.CancelCauseFunc
}

// detach returns the cancellable context, creating it on first use.
func (g *graphCtx) detach() context.Context {
	ctx, cancel := context.WithCancelCause(g.parent)
	g.cancel = cancel
	return ctx
}

// stop cancels the graph's context, if it was created.
func (g *graphCtx) stop(err error) {
	if g.cancel != nil {
		g.cancel(err)
	}
}

// execNode runs one node with retries, error strategy and panic recovery,
// emitting its events but the last, which it returns for the scheduler
// to emit. co is the coordinator of the node's graph run (nil if none).
func (rs *runState) execNode(ctx context.Context, n *Node, pool *Pool, s Scope, pred string, co *coordinator) done {
	cfg := &rs.eng.cfg
	x := &Exec{Node: n, Pool: pool, Scope: s, run: rs, co: co}
	if n.kind.Silent {
		res, err := rs.call(ctx, n, x)
		if err != nil {
			return done{node: n, err: err}
		}
		if res != nil {
			pool.Set(n.ID, res.Outputs)
		}
		return done{node: n, ok: true}
	}
	rec := &NodeRun{
		ID: cfg.NewID(), NodeID: n.ID, NodeType: n.Type, Title: n.Title,
		Index: rs.index.Add(1), PredecessorNodeID: pred, Status: StatusRunning, CreatedAt: rs.now(),
		IterationID: s.IterationID, IterationIndex: s.IterationIndex, LoopID: s.LoopID, LoopIndex: s.LoopIndex,
	}
	x.rec = rec
	startType, finishType := EventNodeStarted, EventNodeFinished
	switch n.Type {
	case "iteration":
		startType, finishType = EventIterationStarted, EventIterationCompleted
	case "loop":
		startType, finishType = EventLoopStarted, EventLoopCompleted
	}
	started := *rec
	if n.kind.Container {
		// Containers report their inputs and metadata on the started
		// event, which they emit through Exec.Start once resolved.
		x.start = &Event{Type: startType, Node: &started}
	} else {
		rs.emit(&Event{Type: startType, Node: &started})
	}

	var (
		res *Result
		err error
	)
	for attempt := 0; ; attempt++ {
		res, err = rs.call(ctx, n, x)
		if err == nil || !n.kind.Retry || !n.retry.RetryEnabled || attempt >= n.retry.MaxRetries || ctx.Err() != nil {
			break
		}
		retry := *rec
		fillResult(&retry, res)
		retry.Status, retry.Error, retry.ErrorType, retry.RetryIndex = StatusRetry, err.Error(), errorType(err), attempt+1
		retry.FinishedAt = rs.now()
		retry.Elapsed = retry.FinishedAt.Sub(retry.CreatedAt)
		rs.emit(&Event{Type: EventNodeRetry, Node: &retry})
		if !sleepCtx(ctx, time.Duration(n.retry.RetryInterval)*time.Millisecond) {
			err = context.Cause(ctx)
			break
		}
	}

	x.flushStart()
	fillResult(rec, res)
	rec.FinishedAt = rs.now()
	rec.Elapsed = rec.FinishedAt.Sub(rec.CreatedAt)
	d := done{node: n}
	switch {
	case err == nil:
		rec.Status = StatusSucceeded
		d.handle, d.ok = res.Handle, true
	case ctx.Err() != nil && errors.Is(context.Cause(ctx), ErrStopped):
		rec.Status, rec.Error = StatusStopped, ErrStopped.Error()
		d.err = context.Cause(ctx)
	case ctx.Err() != nil:
		// Cancelled because the run failed elsewhere, timed out or hit
		// max steps: the node fails with the run's cause. Its error
		// strategy does not apply, since the run is ending anyway.
		rec.Status, rec.Error = StatusFailed, rs.limitMessage(context.Cause(ctx))
		d.err = context.Cause(ctx)
	case n.errorStrategy == "fail-branch" || n.errorStrategy == "default-value":
		rec.Status, rec.Error, rec.ErrorType = StatusException, err.Error(), errorType(err)
		outs := Vars{{"error_message", err.Error()}, {"error_type", rec.ErrorType}}
		if n.errorStrategy == "default-value" {
			outs = append(append(Vars{}, n.defaults...), outs...)
		} else {
			d.handle = "fail-branch"
		}
		rec.Outputs = outs
		rec.Metadata = withKey(rec.Metadata, "error_strategy", n.errorStrategy)
		rs.exceptions.Add(1)
	default:
		rec.Status, rec.Error, rec.ErrorType = StatusFailed, err.Error(), errorType(err)
		d.err = err
	}
	if rec.Status == StatusSucceeded || rec.Status == StatusException {
		pool.Set(n.ID, rec.Outputs)
	}
	rs.tokens.Add(rec.Tokens)
	d.finish = &Event{Type: finishType, Node: rec}
	return d
}

func fillResult(rec *NodeRun, res *Result) {
	if res == nil {
		return
	}
	rec.Inputs, rec.ProcessData, rec.Outputs = res.Inputs, res.ProcessData, res.Outputs
	rec.Metadata, rec.Tokens = res.Metadata, res.Tokens
	rec.RetrieverResources = res.RetrieverResources
}

func withKey(m map[string]any, k string, v any) map[string]any {
	if m == nil {
		m = make(map[string]any, 1)
	}
	m[k] = v
	return m
}

// ErrNodeTimeout is the error of a node that exceeded Config.NodeTimeout.
var ErrNodeTimeout = errors.New("node execution timed out")

// call runs the executor once, turning a panic into an error and applying
// the node timeout.
func (rs *runState) call(ctx context.Context, n *Node, x *Exec) (res *Result, err error) {
	if t := rs.eng.cfg.NodeTimeout; t > 0 && !n.kind.Container {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, t, fmt.Errorf("%w after %s", ErrNodeTimeout, t))
		defer cancel()
	}
	defer func() {
		if r := recover(); r != nil {
			rs.eng.cfg.Logger.Error("node panicked", "run_id", rs.info.ID, "node_id", n.ID, "node_type", n.Type, "panic", r, "stack", string(debug.Stack()))
			res, err = nil, &NodeError{Type: "PanicError", Err: fmt.Errorf("node panicked: %v", r)}
		}
	}()
	res, err = n.exec.Execute(ctx, x)
	if err == nil && res == nil {
		res = &Result{}
	}
	if err != nil && ctx.Err() != nil && errors.Is(context.Cause(ctx), ErrNodeTimeout) {
		err = &NodeError{Type: "TimeoutError", Err: context.Cause(ctx)}
	}
	return res, err
}

func errorType(err error) string {
	var ne *NodeError
	if errors.As(err, &ne) && ne.Type != "" {
		return ne.Type
	}
	return "WorkflowNodeError"
}

// sleepCtx waits for d or until ctx is done; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
