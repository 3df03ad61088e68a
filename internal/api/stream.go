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
// Once the client is gone (or more than max events wait) the queue drops
// everything, so a dead client costs nothing while the run finishes.
type queue struct {
	wake chan struct{} // capacity 1: "there is something to take"
	max  int

	mu       sync.Mutex
	events   []*run.Event
	dead     bool
	overflow bool
}

func newQueue(max int) *queue {
	return &queue{wake: make(chan struct{}, 1), max: max, events: make([]*run.Event, 0, 16)}
}

// OnEvent implements run.Listener.
func (q *queue) OnEvent(e *run.Event) {
	q.mu.Lock()
	switch {
	case q.dead:
	case len(q.events) >= q.max:
		q.dead, q.overflow, q.events = true, true, nil
	default:
		q.events = append(q.events, e)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take returns the waiting events, swapping in spare as the new buffer.
func (q *queue) take(spare []*run.Event) (evs []*run.Event, overflow bool) {
	q.mu.Lock()
	evs, q.events = q.events, spare[:0]
	overflow = q.overflow
	q.mu.Unlock()
	return evs, overflow
}

// kill drops the queue: the client is gone.
func (q *queue) kill() {
	q.mu.Lock()
	q.dead, q.events = true, nil
	q.mu.Unlock()
}

var pingFrame = []byte("event: ping\n\n")

// errClientTooSlow ends a stream whose client fell StreamBuffer events
// behind.
var errClientTooSlow = errors.New("streaming client too slow")

// stream serves a streaming run as Server-Sent Events: "data: <json>\n\n"
// per event, "event: ping\n\n" every PingInterval, ending with
// workflow_finished (or an error event).
func (s *Server) stream(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, a *app.App, p run.Params) {
	q := newQueue(s.cfg.StreamBuffer)
	done := make(chan *run.RunInfo, 1)
	var werr error
	go func() {
		info, err := s.execute(a, p, q)
		werr = err
		done <- info
	}()
	meta := &runMeta{runID: p.RunID, taskID: p.TaskID, endUserID: endUserID(a.ID, p.UserID)}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	write := func(b []byte) error {
		_ = rc.SetWriteDeadline(s.cfg.Clock().Add(s.cfg.WriteTimeout))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := rc.Flush(); err != nil {
		q.kill()
		return
	}

	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	var (
		buf   = make([]byte, 0, 4096)
		spare = make([]*run.Event, 0, 16)
	)
	for {
		finished, panicked := false, false
		select {
		case <-q.wake:
		case info := <-done:
			finished, panicked = true, info == nil
		case <-ping.C:
			if err := write(pingFrame); err != nil {
				q.kill()
				return
			}
			continue
		case <-r.Context().Done():
			q.kill()
			return
		}
		evs, overflow := q.take(spare)
		if overflow {
			s.log.Warn("dropping streaming client", "request_id", requestIDFrom(r.Context()), "run_id", p.RunID, "err", errClientTooSlow)
			return
		}
		buf = buf[:0]
		for i, ev := range evs {
			buf = meta.appendEvent(buf, ev)
			evs[i] = nil
		}
		spare = evs
		if panicked {
			h, _ := httpError(errRunPanicked)
			buf = appendErrorEvent(buf, p.RunID, h)
		} else if finished && werr != nil {
			// workflow_finished went out, but its records are not durable:
			// say so before the stream ends.
			h, _ := httpError(werr)
			buf = appendErrorEvent(buf, p.RunID, h)
		}
		if len(buf) > 0 {
			if err := write(buf); err != nil {
				q.kill()
				return
			}
		}
		if finished {
			return
		}
	}
}
