// Package record turns a run's engine events into execution records and
// hands them to a repo.Writer.
//
// A Recorder is a run.Listener for one run. Records are versioned by the
// event's Seq, so a store can apply them in any order and any number of
// times (see package repo). Writes are pipelined: while one batch is being
// written, the records of later events accumulate into the next one, so a
// slow store never adds a round trip per node to the run, and at most one
// write per run is in flight. On workflow_finished the Recorder waits until
// every record of the run is written before it returns, so a listener after
// it (the HTTP response) only sees the end of the run once it is durable.
package record

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/run"
)

// Source describes where a run comes from: the fields of its records that
// the engine does not know.
type Source struct {
	// RunID is the workflow run id (node execution records carry it).
	RunID    string
	TenantID string
	AppID    string
	// WorkflowID and Version identify the workflow that ran.
	WorkflowID string
	Version    string
	// SessionID is the end user's session id (the API's `user`).
	SessionID string
	// TriggeredFrom is Dify's triggered_from ("app-run" for API calls).
	TriggeredFrom string
	// CreatedFrom is Dify's app log created_from ("service-api").
	CreatedFrom string
	// InstanceID is the API instance running the run (its lease id), so
	// the run can be closed if the instance is lost ("" when not tracked).
	InstanceID string
	// Chat marks a chatflow turn: the run's type is "chat", not
	// "workflow".
	Chat bool

	endUser string // EndUserID(AppID, SessionID), derived once
}

// createdBy returns the end-user id of the run, deriving it on first use.
func (src *Source) createdBy() string {
	if src.endUser == "" {
		src.endUser = EndUserID(src.AppID, src.SessionID)
	}
	return src.endUser
}

// logNamespace derives app log and end user ids deterministically, so that a
// replayed record always has the same id.
var logNamespace = uuid.MustParse("6f1b8d4e-3b1e-4c55-9a43-5a0b0d3c9e21")

// EndUserID returns the stable end-user id of a session within an app
// (Dify keeps these in end_users; flowrun derives them).
func EndUserID(appID, sessionID string) string {
	return uuid.NewSHA1(logNamespace, []byte("end-user\x00"+appID+"\x00"+sessionID)).String()
}

// Recorder writes the records of one run. Create it with New, pass it to
// Engine.Run as (part of) the listener, and check Err after the run.
type Recorder struct {
	src Source
	w   repo.Writer
	ctx context.Context
	// inline writes on the caller's goroutine, for writers that only
	// enqueue (memory, async) where a hand-off would cost more than it saves.
	inline bool

	// final is Options.Final.
	final func() *repo.Batch

	// d, when set, takes the run's records lazily (see Deferrer): the
	// recorder keeps events and builds records only when d asks. lazyOnly:
	// d is the writer, nothing is written eagerly.
	d        Deferrer
	lazyOnly bool
	events   []*run.Event
	// size estimates the memory events hold (see run.Sizer); sizer and
	// size are touched only by OnEvent, which the engine serialises.
	sizer run.Sizer
	size  int64

	mu      sync.Mutex
	pending *repo.Batch
	busy    bool
	err     error
	idle    chan struct{} // closed when no write is in flight; replaced when one starts
}

// Options tunes a Recorder.
type Options struct {
	// Inline writes on the caller's goroutine instead of pipelining on
	// another: use it for writers whose Write only buffers or enqueues
	// (memory, async). An inline recorder also coalesces: the run's record
	// is written at workflow_started (so the run is visible while it runs),
	// node executions are written when they finish — together, at
	// workflow_finished, or every InlineFlushRecords records of a long run —
	// and the running versions that those would supersede are not written.
	//
	// If the writer also implements Deferrer, an inline recorder hands it
	// the run's records lazily instead of writing them.
	Inline bool
	// Mirror, when set, also receives the run's records lazily, besides
	// the writer (async mode keeps recent runs in memory this way, for
	// read-your-writes, without converting or indexing records that nobody
	// reads).
	Mirror Deferrer
	// Final, when set, is called at workflow_finished, after the listeners
	// before the recorder saw it; the records it returns are written with
	// the run's last ones, in the same batch (a chat turn's message and
	// conversation commit with its run). A deferring recorder writes them
	// at once.
	Final func() *repo.Batch
}

// Deferrer is a writer that can take a run's records lazily: build returns
// every record of the run so far, and the writer calls it only when it
// needs them (memory.Store, when a reader asks for the run). Defer is
// called when the run starts, then with finished set when it ends; size
// estimates the memory that the events behind build hold (run.Sizer), for
// a writer that bounds what it keeps by bytes.
type Deferrer interface {
	Defer(runID string, finished bool, size int64, build func() *repo.Batch)
}

// InlineFlushRecords bounds how many records an inline recorder holds
// before writing them.
const InlineFlushRecords = 256

// New returns a recorder for one run writing to w. ctx bounds the writes; it
// must not be the request's context when records must survive a client that
// goes away.
func New(ctx context.Context, w repo.Writer, src Source, opt Options) *Recorder {
	idle := make(chan struct{})
	close(idle)
	r := &Recorder{src: src, w: w, ctx: ctx, inline: opt.Inline, idle: idle, final: opt.Final}
	if d, ok := w.(Deferrer); ok && opt.Inline {
		r.d, r.lazyOnly = d, true // build derives the end-user id, if ever
		return r
	}
	r.d = opt.Mirror
	r.src.createdBy()
	return r
}

// OnEvent converts e into records and queues them for writing. For
// workflow_finished it returns only once every record of the run is written
// (or failed: see Err).
func (r *Recorder) OnEvent(e *run.Event) {
	if r.inline && superseded(e.Type) {
		return
	}
	if r.d != nil {
		r.keep(e)
		if r.lazyOnly {
			if e.Type == run.EventWorkflowFinished && r.final != nil {
				r.fail(r.w.Write(r.ctx, r.final()))
			}
			return
		}
	}
	b := Convert(&r.src, e)
	if e.Type == run.EventWorkflowFinished && r.final != nil {
		b.Append(r.final())
	}
	if b.Len() == 0 {
		return
	}
	if r.inline {
		r.coalesce(e, b)
		return
	}
	r.mu.Lock()
	if r.pending == nil {
		r.pending = b
	} else {
		r.pending.Append(b)
	}
	if !r.busy {
		r.busy = true
		r.idle = make(chan struct{})
		go r.flush()
	}
	idle := r.idle
	r.mu.Unlock()
	if e.Type == run.EventWorkflowFinished {
		<-idle
	}
}

// coalesce is OnEvent for an inline recorder (see Options.Inline). It runs
// on the engine's goroutine, which delivers events one at a time.
func (r *Recorder) coalesce(e *run.Event, b *repo.Batch) {
	if r.pending == nil {
		r.pending = &repo.Batch{}
	}
	p := r.pending
	p.Append(b)
	if e.Type != run.EventWorkflowStarted && e.Type != run.EventWorkflowFinished && p.Len() < InlineFlushRecords {
		return
	}
	r.pending = nil
	r.fail(r.w.Write(r.ctx, p))
}

// fail keeps err if it is the first write error.
func (r *Recorder) fail(err error) {
	if err == nil {
		return
	}
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
}

// keep is OnEvent for a deferring recorder.
func (r *Recorder) keep(e *run.Event) {
	if e.Run == nil && e.Node == nil {
		return // no records
	}
	r.size += r.sizer.Event(e)
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	if e.Type == run.EventWorkflowStarted || e.Type == run.EventWorkflowFinished {
		r.d.Defer(e.Run.ID, e.Type == run.EventWorkflowFinished, r.size, r.build)
	}
}

// build converts the events kept so far into records. It may run
// concurrently with OnEvent.
func (r *Recorder) build() *repo.Batch {
	r.mu.Lock()
	r.src.createdBy() // once; later builds read it after this lock
	events := r.events[:len(r.events):len(r.events)]
	r.mu.Unlock()
	b := &repo.Batch{}
	for _, e := range events {
		b.Append(Convert(&r.src, e))
	}
	return b
}

// superseded reports events whose record an inline recorder skips: the
// execution's final version, written in the same batch, replaces it.
func superseded(t run.EventType) bool {
	switch t {
	case run.EventNodeStarted, run.EventNodeRetry, run.EventIterationStarted, run.EventLoopStarted:
		return true
	}
	return false
}

// flush writes pending batches until none is left.
func (r *Recorder) flush() {
	for {
		r.mu.Lock()
		b := r.pending
		r.pending = nil
		if b == nil {
			r.busy = false
			close(r.idle)
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		r.fail(r.w.Write(r.ctx, b))
	}
}

// Wait blocks until no write is in flight and returns Err.
func (r *Recorder) Wait() error {
	r.mu.Lock()
	idle := r.idle
	r.mu.Unlock()
	<-idle
	return r.Err()
}

// Err returns the first write error, if any.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// logID derives a run's app log id: a name-based UUID, so every version of
// the record has the same id. For a time-ordered (version 7) run id, it
// keeps the run id's 48-bit timestamp in front (a version 8 UUID), so app
// log ids are time-ordered too, like the run ids they index.
func logID(runID string) string {
	id := uuid.NewSHA1(logNamespace, []byte("app-log\x00"+runID))
	if rid, err := uuid.Parse(runID); err == nil && rid.Version() == 7 {
		copy(id[:6], rid[:6])
		id[6] = 0x80 | id[6]&0x0f
	}
	return id.String()
}

// Convert returns the records an event produces: a run version for
// workflow_started/finished (plus the app log at start), a node execution
// version for node and container events, nothing for text chunks and
// iteration/loop rounds.
func Convert(src *Source, e *run.Event) *repo.Batch {
	switch {
	case e.Run != nil:
		b := &repo.Batch{Runs: []*repo.WorkflowRun{runRecord(src, e.Run, e.Seq)}}
		if e.Type == run.EventWorkflowStarted {
			b.AppLogs = []*repo.AppLog{{
				ID:            logID(e.Run.ID),
				TenantID:      src.TenantID,
				AppID:         src.AppID,
				WorkflowID:    src.WorkflowID,
				WorkflowRunID: e.Run.ID,
				CreatedFrom:   or(src.CreatedFrom, "service-api"),
				CreatedByRole: repo.RoleEndUser,
				CreatedBy:     src.createdBy(),
				SessionID:     src.SessionID,
				CreatedAt:     e.Run.CreatedAt,
				Seq:           e.Seq,
			}}
		}
		return b
	case e.Node != nil:
		// A retry is an intermediate (non-terminal) version of the same
		// execution record.
		return &repo.Batch{NodeExecutions: []*repo.NodeExecution{nodeRecord(src, e.Node, e.Seq)}}
	}
	return nil
}

func runRecord(src *Source, info *run.RunInfo, seq int64) *repo.WorkflowRun {
	r := &repo.WorkflowRun{
		ID:              info.ID,
		TenantID:        src.TenantID,
		AppID:           src.AppID,
		WorkflowID:      or(src.WorkflowID, info.WorkflowID),
		Type:            runType(src.Chat),
		TriggeredFrom:   or(src.TriggeredFrom, "app-run"),
		Version:         src.Version,
		Inputs:          jsonOf(info.Inputs),
		Status:          repo.Status(info.Status),
		Error:           info.Error,
		ElapsedTime:     seconds(info.Elapsed),
		TotalTokens:     info.TotalTokens,
		TotalSteps:      info.TotalSteps,
		ExceptionsCount: info.ExceptionsCount,
		CreatedByRole:   repo.RoleEndUser,
		CreatedBy:       src.createdBy(),
		SessionID:       src.SessionID,
		CreatedAt:       info.CreatedAt,
		FinishedAt:      info.FinishedAt,
		InstanceID:      src.InstanceID,
		Seq:             seq,
	}
	if info.Status.Terminal() {
		r.Outputs = jsonOf(info.Outputs)
	}
	return r
}

func nodeRecord(src *Source, n *run.NodeRun, seq int64) *repo.NodeExecution {
	rec := &repo.NodeExecution{
		ID:                n.ID,
		TenantID:          src.TenantID,
		AppID:             src.AppID,
		WorkflowID:        src.WorkflowID,
		TriggeredFrom:     "workflow-run",
		WorkflowRunID:     src.RunID,
		Index:             n.Index,
		PredecessorNodeID: n.PredecessorNodeID,
		NodeID:            n.NodeID,
		NodeType:          n.NodeType,
		Title:             n.Title,
		Status:            repo.Status(n.Status),
		Error:             n.Error,
		ElapsedTime:       seconds(n.Elapsed),
		IterationID:       n.IterationID,
		LoopID:            n.LoopID,
		CreatedByRole:     repo.RoleEndUser,
		CreatedBy:         src.createdBy(),
		CreatedAt:         n.CreatedAt,
		FinishedAt:        n.FinishedAt,
		Seq:               seq,
	}
	if n.Status != run.StatusRunning {
		rec.Inputs = jsonOf(n.Inputs)
		rec.ProcessData = jsonOf(n.ProcessData)
		rec.Outputs = jsonOf(n.Outputs)
		if m := n.ExecutionMetadata(); m != nil {
			rec.Metadata = jsonOf(m)
		}
	}
	return rec
}

func jsonOf(v any) json.RawMessage {
	var (
		b   []byte
		err error
	)
	if vs, ok := v.(run.Vars); ok {
		if vs == nil {
			return nil
		}
		// Vars encode themselves: skip reflection and re-compaction.
		b, err = vs.MarshalJSON()
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		// Values come from JSON and the engine's own types; a value that
		// cannot be encoded is recorded as an explanation, never lost
		// silently.
		b, _ = json.Marshal(map[string]string{"error": "unencodable value: " + err.Error()})
	}
	return b
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// runType is Dify's workflow_runs.type.
func runType(chat bool) string {
	if chat {
		return "chat"
	}
	return "workflow"
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
