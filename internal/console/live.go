package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/flowrun/flowrun/internal/run"
)

// maxLiveList bounds the runs the live list shows.
const maxLiveList = 200

// sse prepares a Server-Sent Events response: no write deadline for the
// stream as a whole (the api's WriteTimeout would cut it), each write
// bounded instead.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func startSSE(w http.ResponseWriter) *sse {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return &sse{w: w, rc: rc}
}

// send writes one event whose data is v as JSON.
func (s *sse) send(event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", event, b); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sse) ping() error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprint(s.w, ": ping\n\n"); err != nil {
		return err
	}
	return s.rc.Flush()
}

// await waits for wake, pinging the client on each tick; false: the
// stream is over (the client left, a ping failed, or the Hub closed).
func (c *Console) await(r *http.Request, s *sse, ping *time.Ticker, wake <-chan struct{}) bool {
	for {
		select {
		case <-wake:
			return true
		case <-ping.C:
			if s.ping() != nil {
				return false
			}
		case <-r.Context().Done():
			return false
		case <-c.cfg.Hub.closed:
			return false
		}
	}
}

// liveRunJSON is a run in flight, as the live list's script reads it.
type liveRunJSON struct {
	AppID   string `json:"app_id"`
	AppName string `json:"app_name"`
	RunID   string `json:"run_id"`
	Started int64  `json:"started"`
	URL     string `json:"url"`
}

// liveList streams the runs in flight: the whole list, again whenever it
// changes (at most every 100 ms), until the client or the Hub goes away.
func (c *Console) liveList(w http.ResponseWriter, r *http.Request) {
	names := c.appNames(r)
	s := startSSE(w)
	ping := time.NewTicker(c.cfg.PingInterval)
	defer ping.Stop()
	for {
		runs, changed := c.cfg.Hub.list(maxLiveList)
		out := make([]liveRunJSON, 0, len(runs))
		for _, lr := range runs {
			out = append(out, liveRunJSON{AppID: lr.AppID, AppName: names[lr.AppID], RunID: lr.RunID,
				Started: lr.Started.UnixMilli(), URL: runURL(lr.AppID, lr.RunID)})
		}
		if err := s.send("runs", out); err != nil {
			return
		}
		if !c.await(r, s, ping, changed) {
			return
		}
		// Coalesce bursts of runs starting and ending.
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
}

// liveEvent is a run's event as the live view's script reads it: what
// the timeline needs, without the values (the stored run has them).
type liveEvent struct {
	Type           string  `json:"type"`
	Seq            int64   `json:"seq"`
	ID             string  `json:"id,omitempty"`
	NodeID         string  `json:"node_id,omitempty"`
	NodeType       string  `json:"node_type,omitempty"`
	Title          string  `json:"title,omitempty"`
	Index          int64   `json:"index,omitempty"`
	Predecessor    string  `json:"predecessor,omitempty"`
	Status         string  `json:"status,omitempty"`
	Error          string  `json:"error,omitempty"`
	Elapsed        float64 `json:"elapsed,omitempty"`
	IterationID    string  `json:"iteration_id,omitempty"`
	IterationIndex int     `json:"iteration_index,omitempty"`
	LoopID         string  `json:"loop_id,omitempty"`
	LoopIndex      int     `json:"loop_index,omitempty"`
	Round          int     `json:"round,omitempty"`
	Retry          int     `json:"retry,omitempty"`
	Text           string  `json:"text,omitempty"`
	TotalSteps     int64   `json:"total_steps,omitempty"`
	TotalTokens    int64   `json:"total_tokens,omitempty"`
}

// maxLiveText bounds the text of a text_chunk sent to the live view.
const maxLiveText = 500

func toLive(e *run.Event) liveEvent {
	le := liveEvent{Type: string(e.Type), Seq: e.Seq}
	switch {
	case e.Run != nil:
		le.ID, le.Status, le.Error, le.Elapsed = e.Run.ID, string(e.Run.Status), e.Run.Error, e.Run.Elapsed.Seconds()
		le.TotalSteps, le.TotalTokens = e.Run.TotalSteps, e.Run.TotalTokens
	case e.Node != nil:
		n := e.Node
		le.ID, le.NodeID, le.NodeType, le.Title, le.Index, le.Predecessor = n.ID, n.NodeID, n.NodeType, n.Title, n.Index, n.PredecessorNodeID
		le.Status, le.Error, le.Elapsed, le.Retry = string(n.Status), n.Error, n.Elapsed.Seconds(), n.RetryIndex
		le.IterationID, le.IterationIndex, le.LoopID, le.LoopIndex = n.IterationID, n.IterationIndex, n.LoopID, n.LoopIndex
	case e.Next != nil:
		le.ID, le.NodeID, le.NodeType, le.Title, le.Round = e.Next.NodeRunID, e.Next.NodeID, e.Next.NodeType, e.Next.Title, e.Next.Index
	case e.Chunk != nil:
		le.NodeID, le.Text = e.Chunk.NodeID, truncateRunes(e.Chunk.Text, maxLiveText)
	}
	return le
}

// runEvents streams a run in flight in this process: every event so far,
// then each as it happens, then "stored" once its records are written.
// A run not in flight here gets "gone" at once: it has ended, or runs on
// another replica.
func (c *Console) runEvents(w http.ResponseWriter, r *http.Request) {
	appID, runID := chi.URLParam(r, "app"), chi.URLParam(r, "run")
	lr := c.cfg.Hub.get(runID)
	s := startSSE(w)
	if lr == nil || lr.AppID != appID {
		_ = s.send("gone", struct{}{})
		return
	}
	ping := time.NewTicker(c.cfg.PingInterval)
	defer ping.Stop()
	sent, dropped := 0, 0
	for {
		evs, drop, stored, wake := lr.since(sent)
		for _, e := range evs {
			if s.send("event", toLive(e)) != nil {
				return
			}
		}
		sent += len(evs)
		if drop != dropped {
			dropped = drop
			if s.send("dropped", dropped) != nil {
				return
			}
		}
		if stored {
			_ = s.send("stored", struct{}{})
			return
		}
		if !c.await(r, s, ping, wake) {
			return
		}
	}
}
