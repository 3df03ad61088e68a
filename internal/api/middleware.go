package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/flowrun/flowrun/internal/app"
)

// ctxKey types keep context values private to this package.
type ctxKey int

// stateKey holds the *reqState of a request.
const stateKey ctxKey = 0

// reqState is what the middleware learns about a request. One value per
// request is stored in the context (by requestID) and filled in place by
// later middleware, which saves a context and request copy per step.
type reqState struct {
	id  string
	app *app.App
}

func stateFrom(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey).(*reqState)
	if st == nil {
		return &reqState{}
	}
	return st
}

// RequestIDHeader carries the request id; a valid incoming value is
// echoed, otherwise one is generated. (Canonical form: it indexes the
// header map directly.)
const RequestIDHeader = "X-Request-Id"

func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = s.cfg.NewID()
		}
		w.Header()[RequestIDHeader] = []string{id}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey, &reqState{id: id})))
	})
}

// validRequestID accepts up to 128 characters of [A-Za-z0-9._:-], so a
// client cannot inject anything into logs or headers.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func requestIDFrom(ctx context.Context) string { return stateFrom(ctx).id }

// statusWriter records the status for the access log. Unwrap lets
// http.ResponseController reach the connection (flush, deadlines).
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

// WriteHeader records the first status.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write counts the bytes written.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush implements http.Flusher.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap exposes the wrapped writer to http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.log.Enabled(r.Context(), slog.LevelInfo) {
			next.ServeHTTP(w, r)
			return
		}
		start := s.cfg.Clock()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		// LogAttrs: typed attributes, no boxing of each value.
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", sw.status),
			slog.Int64("bytes", sw.bytes), slog.Duration("duration", s.cfg.Clock().Sub(start).Round(time.Microsecond)),
			slog.String("request_id", requestIDFrom(r.Context())))
	})
}

// recoverer turns a handler panic into a logged 500 internal_server_error.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler { //nolint:errorlint // sentinel panic value, compared as net/http does
				panic(rec)
			}
			s.log.ErrorContext(r.Context(), "handler panicked", "request_id", requestIDFrom(r.Context()),
				"method", r.Method, "path", r.URL.Path, "panic", rec, "stack", string(debug.Stack()))
			s.writeError(w, r, errPanic)
		}()
		next.ServeHTTP(w, r)
	})
}

// errPanic is logged already; writeError only answers 500.
var errPanic = errors.New("handler panicked")

// authenticate resolves the bearer key to an app, with Dify's checks and
// messages (api/controllers/service_api/wraps.py).
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, err := bearer(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		a, err := s.cfg.Apps.Authenticate(r.Context(), token)
		if errors.Is(err, app.ErrNotFound) {
			err = ErrAuthInvalid
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		stateFrom(r.Context()).app = a
		next.ServeHTTP(w, r)
	})
}

// bearer extracts the token as Dify does: the header split once on
// whitespace, the scheme compared case-insensitively.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	h = strings.TrimLeft(h, " \t")
	i := strings.IndexAny(h, " \t")
	if i < 0 {
		return "", ErrAuthMissing
	}
	scheme, token := h[:i], strings.TrimLeft(h[i:], " \t")
	if !strings.EqualFold(scheme, "bearer") {
		return "", ErrAuthScheme
	}
	if token == "" {
		return "", ErrAuthMissing
	}
	return token, nil
}

func appFrom(ctx context.Context) *app.App { return stateFrom(ctx).app }

// writeError answers err through the error table. Unexpected errors are
// logged with the request id; clients see a generic message.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	h, internal := httpError(err)
	if internal && !errors.Is(err, errPanic) {
		s.log.ErrorContext(r.Context(), "internal error", "request_id", requestIDFrom(r.Context()),
			"method", r.Method, "path", r.URL.Path, "err", err)
	}
	if h.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
	}
	if errors.Is(err, ErrServerBusy) {
		w.Header().Set("Retry-After", "1")
	}
	e := enc{py: true}
	e.open()
	e.key("code")
	e.str(h.Code)
	e.key("message")
	e.str(h.Message)
	e.key("status")
	e.int(int64(h.Status))
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, h.Status, e.b)
}

// writeJSON sends a JSON body.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
