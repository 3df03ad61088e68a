package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/run"
)

// handleGetRun serves GET /workflows/run/{workflow_run_id} in the shape of
// Dify 1.17's WorkflowRunResponse: inputs is the stored JSON text, as a
// string; outputs is an object, {} until the run has finished
// (controllers/service_api/app/workflow.py, _serialize_workflow_run).
func (s *Server) handleGetRun(w http.ResponseWriter, r *http.Request) {
	a := appFrom(r.Context())
	wr, err := s.cfg.Reader.RunGet(r.Context(), &repo.RunGetParams{AppID: a.ID, RunID: chi.URLParam(r, "workflow_run_id")})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	finished := wr.Status.Terminal()
	e := enc{py: true}
	e.open()
	e.key("id")
	e.str(wr.ID)
	e.key("workflow_id")
	e.str(wr.WorkflowID)
	e.key("status")
	e.str(string(wr.Status))
	e.key("inputs")
	e.str(pyJSONText(wr.Inputs))
	e.key("outputs")
	if finished {
		objectJSON(&e, wr.Outputs)
	} else {
		e.b = append(e.b, "{}"...)
	}
	e.key("error")
	e.nullStr(wr.Error)
	e.key("total_steps")
	e.int(wr.TotalSteps)
	e.key("total_tokens")
	e.int(wr.TotalTokens)
	e.key("created_at")
	e.int(wr.CreatedAt.Unix())
	e.key("finished_at")
	if finished && !wr.FinishedAt.IsZero() {
		e.int(wr.FinishedAt.Unix())
	} else {
		e.null()
	}
	e.key("elapsed_time")
	e.float(wr.ElapsedTime)
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

// pyJSONText re-renders stored JSON as Python's json.dumps does (the TEXT
// columns Dify serves as strings), keeping the stored key order.
func pyJSONText(raw json.RawMessage) string {
	if raw == nil {
		return "{}"
	}
	var vs run.Vars
	if err := vs.UnmarshalJSON(raw); err == nil {
		return toJSONString(vs)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	return toJSONString(run.Normalize(v))
}

// Run statuses GET /workflows/logs accepts (Dify's WorkflowLogQuery).
var logStatuses = map[string]bool{"succeeded": true, "failed": true, "stopped": true, "partial-succeeded": true, "running": true}

// handleLogs serves GET /workflows/logs: the app's runs, newest first, with
// Dify's filters and pagination.
func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request) {
	a := appFrom(r.Context())
	q := r.URL.Query()
	p := &repo.RunListParams{AppID: a.ID, Keyword: q.Get("keyword"), SessionID: q.Get("created_by_end_user_session_id")}
	var err error
	if st := q.Get("status"); st != "" {
		if !logStatuses[st] {
			s.writeError(w, r, payloadError("status", fmt.Sprintf("Input should be 'succeeded', 'failed', 'stopped', 'partial-succeeded' or 'running', got %q", run.Clip(st))))
			return
		}
		p.Status = repo.Status(st)
	}
	if p.CreatedBefore, err = isoTime(q.Get("created_at__before"), "created_at__before"); err == nil {
		p.CreatedAfter, err = isoTime(q.Get("created_at__after"), "created_at__after")
	}
	if err == nil {
		p.Page, err = intParam(q.Get("page"), "page", 1, 99999, 1)
	}
	if err == nil {
		p.Limit, err = intParam(q.Get("limit"), "limit", 1, 100, 20)
	}
	if err == nil && q.Get("created_by_account") != "" {
		// flowrun has no console accounts: every email is unknown.
		err = payloadError("created_by_account", "Account not found: "+q.Get("created_by_account"))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.cfg.Reader.RunList(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e := enc{py: true}
	e.open()
	e.key("page")
	e.int(int64(res.Page))
	e.key("limit")
	e.int(int64(res.Limit))
	e.key("total")
	e.int(res.Total)
	e.key("has_more")
	e.boolean(res.HasMore)
	e.key("data")
	e.b = append(e.b, '[')
	for i, it := range res.Items {
		if i > 0 {
			e.b = append(e.b, ", "...)
		}
		logJSON(&e, it)
	}
	e.b = append(e.b, ']')
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

// logJSON writes one workflow_app_log_fields entry.
func logJSON(e *enc, it *repo.RunListItem) {
	l := it.Log
	e.open()
	e.key("id")
	e.str(l.ID)
	e.key("workflow_run")
	if wr := it.Run; wr != nil {
		e.open()
		e.key("id")
		e.str(wr.ID)
		e.key("version")
		e.str(wr.Version)
		e.key("status")
		e.str(string(wr.Status))
		e.key("triggered_from")
		e.str(wr.TriggeredFrom)
		e.key("error")
		e.nullStr(wr.Error)
		e.key("elapsed_time")
		e.float(wr.ElapsedTime)
		e.key("total_tokens")
		e.int(wr.TotalTokens)
		e.key("total_steps")
		e.int(wr.TotalSteps)
		e.key("created_at")
		e.int(wr.CreatedAt.Unix())
		e.key("finished_at")
		if wr.FinishedAt.IsZero() {
			e.null()
		} else {
			e.int(wr.FinishedAt.Unix())
		}
		e.key("exceptions_count")
		e.int(wr.ExceptionsCount)
		e.close()
	} else {
		e.null()
	}
	e.key("details")
	e.null()
	e.key("created_from")
	e.str(l.CreatedFrom)
	e.key("created_by_role")
	e.str(l.CreatedByRole)
	e.key("created_by_account")
	e.null()
	e.key("created_by_end_user")
	e.open()
	e.key("id")
	e.str(l.CreatedBy)
	e.key("type")
	e.str("service_api")
	e.key("is_anonymous")
	e.boolean(false)
	e.key("session_id")
	e.str(l.SessionID)
	e.close()
	e.key("created_at")
	e.int(l.CreatedAt.Unix())
	e.close()
}

// handleNodeExecutions serves GET /workflows/run/{id}/node-executions, a
// flowrun extension: the run's node executions in start order, each shaped
// like a node_finished event's data (inputs, outputs and metadata as
// objects).
func (s *Server) handleNodeExecutions(w http.ResponseWriter, r *http.Request) {
	a := appFrom(r.Context())
	ns, err := s.cfg.Reader.NodeExecutionList(r.Context(), &repo.NodeExecutionListParams{AppID: a.ID, RunID: chi.URLParam(r, "workflow_run_id")})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e := enc{py: true}
	e.open()
	e.key("data")
	e.b = append(e.b, '[')
	for i, n := range ns {
		if i > 0 {
			e.b = append(e.b, ", "...)
		}
		e.open()
		nodeIdentity(&e, n.ID, n.NodeID, n.NodeType, n.Title, n.Index, n.PredecessorNodeID)
		for _, f := range []struct {
			k string
			v json.RawMessage
		}{{"inputs", n.Inputs}, {"process_data", n.ProcessData}, {"outputs", n.Outputs}, {"execution_metadata", n.Metadata}} {
			e.key(f.k)
			rawJSON(&e, f.v)
		}
		e.key("status")
		e.str(string(n.Status))
		e.key("error")
		e.nullStr(n.Error)
		e.key("elapsed_time")
		e.float(n.ElapsedTime)
		e.key("created_at")
		e.int(n.CreatedAt.Unix())
		e.key("finished_at")
		if n.FinishedAt.IsZero() {
			e.null()
		} else {
			e.int(n.FinishedAt.Unix())
		}
		e.key("iteration_id")
		e.nullStr(n.IterationID)
		e.key("loop_id")
		e.nullStr(n.LoopID)
		e.close()
	}
	e.b = append(e.b, ']')
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

// rawJSON writes stored JSON as a value (null when absent), in the
// encoder's style.
func rawJSON(e *enc, raw json.RawMessage) {
	if raw == nil {
		e.null()
		return
	}
	var vs run.Vars
	if err := vs.UnmarshalJSON(raw); err == nil {
		e.vars(vs)
		return
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		e.null()
		return
	}
	e.value(run.Normalize(v))
}

// isoTime parses an ISO-8601 query parameter ("" is the zero time).
func isoTime(v, name string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, payloadError(name, fmt.Sprintf("Invalid isoformat string: %q", run.Clip(v)))
}

// intParam parses an integer query parameter within [lo, hi].
func intParam(v, name string, lo, hi, dflt int) (int, error) {
	if v == "" {
		return dflt, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, payloadError(name, "Input should be a valid integer, unable to parse string as an integer")
	}
	if n < lo || n > hi {
		return 0, payloadError(name, fmt.Sprintf("Input should be between %d and %d", lo, hi))
	}
	return n, nil
}

// objectJSON writes stored JSON that should be an object as one, in the
// encoder's style; anything else (absent, null, a list) is written {}, as
// Dify 1.17 writes a run's outputs.
func objectJSON(e *enc, raw json.RawMessage) {
	var vs run.Vars
	if raw == nil || vs.UnmarshalJSON(raw) != nil {
		e.b = append(e.b, "{}"...)
		return
	}
	e.vars(vs)
}
