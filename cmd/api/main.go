// Command api serves Dify's workflow service API over flowrun's engine.
//
// Configuration comes from environment variables (see config and the
// README). With none set, it serves the apps in ./examples on
// 127.0.0.1:5001 in memory mode.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/kelseyhightower/envconfig"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/cli"
	"github.com/flowrun/flowrun/internal/docextract"
	"github.com/flowrun/flowrun/internal/gctune"
	"github.com/flowrun/flowrun/internal/logbuf"
	"github.com/flowrun/flowrun/internal/nodes/code"
	"github.com/flowrun/flowrun/internal/opshttp"
	"github.com/flowrun/flowrun/internal/repo/async"
	"github.com/flowrun/flowrun/internal/repo/memory"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/tools/workflowtool"
)

// config is read from the environment; every field is documented in the
// README's table.
type config struct {
	Addr             string `envconfig:"ADDR" default:"127.0.0.1:5001"`
	AppsDir          string `envconfig:"APPS_DIR" default:"examples"`
	WorkflowRepoMode string `envconfig:"WORKFLOW_REPO_MODE" default:"memory"`
	AdminAPIKey      string `envconfig:"ADMIN_API_KEY"`
	ConsoleKey       string `envconfig:"CONSOLE_KEY"`
	DeployEnv        string `envconfig:"DEPLOY_ENV" default:"PRODUCTION"`
	EndUsers         int    `envconfig:"END_USERS_REMEMBERED" default:"10000"`

	AppMaxActiveRequests int   `envconfig:"APP_MAX_ACTIVE_REQUESTS" default:"0"`
	RunHistorySize       int   `envconfig:"RUN_HISTORY_SIZE" default:"1000"`
	RunHistoryMaxBytes   int64 `envconfig:"RUN_HISTORY_MAX_BYTES" default:"67108864"`
	ChatHistorySize      int   `envconfig:"CHAT_HISTORY_SIZE" default:"10000"`
	ChatHistoryMaxBytes  int64 `envconfig:"CHAT_HISTORY_MAX_BYTES" default:"33554432"`
	MaxRequestBodyBytes  int64 `envconfig:"MAX_REQUEST_BODY_BYTES" default:"10485760"`
	MaxBodyBytesInFlight int64 `envconfig:"MAX_REQUEST_BODY_BYTES_IN_FLIGHT" default:"67108864"`

	SSEPingInterval      time.Duration `envconfig:"SSE_PING_INTERVAL" default:"10s"`
	SSEMaxBufferedEvents int           `envconfig:"SSE_MAX_BUFFERED_EVENTS" default:"10000"`
	SSEMaxBufferedBytes  int64         `envconfig:"SSE_MAX_BUFFERED_BYTES" default:"16777216"`
	SSEMaxBufferedTotal  int64         `envconfig:"SSE_MAX_BUFFERED_BYTES_TOTAL" default:"67108864"`

	HTTPReadHeaderTimeout time.Duration `envconfig:"HTTP_READ_HEADER_TIMEOUT" default:"10s"`
	HTTPReadTimeout       time.Duration `envconfig:"HTTP_READ_TIMEOUT" default:"60s"`
	HTTPWriteTimeout      time.Duration `envconfig:"HTTP_WRITE_TIMEOUT" default:"60s"`
	HTTPIdleTimeout       time.Duration `envconfig:"HTTP_IDLE_TIMEOUT" default:"120s"`
	ShutdownTimeout       time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"30s"`
	// ShutdownGrace follows ShutdownTimeout: stopped runs get half of it
	// to end (a stop request waits as long), records are flushed in the
	// rest, and the process exits when it is over, whatever still runs.
	ShutdownGrace time.Duration `envconfig:"SHUTDOWN_GRACE" default:"10s"`

	// Engine limits, named and valued as Dify's (seconds, counts).
	WorkflowMaxExecutionTime  int `envconfig:"WORKFLOW_MAX_EXECUTION_TIME" default:"1200"`
	WorkflowMaxExecutionSteps int `envconfig:"WORKFLOW_MAX_EXECUTION_STEPS" default:"500"`
	WorkflowMaxParallel       int `envconfig:"WORKFLOW_MAX_PARALLEL" default:"10"`
	LoopNodeMaxCount          int `envconfig:"LOOP_NODE_MAX_COUNT" default:"100"`

	// Limits of the DSL documents loaded from APPS_DIR, PostgreSQL and the
	// admin API (run.DocLimits).
	DSLMaxBytes       int `envconfig:"DSL_MAX_BYTES" default:"10485760"`
	DSLMaxNodes       int `envconfig:"DSL_MAX_NODES" default:"20000"`
	DSLMaxEdges       int `envconfig:"DSL_MAX_EDGES" default:"40000"`
	DSLMaxYAMLNodes   int `envconfig:"DSL_MAX_YAML_NODES" default:"1000000"`
	DSLMaxMappingKeys int `envconfig:"DSL_MAX_MAPPING_KEYS" default:"10000"`
	DSLMaxDepth       int `envconfig:"DSL_MAX_DEPTH" default:"100"`
	// Jinja2 template budgets (run.TemplateLimits; 0: the default).
	TemplateMaxOutputBytes int `envconfig:"TEMPLATE_MAX_OUTPUT_BYTES" default:"0"`
	TemplateMaxValueBytes  int `envconfig:"TEMPLATE_MAX_VALUE_BYTES" default:"0"`
	TemplateMaxAllocBytes  int `envconfig:"TEMPLATE_MAX_ALLOC_BYTES" default:"0"`
	TemplateMaxIterations  int `envconfig:"TEMPLATE_MAX_ITERATIONS" default:"0"`
	TemplateMaxDepth       int `envconfig:"TEMPLATE_MAX_DEPTH" default:"0"`

	// Persistence (WORKFLOW_REPO_MODE=sync|async).
	DatabaseURL        string        `envconfig:"DATABASE_URL"`
	DatabaseMaxConns   int32         `envconfig:"DATABASE_MAX_CONNS" default:"16"`
	MigrateOnStart     bool          `envconfig:"MIGRATE_ON_START" default:"false"`
	RedisURL           string        `envconfig:"REDIS_URL"`
	AsyncQueue         string        `envconfig:"ASYNC_QUEUE" default:"flowrun-records"`
	AsyncFlushInterval time.Duration `envconfig:"ASYNC_FLUSH_INTERVAL" default:"5ms"`
	AsyncMaxBatch      int           `envconfig:"ASYNC_MAX_BATCH" default:"500"`
	AsyncMaxBuffered   int           `envconfig:"ASYNC_MAX_BUFFERED" default:"20000"`
	AsyncSpoolDir      string        `envconfig:"ASYNC_SPOOL_DIR"`
	AsyncAck           string        `envconfig:"ASYNC_ACK" default:"buffered"`
	// Async mode's hot chat state in Redis (internal/repo/hot).
	ChatHotTTL      time.Duration `envconfig:"CHAT_HOT_TTL" default:"24h"`
	ChatHotMaxBytes int64         `envconfig:"CHAT_HOT_MAX_BYTES" default:"4194304"`
	MetricsAddr     string        `envconfig:"METRICS_ADDR"`
	Pprof           bool          `envconfig:"PPROF" default:"false"`
	// Instance leases (sync and async): runs of an instance that stops
	// heartbeating are closed as failed ("instance lost").
	InstanceHeartbeat time.Duration `envconfig:"INSTANCE_HEARTBEAT_INTERVAL" default:"5s"`
	InstanceLostAfter time.Duration `envconfig:"INSTANCE_LOST_AFTER" default:"30s"`
	AppsReload        time.Duration `envconfig:"APPS_RELOAD_INTERVAL" default:"30s"`
	// Cluster-wide stop and limit (sync: PostgreSQL, async: Redis).
	ClusterSlotLease   time.Duration `envconfig:"CLUSTER_SLOT_LEASE" default:"30s"`
	ClusterStopAckWait time.Duration `envconfig:"CLUSTER_STOP_ACK_WAIT" default:"2s"`
	// Record partitions (sync and async): days made ahead, days dropped
	// past the retention (reposql.Partitions).
	RecordsRetention           retention     `envconfig:"RECORDS_RETENTION"`
	RecordsMaintenanceInterval time.Duration `envconfig:"RECORDS_MAINTENANCE_INTERVAL" default:"1h"`

	Nodes nodeConfig
	Files fileConfig

	LogLevel  string `envconfig:"LOG_LEVEL" default:"info"`
	LogFormat string `envconfig:"LOG_FORMAT" default:"text"`
}

// asyncAck parses ASYNC_ACK (checked in every mode, so that a typo fails
// before it matters).
func (c config) asyncAck() (async.Ack, error) {
	var ack async.Ack
	if err := ack.UnmarshalText([]byte(c.AsyncAck)); err != nil {
		return 0, fmt.Errorf("configuration: invalid ASYNC_ACK %q: %w", c.AsyncAck, async.ErrInvalidAck)
	}
	return ack, nil
}

// defaultGCPercent is the api's GOGC when the environment sets none. A run
// leaves a lot of short-lived garbage and the live heap is small (tens of
// MB), so the default of 100 collects several hundred times a second under
// load; 400 trades some 30 MB of RSS for about 40 % more runs/s (see
// docs/benchmarks.md). GOGC and GOMEMLIMIT in the environment win.
const defaultGCPercent = 400

// Soft memory limit (GOMEMLIMIT) when the environment sets none. GOGC=400
// lets the heap grow to five times the live heap; the limit makes the GC
// work harder instead once the heap nears it, so the api's RSS stays under
// 150 MB at the default sizes of its bounded structures (the async record
// buffer, the run history). Configured sizes above the defaults raise it by
// generous per-item estimates, so that a bigger live heap never leaves the
// GC running flat out against the limit. Measured in async mode (make
// bench's cells and 100k-run soak): peak RSS 309 MB with no limit, 149–150
// at 128 MiB, 136–137 at 112 MiB, with throughput and api CPU per run
// within noise of each other in two alternating runs each.
const (
	baseMemoryLimit     = 112 << 20
	bufferedRecordBytes = 4 << 10
	historyRunBytes     = 64 << 10
)

// tuneGC sets GOGC and the soft memory limit, each unless the environment
// sets it. (A bad configuration is reported by runMain.)
func tuneGC() {
	var cfg config
	limit := int64(baseMemoryLimit)
	if envconfig.Process("", &cfg) == nil {
		limit = cfg.memoryLimit()
	}
	gctune.Set(defaultGCPercent, limit)
}

// memoryLimit returns the default soft memory limit for c.
func (c config) memoryLimit() int64 {
	limit := int64(baseMemoryLimit)
	if n := c.AsyncMaxBuffered - 20000; n > 0 {
		limit += int64(n) * bufferedRecordBytes
	}
	if n := c.RunHistorySize - 1000; n > 0 {
		limit += int64(n) * historyRunBytes
	}
	if n := c.RunHistoryMaxBytes - memory.DefaultMaxBytes; n > 0 {
		limit += n
	}
	if c.WorkflowRepoMode == "memory" {
		limit += max(c.ChatHistoryMaxBytes, 0) // conversations are kept in memory only in this mode
	}
	if n := c.SSEMaxBufferedTotal - api.DefaultStreamBufferBytesTotal; n > 0 {
		limit += n
	}
	if n := c.MaxBodyBytesInFlight - api.DefaultMaxBodyBytesInFlight; n > 0 {
		limit += 2 * n // a body and the values parsed from it
	}
	return limit
}

func main() {
	// JavaScript code nodes and document extraction run in worker
	// processes of this same binary.
	code.WorkerMain()
	docextract.WorkerMain()
	if help, msg := parseArgs(os.Args[1:]); help {
		printUsage(os.Stdout)
		os.Exit(0)
	} else if msg != "" {
		fmt.Fprintf(os.Stderr, "api: %s\n\n", msg)
		printUsage(os.Stderr)
		os.Exit(2)
	}
	os.Exit(serveProcess(os.Stderr))
}

// serveProcess serves until SIGINT or SIGTERM and returns the exit status:
// 0 after a clean shutdown, 1 after any error, including runs that did not
// end when stopped at shutdown. extra node types join the built-in ones.
func serveProcess(logOut io.Writer, extra ...run.NodeType) int {
	tuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := runMain(ctx, logOut, extra...); err != nil {
		fmt.Fprintln(logOut, "flowrun api:", err)
		return 1
	}
	return 0
}

// runMain reads the configuration, loads the apps and serves until ctx is
// done, then shuts down gracefully. extra node types join the built-in
// ones (an embedding program's own, or a test's).
func runMain(ctx context.Context, logOut io.Writer, extra ...run.NodeType) error {
	var cfg config
	if err := cli.Config(&cfg); err != nil {
		return err
	}
	// Lines are written in batches (one per request would cost a system
	// call each); warnings and errors go out at once.
	logBuf := logbuf.New(logOut, 0, 0)
	defer logBuf.Close()
	logger, err := newLogger(cfg, logBuf)
	if err != nil {
		return err
	}
	if cfg.WorkflowMaxExecutionTime <= 0 || cfg.WorkflowMaxExecutionSteps <= 0 || cfg.WorkflowMaxParallel <= 0 || cfg.LoopNodeMaxCount <= 0 {
		return fmt.Errorf("configuration: WORKFLOW_MAX_EXECUTION_TIME, WORKFLOW_MAX_EXECUTION_STEPS, WORKFLOW_MAX_PARALLEL and LOOP_NODE_MAX_COUNT must be positive")
	}
	if cfg.DSLMaxBytes <= 0 || cfg.DSLMaxNodes <= 0 || cfg.DSLMaxEdges <= 0 || cfg.DSLMaxYAMLNodes <= 0 || cfg.DSLMaxMappingKeys <= 0 || cfg.DSLMaxDepth <= 0 {
		return fmt.Errorf("configuration: DSL_MAX_BYTES, DSL_MAX_NODES, DSL_MAX_EDGES, DSL_MAX_YAML_NODES, DSL_MAX_MAPPING_KEYS and DSL_MAX_DEPTH must be positive")
	}
	if cfg.ShutdownTimeout < 0 || cfg.ShutdownGrace <= 0 {
		return fmt.Errorf("configuration: SHUTDOWN_TIMEOUT must not be negative and SHUTDOWN_GRACE must be positive")
	}
	// Whatever a node or a backend does, the process ends at most
	// ShutdownTimeout+ShutdownGrace after the signal.
	defer exitAfter(ctx, cfg.ShutdownTimeout+cfg.ShutdownGrace, logger, goroutineDump(logOut, logBuf), os.Exit)()
	if _, err := cfg.asyncAck(); err != nil {
		return err
	}

	// What code nodes must never read, checked when their runtime starts.
	protect := []string{cfg.AppsDir}
	if cfg.AsyncSpoolDir != "" {
		protect = append(protect, cfg.AsyncSpoolDir)
	}
	var (
		workflows workflowtool.Deferred
		uploads   uploadStore
	)
	nodes, stopNodes, err := registry(ctx, cfg.Nodes, cfg.AppsDir, os.Environ(), protect, &workflows, &uploads, cfg.ShutdownGrace)
	if err != nil {
		return err
	}
	// Background services stop with a fresh deadline each (ctx is done by
	// then): ShutdownGrace, or ShutdownTimeout for storage's flush.
	defer stopWithin(ctx, cfg.ShutdownGrace, logger, "node runtimes", stopNodes)
	gen, err := generator(cfg.Nodes, os.Environ())
	if err != nil {
		return err
	}
	var (
		suggester api.Suggester
		namer     api.Namer
	)
	if gen != nil {
		suggester, namer = gen, gen
	}
	for _, t := range extra {
		nodes.Register(t)
	}
	eng := run.New(run.Config{
		MaxParallel:  cfg.WorkflowMaxParallel,
		MaxSteps:     cfg.WorkflowMaxExecutionSteps,
		Timeout:      time.Duration(cfg.WorkflowMaxExecutionTime) * time.Second,
		LoopMaxCount: cfg.LoopNodeMaxCount,
		Document: run.DocLimits{
			MaxBytes: cfg.DSLMaxBytes, MaxNodes: cfg.DSLMaxNodes, MaxEdges: cfg.DSLMaxEdges,
			MaxYAMLNodes: cfg.DSLMaxYAMLNodes, MaxMappingKeys: cfg.DSLMaxMappingKeys, MaxDepth: cfg.DSLMaxDepth,
		},
		Template: run.TemplateLimits{
			OutputBytes: cfg.TemplateMaxOutputBytes,
			ValueBytes:  cfg.TemplateMaxValueBytes,
			AllocBytes:  cfg.TemplateMaxAllocBytes,
			Iterations:  cfg.TemplateMaxIterations,
			Depth:       cfg.TemplateMaxDepth,
		},
		Logger: logger,
	}, nodes)
	examples := app.NewMemory(nil)
	n, err := app.LoadDir(ctx, cfg.AppsDir, eng, examples)
	if err != nil {
		return fmt.Errorf("loading apps from %s: %w", cfg.AppsDir, err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	st, err := openStorage(ctx, cfg, reg, logger)
	if err != nil {
		return err
	}
	// Flush what is buffered (async: to Redis or the spool).
	defer stopWithin(ctx, cfg.ShutdownTimeout, logger, "storage", st.stop)
	// Memory mode serves APPS_DIR as loaded. Sync and async keep apps and
	// hashed keys in PostgreSQL (cached in memory, kept in step across
	// replicas), seeded once from APPS_DIR, and hold an instance lease.
	var (
		store      app.Store = examples
		instanceID string
	)
	if st.pool != nil {
		pg, err := app.NewPostgres(st.pool, eng, app.PostgresConfig{ReloadInterval: cfg.AppsReload, Logger: logger})
		if err != nil {
			return err
		}
		if err := pg.Start(ctx); err != nil {
			return err
		}
		defer stopWithin(ctx, cfg.ShutdownGrace, logger, "app store", pg.Stop)
		seeded, err := pg.SeedFrom(ctx, examples)
		if err != nil {
			return fmt.Errorf("seeding apps from %s: %w", cfg.AppsDir, err)
		}
		apps, err := pg.List(ctx)
		if err != nil {
			return err
		}
		n, store = len(apps), pg
		logger.Info("apps from PostgreSQL", "apps", n, "seeded_from_apps_dir", seeded, "not_loadable", len(pg.LoadErrors()))

		instanceID = uuid.NewString()
		lease, err := reposql.NewLease(st.pool, reposql.LeaseConfig{InstanceID: instanceID, Heartbeat: cfg.InstanceHeartbeat, LostAfter: cfg.InstanceLostAfter, Logger: logger})
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		if err := lease.Start(ctx); err != nil {
			return err
		}
		defer stopWithin(ctx, cfg.ShutdownGrace, logger, "instance lease", lease.Stop)

		parts, err := reposql.NewPartitions(st.pool, reposql.PartitionConfig{
			Retention: time.Duration(cfg.RecordsRetention), Interval: cfg.RecordsMaintenanceInterval, Logger: logger})
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		if err := parts.Start(ctx); err != nil {
			return err
		}
		defer stopWithin(ctx, cfg.ShutdownGrace, logger, "partition maintenance", parts.Stop)
	}
	fileCfg, stopFiles, err := openFiles(ctx, cfg, st, &uploads, logger)
	if err != nil {
		return err
	}
	defer stopWithin(ctx, cfg.ShutdownGrace, logger, "uploads", stopFiles)
	if cfg.MetricsAddr != "" {
		stopMetrics, err := serveMetrics(cfg.MetricsAddr, cfg.Pprof, reg, logger)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}

	cons, hub, err := newConsole(cfg, st, store, logger)
	if err != nil {
		return err
	}
	if hub != nil {
		// Live console streams end at the signal, not after the drain;
		// nothing waits for it if runMain returns first.
		stopHub := context.AfterFunc(ctx, hub.Close)
		defer func() {
			stopHub()
			hub.Close()
		}()
	}
	cl, err := openCluster(ctx, cfg, st, instanceID, logger)
	if err != nil {
		return err
	}
	acfg := api.Config{
		Console:                cons,
		Observer:               observer(hub),
		Apps:                   store,
		Engine:                 eng,
		Records:                st.records,
		Reader:                 st.reader,
		Chats:                  st.chats,
		Users:                  st.users,
		Ready:                  st.ready,
		InstanceID:             instanceID,
		Env:                    workflowEnv(os.Environ()),
		MaxActiveRequests:      cfg.AppMaxActiveRequests,
		MaxBodyBytes:           cfg.MaxRequestBodyBytes,
		MaxBodyBytesInFlight:   cfg.MaxBodyBytesInFlight,
		PingInterval:           cfg.SSEPingInterval,
		StreamBuffer:           cfg.SSEMaxBufferedEvents,
		StreamBufferBytes:      cfg.SSEMaxBufferedBytes,
		StreamBufferBytesTotal: cfg.SSEMaxBufferedTotal,
		AdminKey:               cfg.AdminAPIKey,
		DeployEnv:              cfg.DeployEnv,
		EndUsers:               cfg.EndUsers,
		ReadHeaderTimeout:      cfg.HTTPReadHeaderTimeout,
		ReadTimeout:            cfg.HTTPReadTimeout,
		WriteTimeout:           cfg.HTTPWriteTimeout,
		IdleTimeout:            cfg.HTTPIdleTimeout,
		ShutdownTimeout:        cfg.ShutdownTimeout,
		StopWait:               cfg.ShutdownGrace / 2,
		Suggester:              suggester,
		Namer:                  namer,
		Files:                  fileCfg,
		Logger:                 logger,
	}
	cl.apiConfig(&acfg)
	srv, err := api.New(acfg)
	if err != nil {
		return err
	}
	workflows.Set(srv)
	stopCluster, err := cl.start(ctx, srv)
	if err != nil {
		return err
	}
	// After Serve returns: runs draining may still be stopped from
	// another replica.
	defer stopWithin(ctx, cfg.ShutdownGrace, logger, "cluster stop and limit", stopCluster)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return cli.ListenHint(err, "ADDR", cfg.Addr)
	}
	warnKeyless(ctx, store, logger)
	logger.Info("listening", "addr", ln.Addr().String(), "apps", n, "apps_dir", cfg.AppsDir,
		"repo_mode", cfg.WorkflowRepoMode, "admin_api", cfg.AdminAPIKey != "", "console", cons != nil)
	return srv.Serve(ctx, ln)
}

// workflowEnvPrefix marks process variables that supply workflow
// environment variables: WORKFLOW_ENV_API_KEY=… sets env.API_KEY in every
// app that declares it. Secret variables get values only this way.
const workflowEnvPrefix = "WORKFLOW_ENV_"

func workflowEnv(environ []string) map[string]string {
	out := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, workflowEnvPrefix) && len(k) > len(workflowEnvPrefix) {
			out[strings.TrimPrefix(k, workflowEnvPrefix)] = v
		}
	}
	return out
}

// serveMetrics exposes Prometheus metrics on their own listener, so they
// are not public with the API.
func serveMetrics(addr string, profiling bool, reg *prometheus.Registry, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	hs := &http.Server{Handler: opshttp.Handler(reg, profiling), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	return func() { hs.Close() }, nil
}

func newLogger(cfg config, out *logbuf.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("configuration: invalid LOG_LEVEL %q: want debug, info, warn or error", cfg.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(cfg.LogFormat) {
	case "text":
		h = slog.NewTextHandler(out, opts)
	case "json":
		h = slog.NewJSONHandler(out, opts)
	default:
		return nil, fmt.Errorf("configuration: invalid LOG_FORMAT %q: want text or json", cfg.LogFormat)
	}
	return slog.New(logbuf.Handler(h, out)), nil
}

// warnKeyless logs each app that has no API key: nobody can call it until
// one is added (keys in apps.yaml, or the admin API).
func warnKeyless(ctx context.Context, store app.Store, log *slog.Logger) {
	apps, err := store.List(ctx)
	if err != nil {
		return
	}
	for _, a := range apps {
		if keys, err := store.Keys(ctx, a.ID); err == nil && len(keys) == 0 {
			log.Warn("app has no API key: nobody can call it; add keys in apps.yaml or with the admin API (POST /admin/apps/{id}/keys)",
				"app_id", a.ID, "name", a.Name)
		}
	}
}
