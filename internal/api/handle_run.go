package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/files"
	"github.com/flowrun/flowrun/internal/record"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/run"
)

// runRequest is a validated run request (WorkflowRunPayload plus the
// user argument).
type runRequest struct {
	// query is the optional chatflow message (sys.query).
	query     string
	inputs    map[string]any
	streaming bool
	user      string
	files     []any
}

// readBody reads the whole body under the size limit. A body whose length
// is declared is read into a buffer of that size, so a large one costs
// its size once, not the doublings of a growing buffer.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	var (
		body []byte
		err  error
	)
	if n := r.ContentLength; n > 0 && n <= s.cfg.MaxBodyBytes {
		// net/http ends the body at the declared length.
		body = make([]byte, n)
		_, err = io.ReadFull(rd, body)
	} else {
		body, err = io.ReadAll(rd)
	}
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, err
		}
		return nil, ErrInvalidJSON
	}
	return body, nil
}

// decodeObject reads a JSON object body in one pass into engine values
// (integers stay int64, apart from floats). An empty or malformed body, or
// one that is not an object, is ErrInvalidJSON, as in Dify.
func (s *Server) decodeObject(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	// Python's decoding of a request body fails on invalid UTF-8; so does
	// ours, rather than smuggling U+FFFD into a run.
	if !utf8.Valid(body) {
		return nil, ErrInvalidJSON
	}
	v, err := parseJSON(body)
	if err != nil {
		return nil, ErrInvalidJSON
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, ErrInvalidJSON
	}
	return m, nil
}

// MaxUserLength is the longest `user` accepted, in characters: Dify keeps
// it in end_users.session_id, a VARCHAR(1024) since Dify 1.4.0 (migration
// fd0948688f2d), where a longer one fails the request. flowrun refuses it
// at once with 400, before anything is stored or run.
const MaxUserLength = 1024

// errUserTooLong is a `user` over MaxUserLength characters.
var errUserTooLong = &ParamError{Message: fmt.Sprintf("Arg user must be at most %d characters.", MaxUserLength)}

// userArg reads the "user" field as Dify's FetchUserArg does: required and
// str()-ed, and at most MaxUserLength characters.
func userArg(v any) (string, error) {
	var u string
	switch x := v.(type) {
	case string:
		u = x
	case int64:
		u = strconv.FormatInt(x, 10)
	case float64:
		u = strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		if x {
			u = "True"
		}
	case nil:
	default:
		raw, _ := json.Marshal(x)
		u = string(raw)
	}
	if u == "" {
		return "", ErrUserRequired
	}
	if len(u) > MaxUserLength && utf8.RuneCountInString(u) > MaxUserLength {
		return "", errUserTooLong
	}
	return u, nil
}

func parseRunRequest(m map[string]any) (*runRequest, error) {
	user, err := userArg(m["user"])
	if err != nil {
		return nil, err
	}
	req := &runRequest{user: user}
	in, ok := m["inputs"]
	if !ok {
		return nil, payloadError("inputs", "Field required")
	}
	if req.inputs, ok = in.(map[string]any); !ok {
		return nil, payloadError("inputs", "Input should be a valid dictionary")
	}
	switch mode := m["response_mode"]; mode {
	case nil, "blocking":
	case "streaming":
		req.streaming = true
	default:
		return nil, payloadError("response_mode", "Input should be 'blocking' or 'streaming'")
	}
	if q, ok := m["query"]; ok && q != nil {
		if req.query, ok = q.(string); !ok {
			return nil, payloadError("query", "Input should be a valid string")
		}
	}
	if f, ok := m["files"]; ok && f != nil {
		if req.files, ok = f.([]any); !ok {
			return nil, payloadError("files", "Input should be a valid list")
		}
	}
	return req, nil
}

// checkWorkflowID validates the {workflow_id} path parameter against the
// app's workflow.
func checkWorkflowID(a *app.App, id string) error {
	u, err := uuid.Parse(id)
	if err != nil {
		return &WorkflowIDFormatError{ID: id}
	}
	if u.String() != a.WorkflowID {
		return &WorkflowNotFoundError{ID: id}
	}
	return nil
}

// handleRun serves POST /workflows/run and /workflows/{workflow_id}/run.
func (s *Server) handleRun(w http.ResponseWriter, r *http.Request) {
	a := appFrom(r.Context())
	if a.Workflow.Chat() {
		// Dify runs chatflows only through the chat API.
		s.writeError(w, r, ErrNotWorkflowApp)
		return
	}
	release, err := s.admit(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer release()
	body, err := s.decodeObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := parseRunRequest(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if id := chi.URLParam(r, "workflow_id"); id != "" {
		if err := checkWorkflowID(a, id); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	// Ids in the order tests with counting ids expect: run, then task.
	runID, taskID := s.cfg.NewID(), s.cfg.NewID()
	if err := s.acquire(r.Context(), a.ID, taskID); err != nil {
		s.writeError(w, r, err)
		return
	}
	inputs, err := a.Workflow.PrepareInputs(req.inputs)
	if err != nil {
		s.release(a.ID, taskID)
		s.writeError(w, r, err)
		return
	}
	sc := files.Scope{AppID: a.ID, BaseURL: s.baseURL(r), Strict: true}
	if req.files, err = s.resolveFiles(r.Context(), a, sc, inputs, req.files); err != nil {
		s.release(a.ID, taskID)
		s.writeError(w, r, err)
		return
	}
	p := run.Params{
		RunID:      runID,
		TaskID:     taskID,
		WorkflowID: a.WorkflowID,
		AppID:      a.ID,
		UserID:     req.user,
		Inputs:     inputs,
		Files:      req.files,
		Query:      req.query,
		Env:        s.cfg.Env,
	}
	// A run may outlast the server's WriteTimeout: lift the write deadline
	// and bound each write instead. (ReadTimeout cannot cut it: net/http
	// lifts the read deadline once the body has been read to EOF, which
	// decodeObject did.)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	if req.streaming {
		s.stream(w, r, rc, a, p, nil, release)
		return
	}
	s.block(w, r, rc, a, p, release)
}

// execute runs p to completion on the calling goroutine, registered for
// stop requests and shutdown, recording its execution records. The caller
// must have acquired a slot for a; execute releases it. It returns nil only
// if the engine panicked (the panic is logged). err reports records that
// could not be written when Config.Records is durable.
//
// turn, when set, makes the run a chat turn: it listens first, and its
// records are committed with the run's last ones.
func (s *Server) execute(a *app.App, p run.Params, l run.Listener, turn *chatTurn) (info *run.RunInfo, err error) {
	s.endUsers.seen(a.ID, p.UserID, s.cfg.Clock())
	ctx, cancel := context.WithCancelCause(s.runCtx)
	t := &task{appID: a.ID, runID: p.RunID, user: p.UserID, cancel: cancel}
	s.mu.Lock()
	s.tasks[p.TaskID] = t
	s.mu.Unlock()
	defer func() {
		if rec := recover(); rec != nil {
			s.log.Error("run panicked", "app_id", a.ID, "run_id", p.RunID, "panic", rec, "stack", string(debug.Stack()))
			info = nil
		}
		cancel(nil)
		s.mu.Lock()
		delete(s.tasks, p.TaskID)
		done := t.done
		s.mu.Unlock()
		if done != nil {
			close(done)
		}
		s.release(a.ID, p.TaskID)
	}()
	// Records must outlive a client that goes away: their writes use the
	// server's context, not the request's.
	var (
		first run.Listener
		final func() *repo.Batch
	)
	if turn != nil {
		first, final = turn, turn.records
	}
	rec := s.recorder(a, p, final, turn != nil)
	var watch run.Listener
	if s.cfg.Observer != nil {
		var done func()
		if watch, done = s.cfg.Observer.Observe(a.ID, p.RunID); done != nil {
			defer done()
		}
	}
	info = s.cfg.Engine.Run(ctx, a.Workflow, p, run.Listeners(first, rec, l, watch))
	if werr := rec.Wait(); werr != nil {
		s.log.Error("writing run records", "app_id", a.ID, "run_id", p.RunID, "err", werr)
		// A chat turn whose records are lost breaks its conversation:
		// say so in every mode.
		if s.cfg.Records.Durable() || turn != nil {
			err = fmt.Errorf("%w: %w", ErrPersistenceUnavailable, werr)
		}
	}
	return info, err
}

// recorder returns the recorder of run p of app a.
func (s *Server) recorder(a *app.App, p run.Params, final func() *repo.Batch, chat bool) record.Recorder {
	return s.cfg.Records.Recorder(s.runCtx, record.Source{
		RunID: p.RunID, AppID: a.ID, WorkflowID: a.WorkflowID, Version: a.UpdatedAt.UTC().Format("2006-01-02 15:04:05.000000"),
		SessionID: p.UserID, TriggeredFrom: "app-run", CreatedFrom: "service-api", InstanceID: s.cfg.InstanceID, Chat: chat,
	}, final)
}

// block serves a blocking run: run it, then answer Dify's blocking body
// (HTTP 200 whatever the run's status). The run executes on the request's
// goroutine, which is cheapest (no hand-off, no fresh stack); if the
// client goes away the run still completes and is recorded, and the
// connection is released afterwards.
//
// ran is called once the run is done.
func (s *Server) block(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, a *app.App, p run.Params, ran func()) {
	info, err := s.execute(a, p, nil, nil)
	ran()
	if info == nil {
		s.writeError(w, r, errRunPanicked)
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if r.Context().Err() != nil {
		return // nobody is listening any more
	}
	_ = rc.SetWriteDeadline(s.cfg.Clock().Add(s.cfg.WriteTimeout))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	// Large outputs are written as they are encoded, never whole.
	e := enc{b: make([]byte, 0, 512), py: true, out: func(b []byte) error {
		_, err := w.Write(b)
		return err
	}}
	blockingBody(&e, info)
	e.flush()
}

// errRunPanicked is the (logged) failure of a run whose engine panicked.
var errRunPanicked = errors.New("run panicked")

// blockingBody writes WorkflowAppBlockingResponse as json.dumps does.
func blockingBody(e *enc, r *run.RunInfo) {
	e.open()
	e.key("task_id")
	e.str(r.TaskID)
	e.key("workflow_run_id")
	e.str(r.ID)
	e.key("data")
	e.open()
	runSummary(e, r)
	e.key("created_at")
	e.int(r.CreatedAt.Unix())
	e.key("finished_at")
	e.int(r.FinishedAt.Unix())
	e.close()
	e.close()
}

// handleStop serves POST /workflows/tasks/{task_id}/stop: it stops the
// app's run with that task id if this server, or another replica through
// Config.Stopper, runs it and the request's user started it, and answers
// success once the run has ended. Like Dify, it answers success for
// unknown tasks and for another user's task, without stopping anything. A
// run that has not ended after StopWait gets a 500 (a node that ignores
// cancellation) instead of a false success.
func (s *Server) handleStop(w http.ResponseWriter, r *http.Request) {
	release, err := s.admit(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer release()
	body, err := s.decodeObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	user, err := userArg(body["user"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.stop(r.Context(), appFrom(r.Context()).ID, user, chi.URLParam(r, "task_id")); err != nil {
		if r.Context().Err() == nil {
			s.writeError(w, r, err)
		}
		return
	}
	writeJSON(w, http.StatusOK, []byte("{\"result\": \"success\"}\n"))
}

// endUserID is the stable id of (app, user) that records and
// created_by.id carry: Dify reports its end_users row id; flowrun keeps no
// such table.
func endUserID(appID, user string) string { return record.EndUserID(appID, user) }
