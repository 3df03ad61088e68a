package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/run"
)

// runBody is WorkflowRunPayload plus the user field. Raw fields let the
// decoder tell a missing field from null and report pydantic's messages.
type runBody struct {
	Inputs       json.RawMessage `json:"inputs"`
	ResponseMode json.RawMessage `json:"response_mode"`
	User         json.RawMessage `json:"user"`
	Files        json.RawMessage `json:"files"`
}

// runRequest is a validated run request.
type runRequest struct {
	inputs    map[string]any
	streaming bool
	user      string
	files     []any
}

// readBody reads the whole body under the size limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, err
		}
		return nil, ErrInvalidJSON
	}
	return body, nil
}

// decodeJSONBody reads a JSON object body into v (Dify rejects an empty or
// malformed body with one message).
func (s *Server) decodeJSONBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return ErrInvalidJSON
	}
	if err := json.Unmarshal(body, v); err != nil {
		return ErrInvalidJSON
	}
	return nil
}

// userArg reads the "user" field as Dify's FetchUserArg does: required,
// str()-ed.
func userArg(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", ErrUserRequired
	}
	var u string
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &u); err != nil {
			return "", ErrInvalidJSON
		}
	case 't':
		u = "True"
	case 'f':
		return "", ErrUserRequired // str(False) is truthy, but False is not
	default:
		u = string(raw)
	}
	if u == "" {
		return "", ErrUserRequired
	}
	return u, nil
}

func parseRunRequest(b *runBody) (*runRequest, error) {
	user, err := userArg(b.User)
	if err != nil {
		return nil, err
	}
	req := &runRequest{user: user}
	switch in := bytes.TrimSpace(b.Inputs); {
	case len(in) == 0:
		return nil, payloadError("inputs", "Field required")
	case in[0] != '{':
		return nil, payloadError("inputs", "Input should be a valid dictionary")
	default:
		dec := json.NewDecoder(bytes.NewReader(in))
		dec.UseNumber()
		if err := dec.Decode(&req.inputs); err != nil {
			return nil, payloadError("inputs", "Input should be a valid dictionary")
		}
		run.Normalize(req.inputs)
	}
	switch mode := string(bytes.TrimSpace(b.ResponseMode)); mode {
	case "", "null", `"blocking"`:
	case `"streaming"`:
		req.streaming = true
	default:
		return nil, payloadError("response_mode", "Input should be 'blocking' or 'streaming'")
	}
	switch files := bytes.TrimSpace(b.Files); {
	case len(files) == 0 || string(files) == "null":
	case files[0] != '[':
		return nil, payloadError("files", "Input should be a valid list")
	default:
		dec := json.NewDecoder(bytes.NewReader(files))
		dec.UseNumber()
		if err := dec.Decode(&req.files); err != nil {
			return nil, payloadError("files", "Input should be a valid list")
		}
		run.Normalize(req.files)
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
	var body runBody
	if err := s.decodeJSONBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := parseRunRequest(&body)
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
	if err := s.acquire(a.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	inputs, err := a.Workflow.PrepareInputs(req.inputs)
	if err != nil {
		s.release(a.ID)
		s.writeError(w, r, err)
		return
	}
	p := run.Params{
		RunID:      s.cfg.NewID(),
		TaskID:     s.cfg.NewID(),
		WorkflowID: a.WorkflowID,
		AppID:      a.ID,
		UserID:     req.user,
		Inputs:     inputs,
		Files:      req.files,
	}
	// The run outlives this request: lift the server's read and write
	// deadlines (ReadTimeout would otherwise cancel the request context
	// through the background read) and bound each write instead.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	if req.streaming {
		s.stream(w, r, rc, a, p)
		return
	}
	s.block(w, r, rc, a, p)
}

// running is a run executing on its own goroutine.
type running struct {
	done chan struct{}
	// info is the final state; nil if the run panicked. Read it only
	// after done is closed.
	info *run.RunInfo
}

// recorder saves the run when it starts, then hands events on.
type recorder struct {
	s     *Server
	appID string
	next  run.Listener
}

func (l *recorder) OnEvent(e *run.Event) {
	if e.Type == run.EventWorkflowStarted {
		l.s.save(l.appID, e.Run)
	}
	if l.next != nil {
		l.next.OnEvent(e)
	}
}

func (s *Server) save(appID string, info *run.RunInfo) {
	if err := s.cfg.Runs.Save(context.Background(), appID, info); err != nil {
		s.log.Error("saving run", "app_id", appID, "run_id", info.ID, "err", err)
	}
}

// start runs p on a new goroutine. The caller must have acquired a slot
// for a; the goroutine releases it when the run ends.
func (s *Server) start(a *app.App, p run.Params, l run.Listener) *running {
	ctx, cancel := context.WithCancelCause(s.runCtx)
	s.mu.Lock()
	s.tasks[p.TaskID] = &task{appID: a.ID, cancel: cancel}
	s.mu.Unlock()
	rn := &running{done: make(chan struct{})}
	go func() {
		defer func() {
			if rec := recover(); rec != nil {
				s.log.Error("run panicked", "app_id", a.ID, "run_id", p.RunID, "panic", rec)
			}
			cancel(nil)
			s.mu.Lock()
			delete(s.tasks, p.TaskID)
			s.mu.Unlock()
			close(rn.done)
			s.release(a.ID)
		}()
		info := s.cfg.Engine.Run(ctx, a.Workflow, p, &recorder{s: s, appID: a.ID, next: l})
		s.save(a.ID, info)
		rn.info = info
	}()
	return rn
}

// block serves a blocking run: wait, then answer Dify's blocking body
// (HTTP 200 whatever the run's status).
func (s *Server) block(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, a *app.App, p run.Params) {
	rn := s.start(a, p, nil)
	select {
	case <-rn.done:
	case <-r.Context().Done():
		return // the run goes on; nobody is listening
	}
	if rn.info == nil {
		s.writeError(w, r, errors.New("run panicked"))
		return
	}
	_ = rc.SetWriteDeadline(s.cfg.Clock().Add(s.cfg.WriteTimeout))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(blockingBody(rn.info))
}

// blockingBody renders WorkflowAppBlockingResponse as json.dumps does.
func blockingBody(r *run.RunInfo) []byte {
	e := enc{b: make([]byte, 0, 512), py: true}
	e.open()
	e.key("task_id")
	e.str(r.TaskID)
	e.key("workflow_run_id")
	e.str(r.ID)
	e.key("data")
	e.open()
	e.key("id")
	e.str(r.ID)
	e.key("workflow_id")
	e.str(r.WorkflowID)
	e.key("status")
	e.str(string(r.Status))
	e.key("outputs")
	e.vars(r.Outputs)
	e.key("error")
	e.nullStr(r.Error)
	e.key("elapsed_time")
	e.float(r.Elapsed.Seconds())
	e.key("total_tokens")
	e.int(r.TotalTokens)
	e.key("total_steps")
	e.int(r.TotalSteps)
	e.key("created_at")
	e.int(r.CreatedAt.Unix())
	e.key("finished_at")
	e.int(r.FinishedAt.Unix())
	e.close()
	e.close()
	return e.b
}

// handleStop serves POST /workflows/tasks/{task_id}/stop: it stops the
// app's run with that task id, if this server runs it, and always
// succeeds, as Dify does.
func (s *Server) handleStop(w http.ResponseWriter, r *http.Request) {
	var body struct {
		User json.RawMessage `json:"user"`
	}
	if err := s.decodeJSONBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := userArg(body.User); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.stop(appFrom(r.Context()).ID, chi.URLParam(r, "task_id"))
	writeJSON(w, http.StatusOK, []byte("{\"result\": \"success\"}\n"))
}

// handleGetRun serves GET /workflows/run/{workflow_run_id} in the shape of
// Dify's workflow_run_fields: inputs and outputs are JSON strings.
func (s *Server) handleGetRun(w http.ResponseWriter, r *http.Request) {
	a := appFrom(r.Context())
	info, err := s.cfg.Runs.Get(r.Context(), a.ID, chi.URLParam(r, "workflow_run_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	finished := info.Status != run.StatusRunning
	e := enc{py: true}
	e.open()
	e.key("id")
	e.str(info.ID)
	e.key("workflow_id")
	e.str(info.WorkflowID)
	e.key("status")
	e.str(string(info.Status))
	e.key("inputs")
	e.str(toJSONString(info.Inputs))
	e.key("outputs")
	if finished {
		e.str(toJSONString(info.Outputs))
	} else {
		e.null()
	}
	e.key("error")
	e.nullStr(info.Error)
	e.key("total_steps")
	e.int(info.TotalSteps)
	e.key("total_tokens")
	e.int(info.TotalTokens)
	e.key("created_at")
	e.int(info.CreatedAt.Unix())
	e.key("finished_at")
	if finished {
		e.int(info.FinishedAt.Unix())
	} else {
		e.null()
	}
	e.key("elapsed_time")
	e.float(info.Elapsed.Seconds())
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

// endUserID derives a stable id for (app, user): Dify reports its
// end_users row id as created_by.id; flowrun keeps no such table.
func endUserID(appID, user string) string {
	ns, err := uuid.Parse(appID)
	if err != nil {
		ns = uuid.NameSpaceOID
	}
	return uuid.NewSHA1(ns, []byte("end-user:"+user)).String()
}
