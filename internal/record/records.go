package record

import (
	"context"
	"sync"

	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/run"
)

// Records is where a deployment's records go: Memory, Sync or Async,
// chosen once by cmd (WORKFLOW_REPO_MODE).
type Records interface {
	// Write takes the records written outside a run: conversation
	// renames and deletions, conversation variables, feedback.
	repo.Writer
	// Recorder returns the recorder of one run. ctx bounds its writes; it
	// must not be the request's context when records must survive a
	// client that goes away. final, when set, is called at
	// workflow_finished, after the listeners before the recorder saw it;
	// the records it returns are written with the run's last ones, in the
	// same batch (a chat turn's message and conversation commit with its
	// run).
	Recorder(ctx context.Context, src Source, final func() *repo.Batch) Recorder
	// Durable reports whether a run's end promises that its records are
	// written: a recorder's write error is then the client's to know.
	Durable() bool
}

// Recorder writes the records of one run. Pass it to Engine.Run as (part
// of) the listener, and call Wait after the run.
type Recorder interface {
	run.Listener
	// Wait blocks until no write of the run is in flight and returns the
	// first write error, if any.
	Wait() error
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

// InlineFlushRecords bounds how many records an Async recorder holds
// before writing them.
const InlineFlushRecords = 256

// superseded reports events whose record the Memory and Async recorders
// skip: the execution's final version, written in the same batch,
// replaces it.
func superseded(t run.EventType) bool {
	switch t {
	case run.EventNodeStarted, run.EventNodeRetry, run.EventIterationStarted, run.EventLoopStarted:
		return true
	}
	return false
}

// base is what every recorder knows of its run.
type base struct {
	w   repo.Writer
	ctx context.Context // bounds the writes
	// final is called at workflow_finished (see Records.Recorder).
	final func() *repo.Batch
	src   Source
	errs  firstErr
}

// convert returns the records of e, with the final ones at
// workflow_finished.
func (b *base) convert(e *run.Event) *repo.Batch {
	rs := Convert(&b.src, e)
	if e.Type == run.EventWorkflowFinished && b.final != nil {
		rs.Append(b.final())
	}
	return rs
}

// firstErr keeps the first write error of a run.
type firstErr struct {
	mu  sync.Mutex
	err error
}

func (f *firstErr) set(err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstErr) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
