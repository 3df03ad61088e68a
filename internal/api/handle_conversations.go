package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/run"
)

// defaultUser is the session Dify's service API gives requests whose
// optional `user` is missing.
const defaultUser = "DEFAULT-USER"

// queryUser reads an optional `user` query argument.
func queryUser(r *http.Request) string {
	if u := r.URL.Query().Get("user"); u != "" {
		return u
	}
	return defaultUser
}

// bodyUser reads the `user` of a JSON body; required makes it
// mandatory, else a missing one is defaultUser.
func bodyUser(body map[string]any, required bool) (string, error) {
	u, err := userArg(body["user"])
	if errors.Is(err, ErrUserRequired) && !required {
		return defaultUser, nil
	}
	return u, err
}

// queryInt reads an integer query argument within [lo, hi].
func queryInt(r *http.Request, name string, lo, hi, dflt int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return dflt, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, &ParamError{Message: fmt.Sprintf("%s: must be an integer between %d and %d", name, lo, hi)}
	}
	return n, nil
}

// chatApp checks that the request's app is a chatflow.
func (s *Server) chatApp(w http.ResponseWriter, r *http.Request) bool {
	if !appFrom(r.Context()).Workflow.Chat() {
		s.writeError(w, r, ErrNotChatApp)
		return false
	}
	return true
}

// notFound turns repo.ErrNotFound into Dify's 404 message.
func notFound(err error, msg string) error {
	if errors.Is(err, repo.ErrNotFound) {
		return &NotFoundError{Message: msg}
	}
	return err
}

// handleConversations serves GET /conversations.
func (s *Server) handleConversations(w http.ResponseWriter, r *http.Request) {
	if !s.chatApp(w, r) {
		return
	}
	q := r.URL.Query()
	p := &repo.ConversationListParams{AppID: appFrom(r.Context()).ID, User: queryUser(r), LastID: q.Get("last_id"), SortBy: q.Get("sort_by")}
	var err error
	if p.Limit, err = queryInt(r, "limit", 1, 100, 20); err != nil {
		s.writeError(w, r, err)
		return
	}
	if p.SortBy == "" {
		p.SortBy = repo.SortUpdatedDesc
	}
	if _, _, err := repo.ConversationSort(p.SortBy); err != nil {
		s.writeError(w, r, &ParamError{Message: "sort_by: must be one of created_at, -created_at, updated_at, -updated_at"})
		return
	}
	res, err := s.cfg.Chats.ConversationList(r.Context(), p)
	if err != nil {
		s.writeError(w, r, notFound(err, "Last Conversation Not Exists."))
		return
	}
	e := enc{py: true}
	e.open()
	e.key("limit")
	e.int(int64(p.Limit))
	e.key("has_more")
	e.boolean(res.HasMore)
	e.key("data")
	e.b = append(e.b, '[')
	for i, c := range res.Items {
		if i > 0 {
			e.b = append(e.b, ", "...)
		}
		conversationJSON(&e, c)
	}
	e.b = append(e.b, ']')
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

// conversationJSON writes Dify's SimpleConversation.
func conversationJSON(e *enc, c *repo.Conversation) {
	e.open()
	e.key("id")
	e.str(c.ID)
	e.key("name")
	e.str(c.Name)
	e.key("inputs")
	e.raw(c.Inputs, "{}")
	e.key("status")
	e.str(c.Status)
	e.key("introduction")
	e.str(c.Introduction)
	e.key("created_at")
	e.int(c.CreatedAt.Unix())
	e.key("updated_at")
	e.int(c.UpdatedAt.Unix())
	e.close()
}

// handleConversationDelete serves DELETE /conversations/{id}: 204, as
// Dify 1.14 answers, after checking that the user owns it.
func (s *Server) handleConversationDelete(w http.ResponseWriter, r *http.Request) {
	if !s.chatApp(w, r) {
		return
	}
	c, ok := s.ownConversation(w, r)
	if !ok {
		return
	}
	now := s.cfg.Clock()
	d := *c
	d.Deleted, d.UpdatedAt, d.Seq = true, now, repo.Version(now)
	if err := s.cfg.Records.Write(r.Context(), &repo.Batch{Conversations: []*repo.Conversation{&d}}); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ownConversation reads the body's user and returns the conversation of
// the path, or writes the error.
func (s *Server) ownConversation(w http.ResponseWriter, r *http.Request) (*repo.Conversation, bool) {
	body, err := s.decodeOptionalObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	user, err := bodyUser(body, false)
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	c, err := s.cfg.Chats.ConversationGet(r.Context(), appFrom(r.Context()).ID, user, chi.URLParam(r, "conversation_id"))
	if err != nil {
		s.writeError(w, r, notFound(err, msgConversationNotExists))
		return nil, false
	}
	return c, true
}

// decodeOptionalObject is decodeObject for bodies that may be empty.
func (s *Server) decodeOptionalObject(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	if r.ContentLength == 0 {
		return map[string]any{}, nil
	}
	return s.decodeObject(w, r)
}

// handleConversationRename serves POST /conversations/{id}/name.
func (s *Server) handleConversationRename(w http.ResponseWriter, r *http.Request) {
	if !s.chatApp(w, r) {
		return
	}
	a := appFrom(r.Context())
	body, err := s.decodeObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	user, err := bodyUser(body, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	auto, _ := body["auto_generate"].(bool)
	name, _ := body["name"].(string)
	if !auto && strings.TrimSpace(name) == "" {
		s.writeError(w, r, &ParamError{Message: "1 validation error for ConversationRenamePayload\n  Value error, name is required when auto_generate is false"})
		return
	}
	c, err := s.cfg.Chats.ConversationGet(r.Context(), a.ID, user, chi.URLParam(r, "conversation_id"))
	if err != nil {
		s.writeError(w, r, notFound(err, msgConversationNotExists))
		return
	}
	if auto {
		// Dify names the conversation again from its first query.
		first, err := s.firstQuery(r.Context(), a.ID, user, c.ID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		name = conversationName(first)
		if s.cfg.Namer != nil {
			if n, ok := s.generateName(r.Context(), a, c.ID, first); ok {
				name = n
			}
		}
	}
	now := s.cfg.Clock()
	u := *c
	u.Name, u.UpdatedAt, u.Seq = strings.TrimSpace(name), now, repo.Version(now)
	if err := s.cfg.Records.Write(r.Context(), &repo.Batch{Conversations: []*repo.Conversation{&u}}); err != nil {
		s.writeError(w, r, err)
		return
	}
	e := enc{py: true}
	conversationJSON(&e, &u)
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

// variableNameOK is Dify's check of variable_name: letters, digits, -, _
// and ., nothing SQL-like.
func variableNameOK(s string) bool {
	for _, bad := range []string{"'", "\"", ";", "--", "/*", "*/", "xp_", "sp_"} {
		if strings.Contains(strings.ToLower(s), bad) {
			return false
		}
	}
	for _, c := range s {
		if !(c == '-' || c == '_' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// handleVariables serves GET /conversations/{id}/variables.
func (s *Server) handleVariables(w http.ResponseWriter, r *http.Request) {
	if !s.chatApp(w, r) {
		return
	}
	q := r.URL.Query()
	p := &repo.VariableListParams{
		AppID: appFrom(r.Context()).ID, User: queryUser(r), ConversationID: chi.URLParam(r, "conversation_id"),
		LastID: q.Get("last_id"), Name: q.Get("variable_name"),
	}
	var err error
	if p.Limit, err = queryInt(r, "limit", 1, 100, 20); err != nil {
		s.writeError(w, r, err)
		return
	}
	if p.Name != "" && !variableNameOK(p.Name) {
		s.writeError(w, r, &ParamError{Message: "Variable name contains invalid characters"})
		return
	}
	res, err := s.cfg.Chats.VariableList(r.Context(), p)
	if err != nil {
		s.writeError(w, r, notFound(err, msgConversationNotExists))
		return
	}
	e := enc{py: true}
	e.open()
	e.key("limit")
	e.int(int64(p.Limit))
	e.key("has_more")
	e.boolean(res.HasMore)
	e.key("data")
	e.b = append(e.b, '[')
	for i, v := range res.Items {
		if i > 0 {
			e.b = append(e.b, ", "...)
		}
		variableJSON(&e, v)
	}
	e.b = append(e.b, ']')
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

// variableJSON writes one conversation variable as Dify lists it: value
// as Python's str() of the value, value_type as exposed (number for
// integer and float).
func variableJSON(e *enc, v *repo.ConversationVariable) {
	e.open()
	e.key("id")
	e.str(v.ID)
	e.key("name")
	e.str(v.Name)
	e.key("value_type")
	e.str(exposedType(v.ValueType))
	e.key("value")
	val, err := parseJSON(v.Value)
	if err != nil {
		val = string(v.Value)
	}
	e.str(py.Str(val))
	e.key("description")
	e.str(v.Description)
	e.key("created_at")
	e.int(v.CreatedAt.Unix())
	e.key("updated_at")
	e.int(v.UpdatedAt.Unix())
	e.close()
}

func exposedType(t string) string {
	if t == "integer" || t == "float" {
		return "number"
	}
	return t
}

// handleVariableUpdate serves PUT /conversations/{id}/variables/{var_id}.
func (s *Server) handleVariableUpdate(w http.ResponseWriter, r *http.Request) {
	if !s.chatApp(w, r) {
		return
	}
	a := appFrom(r.Context())
	body, err := s.decodeObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	user, err := bodyUser(body, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	value, ok := body["value"]
	if !ok {
		s.writeError(w, r, &ParamError{Message: "1 validation error for ConversationVariableUpdatePayload\nvalue\n  Field required"})
		return
	}
	res, err := s.cfg.Chats.VariableList(r.Context(), &repo.VariableListParams{
		AppID: a.ID, User: user, ConversationID: chi.URLParam(r, "conversation_id"), Limit: 1 << 30,
	})
	if err != nil {
		s.writeError(w, r, notFound(err, msgConversationNotExists))
		return
	}
	id := chi.URLParam(r, "variable_id")
	var v *repo.ConversationVariable
	for _, x := range res.Items {
		if x.ID == id {
			v = x
		}
	}
	if v == nil {
		s.writeError(w, r, &NotFoundError{Message: "Conversation Variable Not Exists."})
		return
	}
	if got := inferredType(value); !typeAccepts(v.ValueType, value) {
		s.writeError(w, r, &BadRequestError{Message: fmt.Sprintf("Type mismatch: variable '%s' expects %s, but got %s type", v.Name, exposedType(v.ValueType), got)})
		return
	}
	raw, err := run.JSON(value)
	if err != nil {
		s.writeError(w, r, ErrInvalidJSON)
		return
	}
	now := s.cfg.Clock()
	u := *v
	u.Value, u.UpdatedAt, u.Seq = raw, now, repo.Version(now)
	if err := s.cfg.Records.Write(r.Context(), &repo.Batch{Variables: []*repo.ConversationVariable{&u}}); err != nil {
		s.writeError(w, r, err)
		return
	}
	e := enc{py: true}
	variableJSON(&e, &u)
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

// inferredType names a JSON value's type as Dify's error message does.
func inferredType(v any) string {
	switch x := v.(type) {
	case string:
		return "str"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case map[string]any:
		return "dict"
	case []any:
		_ = x
		return "list"
	case nil:
		return "NoneType"
	}
	return "unknown"
}

// typeAccepts reports whether a value fits a declared variable type.
func typeAccepts(t string, v any) bool {
	switch t {
	case "string", "secret", "paragraph", "text-input":
		_, ok := v.(string)
		return ok
	case "number", "integer", "float":
		switch v.(type) {
		case int64, float64:
			return true
		}
		return false
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	}
	if elem, ok := strings.CutPrefix(t, "array["); ok {
		list, ok := v.([]any)
		if !ok {
			return false
		}
		elem = strings.TrimSuffix(elem, "]")
		for _, x := range list {
			if !typeAccepts(elem, x) {
				return false
			}
		}
		return true
	}
	return true
}

// firstQuery returns the query of a conversation's first message, or
// Dify's 400 (with an empty message) when it has none.
func (s *Server) firstQuery(ctx context.Context, appID, user, convID string) (string, error) {
	p := &repo.MessageListParams{AppID: appID, User: user, ConversationID: convID, Limit: 100}
	for {
		page, err := s.cfg.Chats.MessageList(ctx, p)
		if err != nil {
			return "", err
		}
		if len(page.Items) == 0 {
			return "", &ParamError{Message: ""}
		}
		if !page.HasMore {
			return page.Items[0].Query, nil
		}
		p.FirstID = page.Items[0].ID
	}
}
