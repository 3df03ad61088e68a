package record

import (
	"context"
	"sync"

	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/run"
)

// Sync returns the records of sync mode: each run's records are written to
// w as its events come, pipelined on another goroutine with one write in
// flight per run, and a run ends only once its records are written
// (Durable).
func Sync(w repo.Writer) Records { return syncRecords{w} }

type syncRecords struct{ repo.Writer }

func (s syncRecords) Recorder(ctx context.Context, src Source, final func() *repo.Batch) Recorder {
	idle := make(chan struct{})
	close(idle)
	r := &pipelined{base: base{w: s.Writer, ctx: ctx, final: final, src: src}, idle: idle}
	r.src.createdBy()
	return r
}

func (syncRecords) Durable() bool { return true }

// pipelined is the recorder of sync mode.
type pipelined struct {
	base

	mu      sync.Mutex
	pending *repo.Batch
	busy    bool
	idle    chan struct{} // closed when no write is in flight; replaced when one starts
}

// OnEvent converts e into records and queues them for writing. For
// workflow_finished it returns only once every record of the run is
// written (or failed: see Wait).
func (r *pipelined) OnEvent(e *run.Event) {
	b := r.convert(e)
	if b.Len() == 0 {
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

// flush writes pending batches until none is left.
func (r *pipelined) flush() {
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
		r.errs.set(r.w.Write(r.ctx, b))
	}
}

func (r *pipelined) Wait() error {
	r.mu.Lock()
	idle := r.idle
	r.mu.Unlock()
	<-idle
	return r.errs.get()
}
