package record

import (
	"sync"

	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/run"
)

// keeper keeps a run's events for a Deferrer, which builds their records
// only when it needs them.
type keeper struct {
	d   Deferrer
	src *Source
	// sizer and size estimate the memory the events hold (see run.Sizer);
	// they are touched only by add, which the engine serialises.
	sizer run.Sizer
	size  int64

	mu     sync.Mutex
	events []*run.Event
}

// add keeps e and tells the Deferrer when the run starts and ends.
func (k *keeper) add(e *run.Event) {
	if e.Run == nil && e.Node == nil {
		return // no records
	}
	k.size += k.sizer.Event(e)
	k.mu.Lock()
	k.events = append(k.events, e)
	k.mu.Unlock()
	if e.Type == run.EventWorkflowStarted || e.Type == run.EventWorkflowFinished {
		k.d.Defer(e.Run.ID, e.Type == run.EventWorkflowFinished, k.size, k.build)
	}
}

// build converts the events kept so far into records. It may run
// concurrently with add.
func (k *keeper) build() *repo.Batch {
	k.mu.Lock()
	k.src.createdBy() // once; later builds read it after this lock
	events := k.events[:len(k.events):len(k.events)]
	k.mu.Unlock()
	b := &repo.Batch{}
	for _, e := range events {
		b.Append(Convert(k.src, e))
	}
	return b
}
