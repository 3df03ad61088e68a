package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/run"
)

// handleMessages serves GET /messages: a page of a conversation's
// messages, the newest page first, each page oldest first.
func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request) {
	if !s.chatApp(w, r) {
		return
	}
	q := r.URL.Query()
	if !q.Has("conversation_id") {
		s.writeError(w, r, &ParamError{Message: "conversation_id: Field required"})
		return
	}
	p := &repo.MessageListParams{AppID: appFrom(r.Context()).ID, User: queryUser(r), ConversationID: q.Get("conversation_id"), FirstID: q.Get("first_id")}
	var err error
	if p.Limit, err = queryInt(r, "limit", 1, 100, 20); err != nil {
		s.writeError(w, r, err)
		return
	}
	res := &repo.MessageListResult{}
	if p.ConversationID != "" {
		if res, err = s.cfg.Chats.MessageList(r.Context(), p); err != nil {
			msg := msgConversationNotExists
			if p.FirstID != "" {
				if _, cerr := s.cfg.Chats.ConversationGet(r.Context(), p.AppID, p.User, p.ConversationID); cerr == nil {
					msg = "First Message Not Exists."
				}
			}
			s.writeError(w, r, notFound(err, msg))
			return
		}
	}
	e := enc{py: true}
	e.open()
	e.key("limit")
	e.int(int64(p.Limit))
	e.key("has_more")
	e.boolean(res.HasMore)
	e.key("data")
	e.b = append(e.b, '[')
	for i, m := range res.Items {
		if i > 0 {
			e.b = append(e.b, ", "...)
		}
		messageJSON(&e, m, res.Feedbacks[m.ID], s.cfg.NewID)
	}
	e.b = append(e.b, ']')
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

// noParent is the parent_message_id of every service-API message: API
// conversations are one linear thread.
const noParent = "00000000-0000-0000-0000-000000000000"

// messageJSON writes a message item in Dify 1.12.1's key order.
func messageJSON(e *enc, m *repo.Message, f *repo.Feedback, newID func() string) {
	e.open()
	e.key("id")
	e.str(m.ID)
	e.key("conversation_id")
	e.str(m.ConversationID)
	e.key("parent_message_id")
	e.str(noParent)
	e.key("inputs")
	e.raw(m.Inputs, "{}")
	e.key("query")
	e.str(m.Query)
	e.key("answer")
	e.str(m.Answer)
	e.key("feedback")
	if f == nil {
		e.null()
	} else {
		e.open()
		e.key("rating")
		e.str(f.Rating)
		e.close()
	}
	e.key("retriever_resources")
	writeStoredResources(e, m.Metadata, newID)
	e.key("created_at")
	e.int(m.CreatedAt.Unix())
	e.key("agent_thoughts")
	e.emptyList()
	e.key("message_files")
	e.raw(m.Files, "[]")
	e.key("status")
	e.str(m.Status)
	e.key("error")
	e.nullStr(m.Error)
	e.close()
}

// handleFeedback serves POST /messages/{id}/feedbacks.
func (s *Server) handleFeedback(w http.ResponseWriter, r *http.Request) {
	a := appFrom(r.Context())
	body, err := s.decodeObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	user, err := bodyUser(body, true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rating, hasRating := body["rating"].(string)
	if v, ok := body["rating"]; ok && v != nil && (!hasRating || rating != "like" && rating != "dislike") {
		s.writeError(w, r, &ParamError{Message: "1 validation error for MessageFeedbackPayload\nrating\n  Input should be 'like' or 'dislike'"})
		return
	}
	content, _ := body["content"].(string)
	m, err := s.cfg.Chats.MessageGet(r.Context(), a.ID, user, chi.URLParam(r, "message_id"))
	if err != nil {
		s.writeError(w, r, notFound(err, msgMessageNotExists))
		return
	}
	old, err := s.cfg.Chats.MessageList(r.Context(), &repo.MessageListParams{AppID: a.ID, User: user, ConversationID: m.ConversationID, Limit: 1 << 30})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	prev := old.Feedbacks[m.ID]
	if !hasRating && prev == nil {
		s.writeError(w, r, &ParamError{Message: "rating cannot be None when feedback not exists"})
		return
	}
	now := s.cfg.Clock()
	f := &repo.Feedback{
		ID: s.cfg.NewID(), AppID: a.ID,
		ConversationID: m.ConversationID, MessageID: m.ID, User: user, Rating: rating, Content: content,
		FromSource: "user", CreatedAt: now, UpdatedAt: now, Seq: repo.Version(now),
	}
	if prev != nil {
		// The user's feedback on a message changes in place; once
		// withdrawn, a new rating is a new feedback (a withdrawn id is
		// final).
		f.ID, f.CreatedAt = prev.ID, prev.CreatedAt
		if !hasRating {
			f.Rating, f.Content = prev.Rating, prev.Content
		}
	}
	f.Deleted = !hasRating
	if err := s.cfg.Records.Write(r.Context(), &repo.Batch{Feedbacks: []*repo.Feedback{f}}); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, []byte("{\"result\": \"success\"}\n"))
}

// handleFeedbacks serves GET /app/feedbacks: the app's feedback, newest
// first, with ISO-8601 times.
func (s *Server) handleFeedbacks(w http.ResponseWriter, r *http.Request) {
	p := &repo.FeedbackListParams{AppID: appFrom(r.Context()).ID}
	var err error
	if p.Page, err = queryInt(r, "page", 1, 1<<30, 1); err == nil {
		p.Limit, err = queryInt(r, "limit", 1, 101, 20)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.cfg.Chats.FeedbackList(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e := enc{py: true}
	e.open()
	e.key("data")
	e.b = append(e.b, '[')
	for i, f := range list {
		if i > 0 {
			e.b = append(e.b, ", "...)
		}
		e.open()
		e.key("id")
		e.str(f.ID)
		e.key("app_id")
		e.str(f.AppID)
		e.key("conversation_id")
		e.str(f.ConversationID)
		e.key("message_id")
		e.str(f.MessageID)
		e.key("rating")
		e.str(f.Rating)
		e.key("content")
		e.nullStr(f.Content)
		e.key("from_source")
		e.str(f.FromSource)
		e.key("from_end_user_id")
		e.str(endUserID(f.AppID, f.User))
		e.key("from_account_id")
		e.null()
		e.key("created_at")
		e.str(pyISO(f.CreatedAt))
		e.key("updated_at")
		e.str(pyISO(f.UpdatedAt))
		e.close()
	}
	e.b = append(e.b, ']')
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

// pyISO formats t (in UTC, without zone) as Python's isoformat does:
// microseconds only when there are any.
func pyISO(t time.Time) string {
	t = t.UTC()
	s := t.Format("2006-01-02T15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	return s
}

// handleSuggested serves GET /messages/{id}/suggested.
func (s *Server) handleSuggested(w http.ResponseWriter, r *http.Request) {
	a := appFrom(r.Context())
	user := r.URL.Query().Get("user")
	if user == "" {
		s.writeError(w, r, ErrUserRequired)
		return
	}
	m, err := s.cfg.Chats.MessageGet(r.Context(), a.ID, user, chi.URLParam(r, "message_id"))
	if err != nil {
		s.writeError(w, r, notFound(err, msgMessageNotExists))
		return
	}
	if !a.Workflow.Chat() || !featureEnabled(a.Workflow.Doc.Workflow.Features, "suggested_questions_after_answer") {
		s.writeError(w, r, &BadRequestError{Message: "Suggested Questions Is Disabled."})
		return
	}
	questions := s.suggest(r.Context(), a, user, m)
	e := enc{py: true}
	e.open()
	e.key("result")
	e.str("success")
	e.key("data")
	e.strs(questions)
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

// featureEnabled reports features[name].enabled.
func featureEnabled(features map[string]any, name string) bool {
	f, _ := features[name].(map[string]any)
	on, _ := f["enabled"].(bool)
	return on
}

// Suggester generates the questions GET /messages/{id}/suggested offers
// after an answer (Dify's generate_suggested_questions_after_answer):
// history holds the conversation's last turns, oldest first.
type Suggester interface {
	Suggest(ctx context.Context, wf *run.Workflow, history []run.Message) ([]string, error)
}

// suggestHistory is how many turns Dify gives the suggestion prompt.
const suggestHistory = 3

// suggest returns the suggested questions after m, or none when no
// Suggester is configured or it fails (Dify answers [] on model errors).
func (s *Server) suggest(ctx context.Context, a *app.App, user string, m *repo.Message) []string {
	if s.cfg.Suggester == nil {
		return []string{}
	}
	page, err := s.cfg.Chats.MessageList(ctx, &repo.MessageListParams{AppID: a.ID, User: user, ConversationID: m.ConversationID, Limit: suggestHistory})
	if err != nil {
		return []string{}
	}
	history := make([]run.Message, len(page.Items))
	for i, x := range page.Items {
		history[i] = run.Message{Query: x.Query, Answer: x.Answer}
	}
	qs, err := s.cfg.Suggester.Suggest(ctx, a.Workflow, history)
	if err != nil || qs == nil {
		if err != nil {
			s.log.Warn("suggested questions", "app_id", a.ID, "err", err)
		}
		return []string{}
	}
	return qs
}
