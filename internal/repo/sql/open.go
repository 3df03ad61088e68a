package sql

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowrun/flowrun/internal/migrate"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/migrations"
)

// OpenConfig configures Open.
type OpenConfig struct {
	// URL is a PostgreSQL connection URL.
	URL string
	// MaxConns caps the pool (0: pgx's default, max(4, cores)).
	MaxConns int32
	// Migrate applies pending migrations before returning. Migrations take
	// a transaction-scoped advisory lock, so replicas starting together
	// apply each migration once.
	Migrate bool
	// Wait is how long Open keeps trying to reach a server that does not
	// answer yet (0: one try), as on a first start, where the database
	// starts beside its clients.
	Wait time.Duration
}

// Open connects a pool and checks that the server answers (fail fast, so a
// process never looks started while it cannot work).
func Open(ctx context.Context, cfg OpenConfig) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	if cfg.MaxConns > 0 {
		pcfg.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("connect database: %w", err)
	}
	if err := ping(ctx, pool, cfg.Wait); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect database: %w", err)
	}
	if cfg.Migrate {
		ms, err := migrate.Load(migrations.FS)
		if err == nil {
			_, err = migrate.Up(ctx, pool, ms)
		}
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	return pool, nil
}

// ping checks that the server answers, trying again every half second
// for up to wait while it is unreachable.
func ping(ctx context.Context, pool *pgxpool.Pool, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := pool.Ping(pctx)
		cancel()
		if err == nil || !errors.Is(interpretError(err), repo.ErrUnavailable) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
