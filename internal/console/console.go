// Package console is flowrun's web console: pages that show the apps,
// their runs with each run's node timeline, conversations, the runs in
// flight in this process as they happen, and the persister's queue in
// async mode. The api mounts it under /console (api.Config.Console).
//
// Pages are rendered on the server with html/template; one small
// embedded script follows live runs (Server-Sent Events) and expands
// truncated values, building every node it adds with textContent. No
// data is ever written into a script: the script reads URLs from data-*
// attributes and JSON from its own requests. Responses carry a strict
// Content-Security-Policy (scripts and styles from 'self' only).
//
// Everything is read-only, so pages are GETs; the two POSTs (log in, log
// out) check the request's Origin, and logging out takes a token tied to
// the session. See auth.go for how a browser authenticates.
package console

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/repo"
)

// Base is the path the console is mounted under.
const Base = "/console"

//go:embed templates/*.html static/*
var files embed.FS

// Apps lists and finds apps; app.Store implements it.
type Apps interface {
	List(ctx context.Context) ([]*app.App, error)
	Get(ctx context.Context, id string) (*app.App, error)
}

// QueueStats is the state of the persister's queue.
type QueueStats struct {
	Queue string
	// Size counts the tasks in the queue, whatever their state; Pending
	// those waiting for a persister, Active those being written, Retry
	// those that failed and wait to be retried, Archived those that ran
	// out of retries (batches of records that were not written).
	Size, Pending, Active, Scheduled, Retry, Archived int
	// Processed and Failed count today's tasks.
	Processed, Failed int
	// Lag is how long the oldest pending task has waited.
	Lag time.Duration
	// Paused reports a paused queue.
	Paused bool
}

// Queue reports the persister's queue (async mode); cmd/api adapts
// asynq's Inspector.
type Queue interface {
	Stats(ctx context.Context) (*QueueStats, error)
}

// Config configures a Console. Zero values take the defaults noted.
type Config struct {
	// Keys are the keys that open the console: the console key and the
	// admin key. At least one is required; never pass an app key.
	Keys []string
	// Apps lists the apps. Required.
	Apps Apps
	// Runs reads runs and their node executions. Required.
	Runs repo.Reader
	// Summary summarises an app's runs for the apps page (nil: no
	// figures are shown).
	Summary repo.SummaryReader
	// Conversations lists an app's conversations and Chats reads their
	// messages (nil: no conversation pages).
	Conversations repo.AppConversationReader
	Chats         repo.ChatReader
	// Queue reports the persister's queue (nil outside async mode).
	Queue Queue
	// Hub holds the runs in flight in this process; the api's Observer
	// must be the same Hub. Required.
	Hub *Hub
	// SessionTTL is how long a login lasts (default 12 h).
	SessionTTL time.Duration
	// PingInterval is the keep-alive period of live streams (default 15 s).
	PingInterval time.Duration
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// Logger receives errors (default slog.Default()).
	Logger *slog.Logger
}

// Defaults for Config fields left zero.
const (
	DefaultSessionTTL   = 12 * time.Hour
	DefaultPingInterval = 15 * time.Second
)

func (c Config) validate() error {
	switch {
	case len(c.Keys) == 0:
		return errors.New("console: at least one key is required")
	case c.Apps == nil || c.Runs == nil || c.Hub == nil:
		return errors.New("console: Config.Apps, Runs and Hub are required")
	case c.SessionTTL < 0 || c.PingInterval < 0:
		return errors.New("console: durations must not be negative")
	}
	for _, k := range c.Keys {
		if len(k) < 8 {
			return errors.New("console: keys must be at least 8 characters")
		}
	}
	return nil
}

// Console serves the web console. It implements http.Handler.
type Console struct {
	cfg    Config
	log    *slog.Logger
	auth   *auth
	pages  map[string]*template.Template
	router http.Handler
}

// New returns a Console. It fails if cfg lacks a key, Apps, Runs or Hub.
func New(cfg Config) (*Console, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.SessionTTL = cmp.Or(cfg.SessionTTL, DefaultSessionTTL)
	cfg.PingInterval = cmp.Or(cfg.PingInterval, DefaultPingInterval)
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, log: cfg.Logger, auth: newAuth(cfg.Keys, cfg.SessionTTL, cfg.Clock), pages: pages}
	c.router = c.routes()
	return c, nil
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.router.ServeHTTP(w, r) }

func (c *Console) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(secureHeaders)
	static, _ := fs.Sub(files, "static")
	r.Handle("/static/*", http.StripPrefix(Base+"/static/", http.FileServerFS(static)))
	r.Get("/login", c.loginPage)
	r.Post("/login", c.login)
	r.Group(func(r chi.Router) {
		r.Use(c.authenticate)
		r.Post("/logout", c.logout)
		r.Get("/", c.appsPage)
		r.Get("/live", c.livePage)
		r.Get("/live/events", c.liveList)
		r.Get("/health", c.healthPage)
		r.Get("/apps/{app}/runs", c.runsPage)
		r.Get("/apps/{app}/runs/{run}", c.runPage)
		r.Get("/apps/{app}/runs/{run}/events", c.runEvents)
		r.Get("/apps/{app}/runs/{run}/nodes/{node}/{field}", c.nodeValue)
		r.Get("/apps/{app}/conversations", c.conversationsPage)
		r.Get("/apps/{app}/conversations/{conversation}", c.conversationPage)
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, "Not found.")
	})
	return r
}

// csp allows the console's own script and style only: no inline script,
// no inline style, no framing, and requests to this origin only.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		// same-origin, not no-referrer: under no-referrer browsers send
		// "Origin: null" with form posts, which the POSTs' check refuses.
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
