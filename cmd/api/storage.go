package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/flowrun/flowrun/internal/console"
	"github.com/flowrun/flowrun/internal/record"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/async"
	"github.com/flowrun/flowrun/internal/repo/hot"
	"github.com/flowrun/flowrun/internal/repo/memory"
	"github.com/flowrun/flowrun/internal/repo/retry"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
)

// storage is what WORKFLOW_REPO_MODE chose: where records go, where the
// run-log API reads, and how to check and stop it.
type storage struct {
	// pool is the PostgreSQL pool of the sync and async modes (nil in
	// memory mode): apps, keys and leases live there too.
	pool *pgxpool.Pool
	// rdb is the Redis client of async mode (nil otherwise): the hot chat
	// state and the cluster-wide stop and limit use it.
	rdb redis.UniversalClient
	// records is where runs' records go, the mode's way (record.Memory,
	// Sync or Async); reader serves the run-log API.
	records record.Records
	reader  repo.Reader
	// users reads the end users every replica saw (nil in memory mode).
	users repo.EndUserReader
	// chats serves chat turns and the conversation API.
	chats repo.ChatReader
	// summary and convs serve the console's apps and conversation pages;
	// queue reports the persister's queue (async only).
	summary repo.SummaryReader
	convs   repo.AppConversationReader
	queue   console.Queue
	ready   func(ctx context.Context) error
	stop    func(ctx context.Context) error
}

// openStorage builds the storage of cfg.WorkflowRepoMode. A mode whose
// services are not configured or do not answer is a startup error.
//
//   - memory: records are kept in a bounded in-memory store only.
//   - sync:   records are written to PostgreSQL, pipelined per run; a run's
//     records are committed before its end reaches the client. Records
//     whose write failed are written again in the background.
//   - async:  records are handed to Redis (asynq) for cmd/persister and kept
//     in memory for read-your-writes; reads fall back to PostgreSQL. With
//     ASYNC_ACK=enqueued a run's end reaches the client only once its
//     records are in Redis or the spool. Chat records also go to the hot
//     chat state in Redis, which conversation reads go through.
func openStorage(ctx context.Context, cfg config, reg prometheus.Registerer, log *slog.Logger) (*storage, error) {
	recent, err := memory.New(memory.Config{
		Capacity: cfg.RunHistorySize, MaxBytes: cfg.RunHistoryMaxBytes,
		Conversations: cfg.ChatHistorySize, ChatBytes: cfg.ChatHistoryMaxBytes,
	})
	if err != nil {
		return nil, err
	}
	noop := func(context.Context) error { return nil }
	switch cfg.WorkflowRepoMode {
	case "memory":
		return &storage{records: record.Memory(recent), reader: recent, chats: recent, summary: recent, convs: recent, ready: noop, stop: noop}, nil
	case "sync":
		if cfg.DatabaseURL == "" {
			return nil, errors.New("configuration: WORKFLOW_REPO_MODE=sync needs DATABASE_URL")
		}
		pool, err := reposql.Open(ctx, reposql.OpenConfig{URL: cfg.DatabaseURL, MaxConns: cfg.DatabaseMaxConns, Migrate: cfg.MigrateOnStart})
		if err != nil {
			return nil, err
		}
		store := reposql.New(pool)
		// Records whose write failed are written again once PostgreSQL is
		// back, so a run cut off by an outage does not stay "running".
		retrier := retry.New(store, retry.Config{Logger: log})
		if err := retrier.Start(ctx); err != nil {
			pool.Close()
			return nil, err
		}
		return &storage{
			pool:    pool,
			records: record.Sync(retrier), reader: store, users: store, chats: store, summary: store, convs: store,
			ready: pool.Ping,
			stop: func(ctx context.Context) error {
				err := retrier.Stop(ctx)
				pool.Close()
				return err
			},
		}, nil
	case "async":
		var missing []string
		if cfg.RedisURL == "" {
			missing = append(missing, "REDIS_URL")
		}
		if cfg.DatabaseURL == "" {
			missing = append(missing, "DATABASE_URL (for reading runs)")
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("configuration: WORKFLOW_REPO_MODE=async needs %v", missing)
		}
		ack, err := cfg.asyncAck()
		if err != nil {
			return nil, err
		}
		redisOpt, err := asynq.ParseRedisURI(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("configuration: REDIS_URL: %w", err)
		}
		pool, err := reposql.Open(ctx, reposql.OpenConfig{URL: cfg.DatabaseURL, MaxConns: cfg.DatabaseMaxConns, Migrate: cfg.MigrateOnStart})
		if err != nil {
			return nil, err
		}
		client := asynq.NewClient(redisOpt)
		insp := asynq.NewInspector(redisOpt)
		rdb, err := redisClient(cfg.RedisURL)
		if err != nil {
			return nil, err
		}
		chatLog, err := hot.New(rdb, hot.Config{TTL: cfg.ChatHotTTL, MaxBytes: cfg.ChatHotMaxBytes})
		if err != nil {
			return nil, fmt.Errorf("configuration: CHAT_HOT_TTL or CHAT_HOT_MAX_BYTES: %w", err)
		}
		// Fail fast when Redis is down at start; later outages are
		// absorbed by the spool.
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := client.Ping(); err != nil || pctx.Err() != nil {
			client.Close()
			rdb.Close()
			pool.Close()
			return nil, fmt.Errorf("connect redis: %w", err)
		}
		w, err := async.New(client, async.Config{
			Queue: cfg.AsyncQueue, FlushInterval: cfg.AsyncFlushInterval, MaxBatch: cfg.AsyncMaxBatch,
			MaxBuffered: cfg.AsyncMaxBuffered, SpoolDir: cfg.AsyncSpoolDir, Logger: log, Metrics: async.NewMetrics(reg),
			Ack: ack,
		})
		if err != nil {
			client.Close()
			rdb.Close()
			pool.Close()
			return nil, err
		}
		if err := w.Start(ctx); err != nil {
			return nil, err
		}
		cold := reposql.New(pool)
		return &storage{
			pool: pool,
			rdb:  rdb,
			// Recent runs are kept in memory too, for read-your-writes.
			// ASYNC_ACK=enqueued promises that a run the client sees finish
			// is in Redis or the spool: tell the client when it is not.
			records: record.Async(repo.ChatAfter(w, chatLog), record.AsyncConfig{Mirror: recent, Durable: ack == async.AckEnqueued}),
			chats:   repo.NewOverlay(chatLog, replayStore, cold),
			reader:  repo.Fallback(recent, cold),
			users:   cold,
			// The console's summaries and lists read the complete store.
			summary: cold, convs: cold, queue: queueStats{insp: insp, queue: cfg.AsyncQueue},
			ready: func(ctx context.Context) error {
				if err := pool.Ping(ctx); err != nil {
					return err
				}
				if _, err := insp.Queues(); err != nil {
					return err
				}
				return chatLog.Ping(ctx)
			},
			stop: func(ctx context.Context) error {
				err := w.Stop(ctx)
				client.Close()
				insp.Close()
				rdb.Close()
				pool.Close()
				return err
			},
		}, nil
	}
	return nil, fmt.Errorf("configuration: invalid WORKFLOW_REPO_MODE %q: want memory, sync or async", cfg.WorkflowRepoMode)
}

// redisClient returns a go-redis client of url (the hot chat state's).
func redisClient(url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("configuration: REDIS_URL: %w", err)
	}
	return redis.NewClient(opt), nil
}

// replayStore is the store a conversation's hot log is replayed into for
// one read: the in-memory store, holding that one conversation.
func replayStore() repo.ChatStore {
	s, err := memory.New(memory.Config{Capacity: 1, Conversations: 1, ChatBytes: 1 << 40})
	if err != nil {
		panic(err) // the configuration is constant and valid
	}
	return s
}
