package viapg

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowrun/flowrun/internal/cluster"
)

// DefaultLease is how long a slot outlives its replica's last refresh
// when LimitConfig.Lease is zero.
const DefaultLease = 30 * time.Second

// LimitConfig configures a Limiter. Zero values take the defaults.
type LimitConfig struct {
	// InstanceID names this replica's slots, so that it refreshes them
	// all in one statement. Required.
	InstanceID string
	// Lease is how long a slot lives unless refreshed (default 30 s). The
	// replica refreshes its slots every Lease/3, so the slots of a
	// replica that died come back within Lease.
	Lease time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Limiter holds each app's active runs as rows of the UNLOGGED table
// active_requests (migration 009), leased like the Redis limiter's hash
// entries. Taking a slot is one round trip: a batch, which PostgreSQL runs
// as one implicit transaction, that takes a transaction-scoped advisory
// lock on the app (so that concurrent takers count in turn) and inserts
// the slot only if fewer than the limit are unexpired. It implements the
// api's Limiter; Start it, then Stop it.
type Limiter struct {
	pool *pgxpool.Pool
	cfg  LimitConfig

	// Ticker refreshes this replica's slots every Lease/3 between Start
	// and Stop, and deletes expired ones.
	*cluster.Ticker
}

// NewLimiter returns a Limiter on pool.
func NewLimiter(pool *pgxpool.Pool, cfg LimitConfig) (*Limiter, error) {
	if cfg.InstanceID == "" {
		return nil, errors.New("viapg: LimitConfig.InstanceID is required")
	}
	if cfg.Lease < 0 {
		return nil, errors.New("viapg: LimitConfig.Lease must not be negative")
	}
	cfg.Lease = cmp.Or(cfg.Lease, DefaultLease)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	l := &Limiter{pool: pool, cfg: cfg}
	l.Ticker = cluster.NewTicker(cfg.Lease/3, l.Refresh, cfg.Logger, "refreshing active-request slots")
	return l, nil
}

func (l *Limiter) lease() string { return fmt.Sprintf("%d milliseconds", l.cfg.Lease.Milliseconds()) }

// Acquire implements the api's Limiter.
func (l *Limiter) Acquire(ctx context.Context, appID, slot string, limit int) (bool, error) {
	b := &pgx.Batch{}
	// The lock's key includes the schema: deployments in other schemas
	// count other rows.
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended('flowrun.active_requests:' || current_schema() || ':' || $1, 0))`, appID)
	b.Queue(`INSERT INTO active_requests (app_id, slot, instance_id, expires_at)
SELECT $1, $2, $3, now() + $5::interval
WHERE (SELECT count(*) FROM active_requests WHERE app_id = $1 AND expires_at >= now()) < $4`,
		appID, slot, l.cfg.InstanceID, limit, l.lease())
	br := l.pool.SendBatch(ctx, b)
	_, err := br.Exec()
	var tag int64
	if err == nil {
		var ct interface{ RowsAffected() int64 }
		ct, err = br.Exec()
		if err == nil {
			tag = ct.RowsAffected()
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("acquire slot: %w", err)
	}
	return tag == 1, nil
}

// Release implements the api's Limiter.
func (l *Limiter) Release(ctx context.Context, appID, slot string) error {
	if _, err := l.pool.Exec(ctx, `DELETE FROM active_requests WHERE app_id = $1 AND slot = $2`, appID, slot); err != nil {
		return fmt.Errorf("release slot: %w", err)
	}
	return nil
}

// Refresh extends the lease of every slot this replica holds and deletes
// expired slots, of any replica (Start calls it every Lease/3).
func (l *Limiter) Refresh(ctx context.Context) error {
	b := &pgx.Batch{}
	b.Queue(`UPDATE active_requests SET expires_at = now() + $2::interval WHERE instance_id = $1`, l.cfg.InstanceID, l.lease())
	b.Queue(`DELETE FROM active_requests WHERE expires_at < now()`)
	if err := l.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("refresh slots: %w", err)
	}
	return nil
}
