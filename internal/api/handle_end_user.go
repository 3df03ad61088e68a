package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/repo"
)

// ErrEndUserNotFound: GET /end-users/{id} names no end user of the app.
var ErrEndUserNotFound = errors.New("End user not found.") //nolint:staticcheck // Dify's message

// pyISOTime is Python's datetime.isoformat() of a naive UTC time with whole
// seconds, as pydantic dumps Dify's end_users timestamps.
const pyISOTime = "2006-01-02T15:04:05"

// endUser returns the end user id of app appID: one this process saw, or
// else one Config.Users knows.
func (s *Server) endUser(ctx context.Context, appID, id string) (*endUser, error) {
	if eu, ok := s.endUsers.get(appID, id); ok {
		return eu, nil
	}
	if s.cfg.Users == nil {
		return nil, ErrEndUserNotFound
	}
	u, err := s.cfg.Users.EndUserGet(ctx, appID, id)
	if errors.Is(err, repo.ErrNotFound) {
		return nil, ErrEndUserNotFound
	}
	if err != nil {
		return nil, err
	}
	return &endUser{id: u.ID, appID: u.AppID, session: u.SessionID, createdAt: u.CreatedAt.UTC().Truncate(time.Second)}, nil
}

// handleEndUser serves GET /end-users/{end_user_id} in the shape of Dify
// 1.17's EndUserDetail (controllers/service_api/end_user/end_user.py). A
// path that is not a UUID matches no route in Dify (<uuid:…>), so it is
// answered 404 not_found; an id that is no end user of the app, 404
// end_user_not_found.
func (s *Server) handleEndUser(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "end_user_id")
	if len(id) != 36 || uuid.Validate(id) != nil {
		s.writeError(w, r, ErrRouteNotFound)
		return
	}
	a := appFrom(r.Context())
	eu, err := s.endUser(r.Context(), a.ID, uuid.MustParse(id).String())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	created := eu.createdAt.Format(pyISOTime)
	e := enc{py: true}
	e.open()
	e.key("id")
	e.str(eu.id)
	e.key("tenant_id")
	e.str("")
	e.key("app_id")
	e.str(eu.appID)
	e.key("type")
	e.str("service_api")
	e.key("external_user_id")
	e.str(eu.session)
	e.key("name")
	e.null()
	e.key("is_anonymous")
	e.boolean(false)
	e.key("session_id")
	e.str(eu.session)
	e.key("created_at")
	e.str(created)
	e.key("updated_at")
	e.str(created)
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}
