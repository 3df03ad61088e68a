package api

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/run"
)

// queue hands events from the engine to the request goroutine that writes
// them. OnEvent never blocks on the client: it appends under a short lock.
//
// The queue bounds what a client that falls behind can hold: at most
// maxEvents events, and maxBytes of memory in events not yet written
// (queued or being written), estimated by a run.Sizer that counts a value
// several events share once, as it is held once. A first event is always
// taken, whatever its size, so that no single event is too large for a
// client that keeps up. Every stream's bytes also come out of pool, which
// all streams share. Once the client is gone, or one of these bounds
// would be passed, the queue drops everything, so a client that cannot
// keep up costs nothing while the run finishes.
type queue struct {
	wake      chan struct{} // capacity 1: "there is something to take"
	maxEvents int
	maxBytes  int64
	pool      *budget
	// sizer is used by OnEvent only, which the engine serialises.
	sizer run.Sizer

	mu     sync.Mutex
	events []*run.Event
	// queued is the size of events; writing that of the events the
	// writer took and has not finished writing.
	queued, writing int64
	dead            bool
	overflow        bool
}

func newQueue(maxEvents int, maxBytes int64, pool *budget) *queue {
	return &queue{wake: make(chan struct{}, 1), maxEvents: maxEvents, maxBytes: maxBytes, pool: pool, events: make([]*run.Event, 0, 16)}
}

// OnEvent implements run.Listener.
func (q *queue) OnEvent(e *run.Event) {
	q.mu.Lock()
	dead := q.dead
	q.mu.Unlock()
	if dead {
		return
	}
	size := q.sizer.Event(e)
	q.mu.Lock()
	held := q.queued + q.writing
	switch {
	case q.dead:
	case len(q.events) >= q.maxEvents, held > 0 && held+size > q.maxBytes, !q.pool.take(size):
		q.drop(true)
	default:
		q.events = append(q.events, e)
		q.queued += size
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// drop empties the queue for good. Callers hold q.mu.
func (q *queue) drop(overflow bool) {
	q.pool.give(q.queued)
	q.dead, q.overflow, q.events, q.queued = true, q.overflow || overflow, nil, 0
}

// take returns the waiting events and their size, swapping in spare as
// the new buffer. The caller must report the size to sent once the events
// are written (or failed to be).
func (q *queue) take(spare []*run.Event) (evs []*run.Event, size int64, overflow bool) {
	q.mu.Lock()
	evs, q.events = q.events, spare[:0]
	size, q.queued = q.queued, 0
	q.writing += size
	overflow = q.overflow
	q.mu.Unlock()
	return evs, size, overflow
}

// sent releases the size of events that take returned.
func (q *queue) sent(size int64) {
	q.mu.Lock()
	q.writing -= size
	q.pool.give(size)
	q.mu.Unlock()
}

// kill drops the queue: the client is gone.
func (q *queue) kill() {
	q.mu.Lock()
	q.drop(false)
	q.mu.Unlock()
}

var pingFrame = []byte("event: ping\n\n")

// ErrClientTooSlow ends the stream of a client that fell too far behind
// (SSE_MAX_BUFFERED_EVENTS, SSE_MAX_BUFFERED_BYTES, or, across streams,
// SSE_MAX_BUFFERED_BYTES_TOTAL). Its run goes on and is recorded.
var ErrClientTooSlow = errors.New("The client fell too far behind the stream, which is closed. The run goes on and is recorded: fetch it with GET /workflows/run/{workflow_run_id}.") //nolint:staticcheck // message in Dify's style

// stream serves a streaming run as Server-Sent Events: "data: <json>\n\n"
// per event, "event: ping\n\n" every PingInterval, ending with
// workflow_finished (or an error event). Events are encoded as they are
// written, a spillSize piece at a time, so a large value is never held
// whole in encoded form. ran is called once the run is done.
//
// turn, when set, makes it a chat turn's stream (chat frames, message_end).
func (s *Server) stream(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, a *app.App, p run.Params, turn *chatTurn, ran func()) {
	q := newQueue(s.cfg.StreamBuffer, s.cfg.StreamBufferBytes, s.streamBytes)
	done := make(chan *run.RunInfo, 1)
	var werr error
	// The run gets its own copy of p: the stream keeps only ids, so that a
	// client that falls behind does not keep the run's inputs alive once
	// its queue is dropped.
	go func(p run.Params) {
		info, err := s.execute(a, p, q, turn)
		ran()
		werr = err
		done <- info
	}(p)
	runID := p.RunID
	var meta frames = &runMeta{runID: runID, taskID: p.TaskID, endUserID: endUserID(a.ID, p.UserID)}
	if turn != nil {
		meta = &chatMeta{runMeta: runMeta{runID: runID, taskID: p.TaskID, endUserID: endUserID(a.ID, p.UserID)}, turn: turn}
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	write := func(b []byte) error {
		_ = rc.SetWriteDeadline(s.cfg.Clock().Add(s.cfg.WriteTimeout))
		_, err := w.Write(b)
		return err
	}
	if err := rc.Flush(); err != nil {
		q.kill()
		return
	}

	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	var (
		e     = enc{b: make([]byte, 0, 4096), out: write}
		spare = make([]*run.Event, 0, 16)
	)
	// send writes what e holds and flushes it to the client.
	send := func() error {
		e.flush()
		if e.err != nil {
			return e.err
		}
		return rc.Flush()
	}
	var final *run.RunInfo
	for {
		finished, panicked := false, false
		select {
		case <-q.wake:
		case info := <-done:
			finished, panicked, final = true, info == nil, info
		case <-ping.C:
			if err := write(pingFrame); err != nil || rc.Flush() != nil {
				q.kill()
				return
			}
			continue
		case <-r.Context().Done():
			q.kill()
			return
		}
		evs, size, overflow := q.take(spare)
		if overflow {
			q.sent(size)
			s.log.Warn("dropping streaming client", "request_id", requestIDFrom(r.Context()), "run_id", runID, "err", ErrClientTooSlow)
			h, _ := httpError(ErrClientTooSlow)
			meta.fail(&e, h)
			_ = send()
			return
		}
		for i, ev := range evs {
			meta.event(&e, ev)
			evs[i] = nil
		}
		spare = evs
		if panicked {
			h, _ := httpError(errRunPanicked)
			meta.fail(&e, h)
		} else if finished && werr != nil {
			// workflow_finished went out, but its records are not durable:
			// say so before the stream ends.
			h, _ := httpError(werr)
			meta.fail(&e, h)
		} else if finished {
			meta.finish(&e, final)
			if turn != nil {
				turn.named(s)
			}
		}
		var err error
		if len(evs) > 0 || len(e.b) > 0 {
			err = send()
		}
		q.sent(size)
		if err != nil {
			q.kill()
			return
		}
		if finished {
			return
		}
	}
}
