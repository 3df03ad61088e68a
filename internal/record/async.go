package record

import (
	"context"

	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/run"
)

// AsyncConfig tunes the records of async mode.
type AsyncConfig struct {
	// Mirror, when set, also receives each run's records lazily, besides
	// the writer (async mode keeps recent runs in memory this way, for
	// read-your-writes, without converting or indexing records that nobody
	// reads).
	Mirror Deferrer
	// Durable: the writer's Write returns once the records are safe
	// (ASYNC_ACK=enqueued), so a run's end promises they are.
	Durable bool
}

// Async returns the records of async mode, for a writer whose Write only
// buffers or enqueues: each run's records are written on the engine's
// goroutine, where a hand-off would cost more than it saves, and are
// coalesced. The run's record is written at workflow_started (so the run
// is visible while it runs); node executions are written when they finish
// — together, at workflow_finished, or every InlineFlushRecords records of
// a long run — and the running versions that those would supersede are not
// written.
func Async(w repo.Writer, cfg AsyncConfig) Records { return asyncRecords{w, cfg} }

type asyncRecords struct {
	repo.Writer
	cfg AsyncConfig
}

func (a asyncRecords) Recorder(ctx context.Context, src Source, final func() *repo.Batch) Recorder {
	r := &coalescing{base: base{w: a.Writer, ctx: ctx, final: final, src: src}}
	r.src.createdBy()
	if a.cfg.Mirror != nil {
		r.mirror = &keeper{d: a.cfg.Mirror, src: &r.src}
	}
	return r
}

func (a asyncRecords) Durable() bool { return a.cfg.Durable }

// coalescing is the recorder of async mode. It runs on the engine's
// goroutine, which delivers events one at a time.
type coalescing struct {
	base
	mirror  *keeper // nil without AsyncConfig.Mirror
	pending *repo.Batch
}

func (r *coalescing) OnEvent(e *run.Event) {
	if superseded(e.Type) {
		return
	}
	if r.mirror != nil {
		r.mirror.add(e)
	}
	b := r.convert(e)
	if b.Len() == 0 {
		return
	}
	if r.pending == nil {
		r.pending = &repo.Batch{}
	}
	p := r.pending
	p.Append(b)
	if e.Type != run.EventWorkflowStarted && e.Type != run.EventWorkflowFinished && p.Len() < InlineFlushRecords {
		return
	}
	r.pending = nil
	r.errs.set(r.w.Write(r.ctx, p))
}

// Wait returns at once: coalescing writes on the engine's goroutine.
func (r *coalescing) Wait() error { return r.errs.get() }
