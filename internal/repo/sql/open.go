package sql

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowrun/flowrun/internal/migrate"
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
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
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
