package api

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/flowrun/flowrun/internal/repo"
)

// ErrFileNotFound: a preview of a file that is not one of the app's
// uploads.
var ErrFileNotFound = errors.New("File not found in message context") //nolint:staticcheck // Dify's exact message

// rangeTypes are the media types Dify answers with Accept-Ranges: bytes.
var rangeTypes = []string{"audio/mpeg", "audio/wav", "audio/mp4", "audio/ogg", "audio/flac", "audio/aac",
	"video/mp4", "video/webm", "video/quicktime", "audio/x-m4a"}

// handlePreview serves GET /files/{file_id}/preview?user=&as_attachment=:
// the bytes of one of the app's uploads. Dify serves only files attached
// to the app's messages; flowrun keeps no message files, so it serves any
// upload of the app (and 404 file_not_found for every other id, another
// app's included).
func (s *Server) handlePreview(w http.ResponseWriter, r *http.Request) {
	s.preview(w, r, appFrom(r.Context()).ID)
}

// handleSignedPreview serves the signed URL of an upload
// (/files/{file_id}/file-preview?timestamp&nonce&sign&app_id).
func (s *Server) handleSignedPreview(w http.ResponseWriter, r *http.Request) {
	appID, err := s.cfg.Files.Signer.Verify(chi.URLParam(r, "file_id"), r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.preview(w, r, appID)
}

func (s *Server) preview(w http.ResponseWriter, r *http.Request, appID string) {
	if s.cfg.Files.Store == nil {
		s.writeError(w, r, ErrRouteNotFound)
		return
	}
	u, rc, err := s.cfg.Files.Store.Open(r.Context(), appID, chi.URLParam(r, "file_id"))
	if errors.Is(err, repo.ErrNotFound) {
		err = ErrFileNotFound
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", u.MimeType)
	if u.Size > 0 {
		h.Set("Content-Length", strconv.FormatInt(u.Size, 10))
	}
	if slices.Contains(rangeTypes, u.MimeType) {
		h.Set("Accept-Ranges", "bytes")
	}
	if truthyArg(r.URL.Query().Get("as_attachment")) || isHTML(u) {
		// HTML is always downloaded, never rendered on the API's origin.
		h.Set("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(u.Name))
		h.Set("Content-Type", "application/octet-stream")
		h.Set("X-Content-Type-Options", "nosniff")
	}
	h.Set("Cache-Control", "public, max-age=3600")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		s.log.WarnContext(r.Context(), "preview cut short", "request_id", requestIDFrom(r.Context()), "file_id", u.ID, "err", err)
	}
}

// isHTML reports an upload a browser would render as a page.
func isHTML(u *repo.Upload) bool {
	mt := strings.ToLower(u.MimeType)
	return mt == "text/html" || mt == "application/xhtml+xml" || u.Extension == "html" || u.Extension == "htm"
}

// truthyArg reads a boolean query argument as Dify's parser does.
func truthyArg(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on":
		return true
	}
	return false
}
