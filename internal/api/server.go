// Package api serves Dify's workflow service API over flowrun's engine, so
// that existing Dify clients work against flowrun's base URL.
//
// Routes are mounted both at / and under /v1. A run request selects its
// app by bearer key, validates its inputs like Dify, and runs the workflow
// on a goroutine owned by the Server, not by the request: a client that
// disconnects never stops or corrupts a run. Blocking requests wait for the
// run; streaming requests get Server-Sent Events written by the request's
// goroutine from a per-request queue, so a slow client never slows the
// engine.
//
// Shutdown drains: new runs are refused, in-flight runs may finish until
// the deadline, and runs still going then are stopped (status "stopped").
package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/record"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/run"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxBodyBytes = 10 << 20
	// DefaultMaxBodyBytesInFlight is how much the bodies of the run and
	// stop requests in flight may hold together (64 MiB).
	DefaultMaxBodyBytesInFlight = 64 << 20
	DefaultPingInterval         = 10 * time.Second
	DefaultStreamBuffer         = 10000
	// DefaultStreamBufferBytes is how much memory the events waiting for
	// one streaming client may hold (16 MiB).
	DefaultStreamBufferBytes = 16 << 20
	// DefaultStreamBufferBytesTotal is how much the waiting events of all
	// streaming clients may hold together (64 MiB).
	DefaultStreamBufferBytesTotal = 64 << 20
	DefaultReadHeaderTimeout      = 10 * time.Second
	DefaultReadTimeout            = 60 * time.Second
	DefaultWriteTimeout           = 60 * time.Second
	DefaultIdleTimeout            = 120 * time.Second
	DefaultShutdownTimeout        = 30 * time.Second
	DefaultStopWait               = 10 * time.Second
	// DefaultServerVersion is the Dify version whose API flowrun follows,
	// reported by GET / and the X-Version header: the version Dify's
	// official SDKs are verified against.
	DefaultServerVersion = "1.17.1"
	// DefaultDeployEnv is the X-Env header's value, Dify's DEPLOY_ENV
	// default.
	DefaultDeployEnv = "PRODUCTION"
)

// ErrShutdownStop is the cause given to runs still going when the shutdown
// deadline passes. It wraps run.ErrStopped, so they end "stopped".
var ErrShutdownStop = fmt.Errorf("server shutdown: %w", run.ErrStopped)

// ErrRunsStuck is returned by Shutdown and Serve when runs were stopped at
// the shutdown deadline but had not ended StopWait later: a node of theirs
// ignores cancellation. Serve then closes every connection at once and
// returns, leaving those runs' goroutines behind for the process to end.
var ErrRunsStuck = errors.New("runs did not end after being stopped")

// Engine compiles and runs workflows; *run.Engine implements it.
type Engine interface {
	Compile(data []byte) (*run.Workflow, error)
	Run(ctx context.Context, wf *run.Workflow, p run.Params, l run.Listener) *run.RunInfo
}

// Config configures a Server. Zero values take the defaults noted.
type Config struct {
	// Apps resolves API keys to apps. Required.
	Apps app.Store
	// Engine runs the workflows. Required.
	Engine Engine
	// Records is where every run's records go, as the storage mode
	// decided (record.Memory, Sync or Async). Required.
	Records record.Records
	// Reader serves GET /workflows/run/{id}, /workflows/logs and
	// /workflows/run/{id}/node-executions. Required.
	Reader repo.Reader
	// Chats reads conversations and messages for chat turns and the chat
	// API (default: Reader, when it is a repo.ChatReader). Chat records
	// are written through Records with the runs'.
	Chats repo.ChatReader
	// Files configures uploads and the file inputs of runs.
	Files Files
	// Suggester generates suggested questions after an answer (nil: none
	// are suggested, as when Dify's model fails).
	Suggester Suggester
	// Namer names new conversations whose first turn asks for it
	// (auto_generate_name); nil keeps the name they are created with.
	Namer Namer
	// Env supplies workflow environment variables by name to every run
	// (secret variables get their values only from here).
	Env map[string]string
	// InstanceID is recorded with every run (the instance's lease id in
	// sync and async modes; "" in memory mode).
	InstanceID string
	// Ready, when set, is checked by GET /readyz (e.g. that PostgreSQL and
	// Redis answer); an error makes the server report itself not ready.
	Ready func(ctx context.Context) error
	// MaxActiveRequests caps concurrent runs per app, like Dify's
	// APP_MAX_ACTIVE_REQUESTS (0: unlimited).
	MaxActiveRequests int
	// Limiter, when set, holds MaxActiveRequests across the replicas of
	// the deployment (nil: this process's runs only).
	Limiter Limiter
	// Stopper, when set, carries a stop request for a task this server
	// does not run to the other replicas (nil: such a stop finds nothing
	// to stop, as in memory mode).
	Stopper Stopper
	// MaxBodyBytes caps request bodies (default 10 MiB).
	MaxBodyBytes int64
	// MaxBodyBytesInFlight bounds the bodies of the run and stop requests
	// in flight, counted until their run and response are done (default
	// 64 MiB): a body over 64 KiB that would pass it is refused with 503
	// and Retry-After, its bytes dropped as they arrive. Smaller bodies
	// are always admitted.
	MaxBodyBytesInFlight int64
	// PingInterval is the SSE keep-alive period (default 10 s).
	PingInterval time.Duration
	// StreamBuffer is how many events may wait for a slow streaming client
	// before the server gives up on it (default 10000). The run itself
	// always goes on.
	StreamBuffer int
	// StreamBufferBytes bounds the memory (estimated, see run.Sizer) that
	// the events waiting for one streaming client hold; a client that
	// falls further behind gets an error event and its stream ends, while
	// the run goes on (default 16 MiB). A first event is always sent,
	// whatever its size.
	StreamBufferBytes int64
	// StreamBufferBytesTotal bounds the same across all streams: a stream
	// whose next event would pass it ends likewise (default 64 MiB).
	StreamBufferBytesTotal int64
	// Observer, when set, sees every run this server executes, as it
	// happens (the console's live view).
	Observer Observer
	// Console, when set, is mounted under /console with its own
	// authentication (the web console, package console).
	Console http.Handler
	// AdminKey enables the admin API under /admin with this bearer key
	// ("": admin API disabled).
	AdminKey string
	// ServerVersion is reported by GET / and in the X-Version header of
	// every response (default "1.17.1").
	ServerVersion string
	// EndUsers is how many end users (API callers, per app) the server
	// remembers for GET /end-users/{id}, the most recent first (default
	// 10000, about 1 MiB).
	EndUsers int
	// Users, when set, reads the end users that other processes saw, for
	// GET /end-users/{id} (nil: only those this process remembers, as in
	// memory mode).
	Users repo.EndUserReader
	// DeployEnv is sent in the X-Env header of every response, as Dify
	// sends its DEPLOY_ENV (default "PRODUCTION").
	DeployEnv string

	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout
	// configure the http.Server used by Serve (defaults 10 s, 60 s, 60 s,
	// 120 s). Run requests lift the read and write deadlines while the
	// run goes on; WriteTimeout then bounds each write.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// ShutdownTimeout is how long Serve lets in-flight runs finish after
	// its context ends (default 30 s).
	ShutdownTimeout time.Duration
	// StopWait bounds how long Shutdown waits for stopped runs to end,
	// and how long a stop request waits for its run to end before it
	// answers (default 10 s).
	StopWait time.Duration

	// NewID returns task and run ids (default: run.NewID, time-ordered
	// UUIDs).
	NewID func() string
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// Logger receives request logs and internal errors (default
	// slog.Default()).
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, DefaultMaxBodyBytes)
	c.MaxBodyBytesInFlight = cmp.Or(c.MaxBodyBytesInFlight, DefaultMaxBodyBytesInFlight)
	c.PingInterval = cmp.Or(c.PingInterval, DefaultPingInterval)
	c.StreamBuffer = cmp.Or(c.StreamBuffer, DefaultStreamBuffer)
	c.StreamBufferBytes = cmp.Or(c.StreamBufferBytes, DefaultStreamBufferBytes)
	c.StreamBufferBytesTotal = cmp.Or(c.StreamBufferBytesTotal, DefaultStreamBufferBytesTotal)
	c.ServerVersion = cmp.Or(c.ServerVersion, DefaultServerVersion)
	c.DeployEnv = cmp.Or(c.DeployEnv, DefaultDeployEnv)
	c.EndUsers = cmp.Or(c.EndUsers, DefaultEndUsers)
	c.ReadHeaderTimeout = cmp.Or(c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	c.ReadTimeout = cmp.Or(c.ReadTimeout, DefaultReadTimeout)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, DefaultWriteTimeout)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, DefaultShutdownTimeout)
	c.StopWait = cmp.Or(c.StopWait, DefaultStopWait)
	if c.NewID == nil {
		c.NewID = run.NewID
	}
	c.Files = c.Files.withDefaults()
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Chats == nil {
		if cr, ok := c.Reader.(repo.ChatReader); ok {
			c.Chats = cr
		} else {
			c.Chats = noChats{}
		}
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Apps == nil:
		return errors.New("api: Config.Apps is required")
	case c.Engine == nil:
		return errors.New("api: Config.Engine is required")
	case c.Records == nil:
		return errors.New("api: Config.Records is required")
	case c.Reader == nil:
		return errors.New("api: Config.Reader is required")
	case c.MaxActiveRequests < 0:
		return errors.New("api: MaxActiveRequests must not be negative")
	case c.MaxBodyBytes < 0 || c.PingInterval < 0 || c.StreamBuffer < 0 ||
		c.StreamBufferBytes < 0 || c.StreamBufferBytesTotal < 0 || c.MaxBodyBytesInFlight < 0 || c.EndUsers < 0:
		return errors.New("api: limits must not be negative")
	}
	return nil
}

// Observer is told of each run as it starts. The listener it returns (nil
// for none) gets the run's events on the engine's goroutine, so it must
// hand them off quickly; done (nil for none) is called once the run has
// ended and its records are written, so that a reader then finds them.
type Observer interface {
	Observe(appID, runID string) (l run.Listener, done func())
}

// Server is the HTTP API. It implements http.Handler.
type Server struct {
	cfg    Config
	log    *slog.Logger
	router http.Handler
	// runCtx parents every run: runs outlive their requests.
	runCtx context.Context
	// streamBytes is what the events waiting for streaming clients hold,
	// all streams together (StreamBufferBytesTotal).
	streamBytes *budget
	// bodies is what the bodies of requests in flight hold
	// (MaxBodyBytesInFlight).
	bodies *budget
	// endUsers are the API callers GET /end-users/{id} knows.
	endUsers *endUsers

	mu       sync.Mutex
	draining bool
	tasks    map[string]*task // by task id
	active   map[string]int   // running runs by app id
	runs     sync.WaitGroup
}

// task is a run in progress, for stop requests and shutdown.
type task struct {
	appID string
	runID string
	// user is the run's "user" argument: only the same user may stop it.
	user   string
	cancel context.CancelCauseFunc
	// done, made (under Server.mu) by the first stop request that waits
	// for the run, is closed once the run has ended and its records are
	// written. Runs nobody stops never pay for it.
	done chan struct{}
}

// New returns a Server. It fails if cfg lacks Apps or Engine or has
// negative limits.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:         cfg,
		log:         cfg.Logger,
		runCtx:      context.Background(),
		streamBytes: newBudget(cfg.StreamBufferBytesTotal),
		bodies:      newBudget(cfg.MaxBodyBytesInFlight),
		endUsers:    newEndUsers(cfg.EndUsers),
		tasks:       map[string]*task{},
		active:      map[string]int{},
	}
	s.router = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.versionHeaders(), s.requestID, s.accessLog, s.recoverer)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { s.writeError(w, r, ErrRouteNotFound) })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) { s.writeError(w, r, ErrMethodNotAllowed) })

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Route("/admin", s.adminRoutes)
	// Signed URLs of uploads (source_url, a File's url): no API key, the
	// signature is the credential (Dify serves them outside /v1 too).
	r.Get("/files/{file_id}/file-preview", s.handleSignedPreview)
	if s.cfg.Console != nil {
		r.Mount("/console", s.cfg.Console)
	}

	service := func(r chi.Router) {
		r.Get("/", s.welcome)
		r.Group(func(r chi.Router) {
			r.Use(s.authenticate)
			r.Post("/workflows/run", s.handleRun)
			r.Post("/workflows/{workflow_id}/run", s.handleRun)
			r.Post("/workflows/tasks/{task_id}/stop", s.handleStop)
			r.Get("/workflows/run/{workflow_run_id}", s.handleGetRun)
			r.Get("/workflows/run/{workflow_run_id}/node-executions", s.handleNodeExecutions)
			r.Get("/workflows/logs", s.handleLogs)
			r.Post("/chat-messages", s.handleChat)
			r.Post("/chat-messages/{task_id}/stop", s.handleChatStop)
			r.Get("/conversations", s.handleConversations)
			r.Delete("/conversations/{conversation_id}", s.handleConversationDelete)
			r.Post("/conversations/{conversation_id}/name", s.handleConversationRename)
			r.Get("/conversations/{conversation_id}/variables", s.handleVariables)
			r.Put("/conversations/{conversation_id}/variables/{variable_id}", s.handleVariableUpdate)
			r.Get("/messages", s.handleMessages)
			r.Post("/messages/{message_id}/feedbacks", s.handleFeedback)
			r.Get("/messages/{message_id}/suggested", s.handleSuggested)
			r.Get("/app/feedbacks", s.handleFeedbacks)
			r.Get("/info", s.handleInfo)
			r.Get("/parameters", s.handleParameters)
			r.Post("/files/upload", s.handleUpload)
			r.Get("/files/{file_id}/preview", s.handlePreview)
			r.Get("/site", s.handleSite)
			r.Get("/meta", s.handleMeta)
			r.Get("/end-users/{end_user_id}", s.handleEndUser)
		})
	}
	service(r)
	r.Route("/v1", service)
	return r
}

// Serve serves HTTP on ln until ctx is done, then shuts down gracefully:
// it stops accepting connections, lets in-flight runs finish for
// ShutdownTimeout, stops the rest (status "stopped") and lets their
// responses complete. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "grace", s.cfg.ShutdownTimeout)
	base := context.WithoutCancel(ctx)
	// The HTTP server may take a little longer than the runs: stopped runs
	// still write their final event.
	hctx, hcancel := context.WithTimeout(base, s.cfg.ShutdownTimeout+s.cfg.StopWait+s.cfg.WriteTimeout)
	defer hcancel()
	httpDone := make(chan error, 1)
	go func() { httpDone <- hs.Shutdown(hctx) }()

	dctx, dcancel := context.WithTimeout(base, s.cfg.ShutdownTimeout)
	defer dcancel()
	stuck := s.Shutdown(dctx)
	switch {
	case errors.Is(stuck, ErrRunsStuck):
		// Their requests will never complete: waiting for them would only
		// hold up the rest of the shutdown (flushing records).
		_ = hs.Close()
	case stuck != nil:
		s.log.Warn("runs stopped at shutdown deadline", "err", stuck)
		stuck = nil
	}
	if err := <-httpDone; err != nil {
		s.log.Warn("forcing connections closed", "err", err)
		_ = hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	if stuck != nil {
		return fmt.Errorf("shutdown: %w", stuck)
	}
	s.log.Info("shut down")
	return nil
}

// Shutdown refuses new runs and waits for in-flight ones until ctx is done;
// then it stops those still going with ErrShutdownStop and waits up to
// StopWait for them to end. It returns nil if all finished in time, ctx's
// error if runs had to be stopped, and an error wrapping ErrRunsStuck
// (after logging each of them) if some had not ended StopWait later.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	idle := make(chan struct{})
	go func() { s.runs.Wait(); close(idle) }()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	n := len(s.tasks)
	for _, t := range s.tasks {
		t.cancel(ErrShutdownStop)
	}
	s.mu.Unlock()
	s.log.Warn("stopping runs still in flight", "runs", n)
	t := time.NewTimer(s.cfg.StopWait)
	defer t.Stop()
	select {
	case <-idle:
		return ctx.Err()
	case <-t.C:
	}
	s.mu.Lock()
	n = len(s.tasks)
	for id, t := range s.tasks {
		s.log.Error("run did not stop in time", "app_id", t.appID, "task_id", id, "run_id", t.runID, "wait", s.cfg.StopWait)
	}
	s.mu.Unlock()
	return fmt.Errorf("%w: %d still running %s after they were stopped", ErrRunsStuck, n, s.cfg.StopWait)
}

// acquire reserves a run slot for a (Dify's APP_MAX_ACTIVE_REQUESTS),
// named slot (the run's task id) in the cluster-wide Limiter. Every
// successful acquire must be paired with release.
func (s *Server) acquire(ctx context.Context, appID, slot string) error {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return ErrShuttingDown
	}
	if max := s.cfg.MaxActiveRequests; max > 0 && s.active[appID] >= max {
		s.mu.Unlock()
		return &TooManyRequestsError{AppID: appID, Limit: max}
	}
	s.active[appID]++
	s.runs.Add(1)
	s.mu.Unlock()
	if s.cfg.Limiter != nil && s.cfg.MaxActiveRequests > 0 {
		if err := s.acquireCluster(ctx, appID, slot); err != nil {
			s.releaseLocal(appID)
			return err
		}
	}
	return nil
}

// release frees the slot acquire reserved.
func (s *Server) release(appID, slot string) {
	if s.cfg.Limiter != nil && s.cfg.MaxActiveRequests > 0 {
		s.releaseCluster(appID, slot)
	}
	s.releaseLocal(appID)
}

func (s *Server) releaseLocal(appID string) {
	s.mu.Lock()
	if s.active[appID]--; s.active[appID] <= 0 {
		delete(s.active, appID)
	}
	s.mu.Unlock()
	s.runs.Done()
}

// maxTaskIDLen bounds the task ids a stop sends to other replicas (ours
// are 36-character UUIDs).
const maxTaskIDLen = 128

// stop stops the task with taskID if it is a run of appID started by
// user, wherever it runs, and waits until the run has ended, at most
// StopWait (on the replica that runs it) or until ctx is done. Unknown
// tasks, and tasks of another app or another user, are ignored, as Dify's
// user-checked stop flag ignores them: the caller cannot tell them apart.
// It returns a *StopTimeoutError if the run was still going when the wait
// ended.
func (s *Server) stop(ctx context.Context, appID, user, taskID string) error {
	if wait, ok := s.CancelTask(taskID, appID, user); ok {
		return wait(ctx)
	}
	if s.cfg.Stopper == nil || len(taskID) > maxTaskIDLen {
		// A forged giant id is held by nobody: it is not sent around.
		return nil
	}
	held, err := s.cfg.Stopper.StopTask(ctx, taskID, appID, user)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case held:
		s.log.Error("stopped run did not end in time on its replica", "app_id", appID, "task_id", taskID, "err", err)
		return &StopTimeoutError{Wait: s.cfg.StopWait}
	}
	return fmt.Errorf("stop task %s on other replicas: %w", run.Clip(taskID), err)
}
