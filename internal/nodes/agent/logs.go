package agent

import (
	"time"

	"github.com/flowrun/flowrun/internal/run"
)

// Log metadata keys, as the agent plugin writes them.
const (
	metaStartedAt   = "started_at"
	metaProvider    = "provider"
	metaFinishedAt  = "finished_at"
	metaElapsedTime = "elapsed_time"
	metaTotalPrice  = "total_price"
	metaCurrency    = "currency"
	metaTotalTokens = "total_tokens"
)

// logger emits a run's agent logs and keeps the latest version of each,
// in first-seen order, for the node's json output and metadata (Dify's
// agent_logs list, updated in place when a log finishes).
type logger struct {
	x     *run.Exec
	start time.Time
	order []*run.AgentLog
}

func newLogger(x *run.Exec) *logger { return &logger{x: x, start: time.Now()} }

// now is the plugin's time.perf_counter(): seconds on a monotonic clock,
// here counted from the node's start.
func (l *logger) now() float64 { return time.Since(l.start).Seconds() }

// begin emits a log entry with status start and returns it.
func (l *logger) begin(label string, parent *run.AgentLog, metadata map[string]any) *run.AgentLog {
	e := &run.AgentLog{ID: run.NewID(), Label: label, Status: "start", Data: map[string]any{}, Metadata: metadata}
	if parent != nil {
		e.ParentID = parent.ID
	}
	l.order = append(l.order, e)
	l.emit(e)
	return e
}

// finish emits e again with status success and its final data.
func (l *logger) finish(e *run.AgentLog, data, metadata map[string]any) {
	e.Status, e.Data, e.Metadata = "success", data, metadata
	l.emit(e)
}

func (l *logger) emit(e *run.AgentLog) {
	if l.x != nil {
		l.x.AgentLog(*e)
	}
}

// list renders the logs as the json output's entries (Dify's
// {id, parent_id, error, status, data, label, metadata, node_id}).
func (l *logger) list(nodeID string) []any {
	out := make([]any, 0, len(l.order))
	for _, e := range l.order {
		out = append(out, map[string]any{
			"id": e.ID, "parent_id": nullable(e.ParentID), "error": nullable(e.Error), "status": e.Status,
			"data": e.Data, "label": e.Label, "metadata": e.Metadata, "node_id": nodeID,
		})
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
