// Command persister drains the record queue of WORKFLOW_REPO_MODE=async
// into PostgreSQL. Run several replicas for throughput or availability: each
// batch is written in one transaction by a versioned upsert, so delivery
// order and repeats do not matter.
//
//	persister            serve (the default)
//	persister migrate …  apply or revert schema migrations (see -h)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/flowrun/flowrun/internal/cli"
	"github.com/flowrun/flowrun/internal/gctune"
	"github.com/flowrun/flowrun/internal/migrate"
	"github.com/flowrun/flowrun/internal/opshttp"
	"github.com/flowrun/flowrun/internal/repo/async"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
	"github.com/flowrun/flowrun/migrations"
)

// config is read from the environment (see README).
type config struct {
	RedisURL        string        `envconfig:"REDIS_URL" required:"true"`
	DatabaseURL     string        `envconfig:"DATABASE_URL" required:"true"`
	DatabaseConns   int32         `envconfig:"DATABASE_MAX_CONNS" default:"16"`
	Queue           string        `envconfig:"PERSISTER_QUEUE" default:"flowrun-records"`
	Concurrency     int           `envconfig:"PERSISTER_CONCURRENCY" default:"8"`
	CheckInterval   time.Duration `envconfig:"PERSISTER_CHECK_INTERVAL" default:"10ms"`
	MaxRetry        int           `envconfig:"PERSISTER_MAX_RETRY" default:"25"`
	MigrateOnStart  bool          `envconfig:"MIGRATE_ON_START" default:"false"`
	MetricsAddr     string        `envconfig:"PERSISTER_METRICS_ADDR" default:"127.0.0.1:9091"`
	Pprof           bool          `envconfig:"PPROF" default:"false"`
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"30s"`
	LogLevel        slog.Level    `envconfig:"LOG_LEVEL" default:"info"`
}

// The persister decodes and encodes a lot of short-lived data over a small
// live heap (the batches in hand); as for the api, GOGC=400 with a soft
// memory limit cuts GC work. The environment's GOGC and GOMEMLIMIT win.
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 128 << 20
)

// retryDelay is asynq's default backoff, except for a batch whose lease
// expired (its persister died holding it, or Redis handed it out just as
// it stopped): its write did not fail, so it is retried at once instead of
// 15–45 s later.
func retryDelay(n int, err error, t *asynq.Task) time.Duration {
	if errors.Is(err, asynq.ErrLeaseExpired) {
		return 0
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}

// usageHead is the start of `persister -h`; the settings follow.
const usageHead = `usage: persister
       persister ` + migrate.Usage + `

Without arguments, the persister drains the execution records that api
replicas in async mode queue in Redis (asynq) into PostgreSQL, until SIGINT
or SIGTERM. "persister migrate" reads DATABASE_URL only.

Settings (variable, type, default):
`

func main() {
	if args := os.Args[1:]; len(args) > 0 && (cli.IsHelp(args[0]) || args[0] != "migrate") {
		out, status := os.Stdout, 0
		if !cli.IsHelp(args[0]) {
			out, status = os.Stderr, 2
			fmt.Fprintf(out, "persister: unexpected argument %q\n\n", args[0])
		}
		cli.Usage(out, usageHead, &config{})
		os.Exit(status)
	}
	gctune.Set(defaultGCPercent, defaultMemoryLimit)
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := mainErr(ctx, os.Args[1:]); errors.Is(err, cli.ErrConfig) {
		fmt.Fprintln(os.Stderr, "persister:", err)
		os.Exit(2)
	} else if err != nil {
		log.Error("persister failed", "error", err)
		os.Exit(1)
	}
}

func mainErr(ctx context.Context, args []string) error {
	var cfg config
	if len(args) > 0 && args[0] == "migrate" {
		var mc migrateConfig
		if err := cli.Config(&mc); err != nil {
			return err
		}
		return runMigrate(ctx, mc, args[1:])
	}
	if len(args) > 0 {
		return fmt.Errorf("unknown command %q (want no argument, or %s)", args[0], migrate.Usage)
	}
	if err := cli.Config(&cfg); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ready := make(chan struct{})
	return serve(ctx, cfg, log, ready)
}

// migrateConfig is what `persister migrate` reads.
type migrateConfig struct {
	DatabaseURL string `envconfig:"DATABASE_URL" required:"true"`
	// Wait is how long to wait for PostgreSQL to answer: on a first
	// start (docker compose up), it starts beside the migration.
	Wait time.Duration `envconfig:"MIGRATE_WAIT" default:"60s"`
}

func runMigrate(ctx context.Context, cfg migrateConfig, args []string) error {
	pool, err := reposql.Open(ctx, reposql.OpenConfig{URL: cfg.DatabaseURL, MaxConns: 2, Wait: cfg.Wait})
	if err != nil {
		return err
	}
	defer pool.Close()
	ms, err := migrate.Load(migrations.FS)
	if err != nil {
		return err
	}
	return migrate.Command(ctx, pool, ms, args, os.Stdout)
}

// serve runs the persister until ctx is done, then shuts down gracefully:
// asynq stops fetching and waits for in-flight batches (their transactions
// commit or roll back; a batch cut off is re-delivered later).
func serve(ctx context.Context, cfg config, log *slog.Logger, ready chan<- struct{}) error {
	redisOpt, err := asynq.ParseRedisURI(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	pool, err := reposql.Open(ctx, reposql.OpenConfig{URL: cfg.DatabaseURL, MaxConns: cfg.DatabaseConns, Migrate: cfg.MigrateOnStart})
	if err != nil {
		return err
	}
	defer pool.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := async.NewMetrics(reg)
	archived := prometheus.NewCounter(prometheus.CounterOpts{Name: "flowrun_batches_archived_total",
		Help: "Batches that failed every retry and were archived (inspect them with asynq's CLI)."})
	reg.MustRegister(archived)

	srv := asynq.NewServer(redisOpt, asynq.Config{
		Concurrency: cfg.Concurrency,
		Queues:      map[string]int{cfg.Queue: 1},
		// Stock asynq polls an idle queue once a second; records must reach
		// PostgreSQL within milliseconds of a run's end.
		TaskCheckInterval: cfg.CheckInterval,
		RetryDelayFunc:    retryDelay,
		ShutdownTimeout:   cfg.ShutdownTimeout,
		Logger:            asynqLogger{log},
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			retried, _ := asynq.GetRetryCount(ctx)
			maxRetry, _ := asynq.GetMaxRetry(ctx)
			if errors.Is(err, asynq.SkipRetry) || retried >= maxRetry {
				archived.Inc()
				log.Error("persister: batch archived", "error", err, "retried", retried, "task_id", taskID(ctx))
				return
			}
			log.Warn("persister: batch failed; will retry", "error", err, "retried", retried, "max_retry", maxRetry, "task_id", taskID(ctx))
		}),
	})
	if err := srv.Ping(); err != nil {
		return fmt.Errorf("connect redis: %w", err)
	}
	if err := srv.Start(async.NewHandler(reposql.New(pool, reposql.InsertFirst()), log, metrics)); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	hs := &http.Server{Addr: cfg.MetricsAddr, Handler: opshttp.Handler(reg, cfg.Pprof), ReadHeaderTimeout: 5 * time.Second}
	httpErr := make(chan error, 1)
	go func() {
		if err := hs.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			httpErr <- err
		}
	}()
	log.Info("persister started", "queue", cfg.Queue, "concurrency", cfg.Concurrency, "metrics", cfg.MetricsAddr)
	close(ready)

	select {
	case <-ctx.Done():
	case err = <-httpErr:
		err = fmt.Errorf("metrics server: %w", err)
	}
	log.Info("persister stopping")
	srv.Shutdown()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	return err
}

func taskID(ctx context.Context) string {
	id, _ := asynq.GetTaskID(ctx)
	return id
}

// asynqLogger routes asynq's logs to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }
