package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/files"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/run"
)

// chatRequest is a validated POST /chat-messages body (Dify's
// ChatRequestPayload plus the user argument).
type chatRequest struct {
	runRequest
	conversationID string
	// autoName is auto_generate_name (default true).
	autoName bool
}

// Messages of the chat API's errors, as Dify words them.
const (
	msgConversationNotExists = "Conversation Not Exists."
	msgMessageNotExists      = "Message Not Exists."
)

// errQueryRequired is an empty query (Dify's generator raises it).
var errQueryRequired = &ParamError{Message: "query is required"}

func chatPayloadError(field, problem string) error {
	return &ParamError{Message: fmt.Sprintf("1 validation error for ChatRequestPayload\n%s\n  %s", field, problem)}
}

func parseChatRequest(m map[string]any) (*chatRequest, error) {
	q, ok := m["query"]
	if !ok {
		return nil, chatPayloadError("query", "Field required")
	}
	query, ok := q.(string)
	if !ok {
		return nil, chatPayloadError("query", "Input should be a valid string")
	}
	rr, err := parseRunRequest(m)
	if err != nil {
		var pe *ParamError
		if errors.As(err, &pe) {
			pe.Message = strings.Replace(pe.Message, "WorkflowRunPayload", "ChatRequestPayload", 1)
		}
		return nil, err
	}
	rr.query = strings.ReplaceAll(query, "\x00", "")
	if rr.query == "" {
		return nil, errQueryRequired
	}
	req := &chatRequest{runRequest: *rr, autoName: true}
	if c, ok := m["conversation_id"]; ok && c != nil {
		s, ok := c.(string)
		if !ok {
			return nil, chatPayloadError("conversation_id", "Input should be a valid string")
		}
		if s = strings.TrimSpace(s); s != "" {
			u, err := uuid.Parse(s)
			if err != nil || len(s) != 36 {
				return nil, chatPayloadError("conversation_id", "Value error, conversation_id must be a valid UUID")
			}
			req.conversationID = u.String()
		}
	}
	if v, ok := m["auto_generate_name"]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			return nil, chatPayloadError("auto_generate_name", "Input should be a valid boolean")
		}
		req.autoName = b
	}
	return req, nil
}

// handleChat serves POST /chat-messages: one turn of a chatflow
// conversation, blocking or streamed.
func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	a := appFrom(r.Context())
	release, err := s.admit(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer release()
	if !a.Workflow.Chat() {
		s.writeError(w, r, ErrNotChatApp)
		return
	}
	body, err := s.decodeObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := parseChatRequest(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if id, ok := body["workflow_id"].(string); ok && id != "" {
		if err := checkWorkflowID(a, id); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	inputs, err := a.Workflow.PrepareInputs(req.inputs)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sc := files.Scope{AppID: a.ID, BaseURL: s.baseURL(r)}
	if req.files, err = s.resolveFiles(r.Context(), a, sc, inputs, req.files); err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.openTurn(r.Context(), a, req, inputs)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Ids in the order tests with counting ids expect: run, then task.
	runID, taskID := s.cfg.NewID(), s.cfg.NewID()
	if err := s.acquire(r.Context(), a.ID, taskID); err != nil {
		s.writeError(w, r, err)
		return
	}
	p := run.Params{
		RunID:        runID,
		TaskID:       taskID,
		WorkflowID:   a.WorkflowID,
		AppID:        a.ID,
		UserID:       req.user,
		Inputs:       inputs,
		Files:        req.files,
		Query:        req.query,
		Conversation: t.conv,
		Env:          s.cfg.Env,
	}
	t.runID = p.RunID
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	if req.streaming {
		s.stream(w, r, rc, a, p, t, release)
		return
	}
	info, err := s.execute(a, p, nil, t)
	release()
	switch {
	case info == nil:
		s.writeError(w, r, errRunPanicked)
		return
	case err != nil:
		s.writeError(w, r, err)
		return
	}
	t.named(s)
	if info.Status == run.StatusFailed {
		s.writeError(w, r, &ParamError{Message: "Run failed: " + info.Error})
		return
	}
	if r.Context().Err() != nil {
		return
	}
	_ = rc.SetWriteDeadline(s.cfg.Clock().Add(s.cfg.WriteTimeout))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	e := enc{b: make([]byte, 0, 512), py: true, out: func(b []byte) error {
		_, err := w.Write(b)
		return err
	}}
	t.blockingBody(&e, p.TaskID)
	e.flush()
}

// openTurn loads the conversation a turn continues, or starts a new one.
func (s *Server) openTurn(ctx context.Context, a *app.App, req *chatRequest, inputs run.Vars) (*chatTurn, error) {
	now := s.cfg.Clock()
	t := &chatTurn{
		app: a, user: req.user, query: req.query, inputs: inputs, files: req.files, autoName: req.autoName,
		messageID: s.cfg.NewID(), createdAt: now, clock: s.cfg.Clock, showResources: showResources(a.Workflow),
	}
	if req.conversationID == "" {
		t.conv = &run.Conversation{ID: s.cfg.NewID(), Turn: 1}
		t.newConv = true
		return t, nil
	}
	turn, err := s.cfg.Chats.Turn(ctx, &repo.TurnParams{
		AppID: a.ID, User: req.user, ConversationID: req.conversationID, History: a.Workflow.HistoryLimit(),
	})
	if errors.Is(err, repo.ErrNotFound) {
		return nil, &NotFoundError{Message: msgConversationNotExists}
	}
	if err != nil {
		return nil, err
	}
	t.conv = &run.Conversation{ID: turn.Conversation.ID, Turn: turn.Messages + 1}
	t.conv.History = make([]run.Message, len(turn.History))
	for i, m := range turn.History {
		t.conv.History[i] = run.Message{Query: m.Query, Answer: m.Answer}
		if m.Status == repo.MessageError {
			// Dify's memory gives a failed turn an empty answer.
			t.conv.History[i].Answer = ""
		}
	}
	t.vars = map[string]*repo.ConversationVariable{}
	if len(turn.Variables) > 0 {
		t.conv.Vars = make(map[string]any, len(turn.Variables))
		for _, v := range turn.Variables {
			t.vars[v.Name] = v
			if val, err := parseJSON(v.Value); err == nil {
				t.conv.Vars[v.Name] = val
			}
		}
	}
	return t, nil
}

// handleChatStop serves POST /chat-messages/{task_id}/stop.
func (s *Server) handleChatStop(w http.ResponseWriter, r *http.Request) {
	if !appFrom(r.Context()).Workflow.Chat() {
		s.writeError(w, r, ErrNotChatApp)
		return
	}
	s.handleStop(w, r)
}

// conversationName is the name Dify gives a new conversation before (or
// instead of) generating one: the query's first 20 characters, with "…"
// when it is longer.
func conversationName(query string) string {
	if query == "" {
		return "New conversation"
	}
	if utf8.RuneCountInString(query) <= 20 {
		return query
	}
	return string([]rune(query)[:20]) + "…"
}
