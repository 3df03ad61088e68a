package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/app"
)

// The admin API manages apps and keys. It is mounted under /admin, only
// when Config.AdminKey is set, and takes "Authorization: Bearer <AdminKey>".
//
//	GET    /admin/apps                        list apps
//	GET    /admin/apps/{app_id}               one app
//	PUT    /admin/apps/{app_id}               create or replace from DSL (YAML or JSON body);
//	                                          ?workflow_id=<uuid> pins the workflow id
//	DELETE /admin/apps/{app_id}               delete an app, its keys and its runs
//	GET    /admin/apps/{app_id}/keys          list key ids
//	POST   /admin/apps/{app_id}/keys          add a key ({"key": "app-..."} or empty body: generated)
//	DELETE /admin/apps/{app_id}/keys/{key_id} remove a key

func (s *Server) adminRoutes(r chi.Router) {
	r.Use(s.adminAuth)
	r.Get("/apps", s.adminListApps)
	r.Get("/apps/{app_id}", s.adminGetApp)
	r.Put("/apps/{app_id}", s.adminPutApp)
	r.Delete("/apps/{app_id}", s.adminDeleteApp)
	r.Get("/apps/{app_id}/keys", s.adminListKeys)
	r.Post("/apps/{app_id}/keys", s.adminAddKey)
	r.Delete("/apps/{app_id}/keys/{key_id}", s.adminRemoveKey)
}

// adminAuth checks the admin bearer key in constant time (hashes of equal
// length are compared, so the key's length does not leak either).
func (s *Server) adminAuth(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(s.cfg.AdminKey))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AdminKey == "" {
			s.writeError(w, r, ErrAdminDisabled)
			return
		}
		token, err := bearer(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		got := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			s.writeError(w, r, ErrAuthInvalid)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func appJSON(e *enc, a *app.App) {
	e.open()
	e.key("id")
	e.str(a.ID)
	e.key("workflow_id")
	e.str(a.WorkflowID)
	e.key("name")
	e.str(a.Name)
	e.key("description")
	e.str(a.Description)
	e.key("mode")
	e.str(a.Mode)
	e.key("tags")
	e.strs(a.Tags)
	e.key("author_name")
	e.str(a.AuthorName)
	e.key("updated_at")
	e.int(a.UpdatedAt.Unix())
	e.close()
}

func keyJSON(e *enc, k app.KeyInfo, secret string) {
	e.open()
	e.key("id")
	e.str(k.ID)
	if secret != "" {
		e.key("key")
		e.str(secret)
	}
	e.key("created_at")
	e.int(k.CreatedAt.Unix())
	e.close()
}

func (s *Server) adminListApps(w http.ResponseWriter, r *http.Request) {
	apps, err := s.cfg.Apps.List(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e := enc{py: true}
	e.open()
	e.key("data")
	e.b = append(e.b, '[')
	e.first = true
	for _, a := range apps {
		e.sep()
		appJSON(&e, a)
	}
	e.b = append(e.b, ']')
	e.first = false
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

func (s *Server) adminGetApp(w http.ResponseWriter, r *http.Request) {
	a, err := s.cfg.Apps.Get(r.Context(), chi.URLParam(r, "app_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e := enc{py: true}
	appJSON(&e, a)
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

func (s *Server) adminPutApp(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "app_id")
	dsl, err := s.readBody(w, r)
	if err != nil {
		if errors.Is(err, ErrInvalidJSON) {
			err = &ParamError{Message: "could not read the request body"}
		}
		s.writeError(w, r, err)
		return
	}
	wfID := r.URL.Query().Get("workflow_id")
	if wfID == "" {
		if old, err := s.cfg.Apps.Get(r.Context(), id); err == nil {
			wfID = old.WorkflowID
		} else {
			wfID = uuid.NewString()
		}
	}
	a, err := app.New(s.cfg.Engine, id, wfID, dsl)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if old, err := s.cfg.Apps.Get(r.Context(), id); err == nil {
		a.Tags, a.AuthorName = old.Tags, old.AuthorName
	}
	created, err := s.cfg.Apps.Put(r.Context(), a)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	stored, err := s.cfg.Apps.Get(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	e := enc{py: true}
	appJSON(&e, stored)
	e.b = append(e.b, '\n')
	writeJSON(w, status, e.b)
}

func (s *Server) adminDeleteApp(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "app_id")
	if err := s.cfg.Apps.Delete(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminListKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.cfg.Apps.Keys(r.Context(), chi.URLParam(r, "app_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e := enc{py: true}
	e.open()
	e.key("data")
	e.b = append(e.b, '[')
	e.first = true
	for _, k := range keys {
		e.sep()
		keyJSON(&e, k, "")
	}
	e.b = append(e.b, ']')
	e.first = false
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

// adminAddKey adds the key in the body, or a generated one. The key is
// returned once, in the 201 response.
func (s *Server) adminAddKey(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req struct {
		Key string `json:"key"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			s.writeError(w, r, ErrInvalidJSON)
			return
		}
	}
	if req.Key == "" {
		req.Key = app.NewKey()
	}
	k, err := s.cfg.Apps.AddKey(r.Context(), chi.URLParam(r, "app_id"), req.Key)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e := enc{py: true}
	keyJSON(&e, k, req.Key)
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusCreated, e.b)
}

func (s *Server) adminRemoveKey(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Apps.RemoveKey(r.Context(), chi.URLParam(r, "app_id"), chi.URLParam(r, "key_id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
