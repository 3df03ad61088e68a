package console

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/flowrun/flowrun/internal/run"
)

// DefaultMaxEvents is how many events the Hub keeps per run in flight.
const DefaultMaxEvents = 5000

// Hub keeps the runs this process is executing, with their events so
// far, for the live view. It implements api.Observer. A run leaves the
// Hub once it has ended and its records are written; the console then
// reads it from the store like any other.
//
// The Hub is per process: with several api replicas behind a load
// balancer, the live view shows the runs of the replica that served the
// page (see docs/console.md).
type Hub struct {
	maxEvents int
	now       func() time.Time

	mu      sync.Mutex
	runs    map[string]*liveRun
	changed chan struct{} // closed when runs changes, if watched
	watched bool
	closed  chan struct{}
	once    sync.Once
}

// NewHub returns an empty Hub keeping up to maxEvents events per run (0:
// DefaultMaxEvents); the events past it are counted, not kept.
func NewHub(maxEvents int) *Hub {
	return &Hub{maxEvents: cmp.Or(maxEvents, DefaultMaxEvents), now: time.Now, runs: map[string]*liveRun{},
		changed: make(chan struct{}), closed: make(chan struct{})}
}

// Close ends every live stream (at shutdown); Observe still works.
func (h *Hub) Close() { h.once.Do(func() { close(h.closed) }) }

// liveRun is one run in flight.
type liveRun struct {
	AppID, RunID string
	Started      time.Time
	max          int

	mu      sync.Mutex
	events  []*run.Event
	dropped int
	stored  bool          // ended and written
	wake    chan struct{} // closed on the next change, if someone waits
	waiting bool
}

// Observe implements api.Observer.
func (h *Hub) Observe(appID, runID string) (run.Listener, func()) {
	lr := &liveRun{AppID: appID, RunID: runID, Started: h.now(), max: h.maxEvents}
	h.mu.Lock()
	h.runs[runID] = lr
	h.bump()
	h.mu.Unlock()
	return lr, func() {
		lr.mu.Lock()
		lr.stored = true
		lr.signal()
		lr.mu.Unlock()
		h.mu.Lock()
		delete(h.runs, runID)
		h.bump()
		h.mu.Unlock()
	}
}

// bump tells list watchers that runs changed. Callers hold h.mu.
func (h *Hub) bump() {
	if h.watched {
		close(h.changed)
		h.watched = false
	}
}

// OnEvent implements run.Listener: it appends under a short lock and
// wakes the streams following the run, if any.
func (lr *liveRun) OnEvent(e *run.Event) {
	lr.mu.Lock()
	if len(lr.events) < lr.max {
		lr.events = append(lr.events, e)
	} else {
		lr.dropped++
	}
	lr.signal()
	lr.mu.Unlock()
}

// signal wakes the waiting streams. Callers hold lr.mu.
func (lr *liveRun) signal() {
	if lr.waiting {
		close(lr.wake)
		lr.waiting = false
	}
}

// since returns the events after the first n, how many were dropped,
// whether the run is stored, and a channel closed on the next change.
func (lr *liveRun) since(n int) (evs []*run.Event, dropped int, stored bool, wake <-chan struct{}) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if !lr.waiting {
		lr.wake = make(chan struct{})
		lr.waiting = true
	}
	return lr.events[min(n, len(lr.events)):], lr.dropped, lr.stored, lr.wake
}

// get returns the run in flight with id, nil if none.
func (h *Hub) get(id string) *liveRun {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.runs[id]
}

// LiveRun describes a run in flight.
type LiveRun struct {
	AppID, RunID string
	Started      time.Time
}

// list returns up to limit runs in flight, oldest first, and a channel
// closed when the set changes.
func (h *Hub) list(limit int) ([]LiveRun, <-chan struct{}) {
	h.mu.Lock()
	out := make([]LiveRun, 0, len(h.runs))
	for _, lr := range h.runs {
		out = append(out, LiveRun{AppID: lr.AppID, RunID: lr.RunID, Started: lr.Started})
	}
	if !h.watched {
		h.changed = make(chan struct{})
		h.watched = true
	}
	ch := h.changed
	h.mu.Unlock()
	slices.SortFunc(out, func(a, b LiveRun) int { return cmp.Or(a.Started.Compare(b.Started), cmp.Compare(a.RunID, b.RunID)) })
	return out[:min(limit, len(out))], ch
}
