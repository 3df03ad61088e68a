package record

import (
	"context"

	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/run"
)

// Store is a writer that can also take a run's records lazily (memory.Store).
type Store interface {
	repo.Writer
	Deferrer
}

// Memory returns the records of memory mode: each run's events are handed
// to store lazily (see Deferrer), so records are built only when a reader
// asks for them. A final batch is written at once.
func Memory(store Store) Records { return memoryRecords{store} }

type memoryRecords struct{ Store }

func (m memoryRecords) Recorder(ctx context.Context, src Source, final func() *repo.Batch) Recorder {
	r := &deferred{base: base{w: m.Store, ctx: ctx, final: final, src: src}}
	r.keep = keeper{d: m.Store, src: &r.src} // build derives the end-user id, if ever
	return r
}

func (memoryRecords) Durable() bool { return false }

// deferred is the recorder of memory mode.
type deferred struct {
	base
	keep keeper
}

func (r *deferred) OnEvent(e *run.Event) {
	if superseded(e.Type) {
		return
	}
	r.keep.add(e)
	if e.Type == run.EventWorkflowFinished && r.final != nil {
		r.errs.set(r.w.Write(r.ctx, r.final()))
	}
}

// Wait returns at once: deferred writes nothing in the background.
func (r *deferred) Wait() error { return r.errs.get() }
