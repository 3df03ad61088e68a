package sql

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/startstop"
)

// Defaults for LeaseConfig.
const (
	DefaultHeartbeat = 5 * time.Second
	DefaultLostAfter = 30 * time.Second
)

// LostError is the error of a run closed because its instance was lost.
const LostError = "instance lost"

// LeaseDB is what a Lease needs from pgx; *pgxpool.Pool implements it.
type LeaseDB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// LeaseConfig configures a Lease. Zero values take the defaults.
type LeaseConfig struct {
	// InstanceID identifies this process (a fresh UUID per start).
	InstanceID string
	// Heartbeat is how often the instance refreshes its lease and looks for
	// lost instances (default 5 s).
	Heartbeat time.Duration
	// LostAfter is how long an instance may miss heartbeats before its
	// running runs are closed as failed (default 30 s). Runs of a killed
	// instance are closed within LostAfter + Heartbeat by an instance that
	// has been connected to PostgreSQL for LostAfter; an instance judges
	// others only then (so that after an outage of PostgreSQL live
	// instances can refresh their leases first).
	LostAfter time.Duration
	// Logger receives what the reaper did (default slog.Default()).
	Logger *slog.Logger
}

// Lease keeps this instance's heartbeat in the instances table and closes
// the runs of instances that stopped heartbeating: runs still "running" are
// set to "failed" with error "instance lost", and so are their running node
// executions. Every instance runs the reaper; the UPDATEs are idempotent, so
// several reaping at once is harmless. A closed run keeps its version (seq):
// should the lost instance's own final record still arrive (a replayed
// spool), it is terminal with a higher version and wins.
type Lease struct {
	cfg LeaseConfig
	db  LeaseDB

	host string
	life startstop.Base
}

// NewLease returns a lease for cfg.InstanceID. Call Start, then Stop.
func NewLease(db LeaseDB, cfg LeaseConfig) (*Lease, error) {
	if !repo.ValidUUID(cfg.InstanceID) {
		return nil, fmt.Errorf("lease: instance id %q is not a UUID", cfg.InstanceID)
	}
	cfg.Heartbeat = cmp.Or(cfg.Heartbeat, DefaultHeartbeat)
	cfg.LostAfter = cmp.Or(cfg.LostAfter, DefaultLostAfter)
	if cfg.LostAfter <= cfg.Heartbeat {
		return nil, errors.New("lease: LostAfter must be longer than Heartbeat")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	l := &Lease{cfg: cfg, db: db}
	l.life.Name = "lease"
	return l, nil
}

// Start registers the instance (failing fast if PostgreSQL does not
// answer) and starts heartbeating and reaping until Stop (ctx bounds the
// registration only). Starting twice is an error.
func (l *Lease) Start(ctx context.Context) error {
	return l.life.Start(context.WithoutCancel(ctx), func(context.Context) error {
		l.host, _ = os.Hostname()
		if err := l.heartbeat(ctx); err != nil {
			return fmt.Errorf("lease: register instance: %w", interpretError(err))
		}
		l.life.Go(l.loop)
		return nil
	})
}

// Stop stops heartbeating, waiting for a heartbeat or reaping under way at
// most until ctx is done, and removes the instance's lease. A run it still
// shows as running (its last records not yet written) is then closed as
// lost by another instance's reaper, until its own final record replaces
// that. Stopping twice, or a lease never started, is a no-op.
func (l *Lease) Stop(ctx context.Context) error {
	return l.life.StopThen(ctx, func(ctx context.Context) error {
		if _, err := l.db.Exec(ctx, `DELETE FROM instances WHERE id = $1`, l.cfg.InstanceID); err != nil {
			return fmt.Errorf("lease: remove: %w", interpretError(err))
		}
		return nil
	})
}

// heartbeat registers the instance or refreshes its lease. It inserts the
// row if it is missing: an instance that could not heartbeat for
// LostAfter (PostgreSQL down, a partition) has had its row removed by a
// reaper, and must hold a lease again once it is back.
func (l *Lease) heartbeat(ctx context.Context) error {
	_, err := l.db.Exec(ctx, `INSERT INTO instances (id, hostname) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`, l.cfg.InstanceID, l.host)
	return err
}

func (l *Lease) loop(ctx context.Context) {
	t := time.NewTicker(l.cfg.Heartbeat)
	defer t.Stop()
	// connected is when this instance's heartbeats last began to succeed
	// (zero while they fail). It judges other instances only after being
	// connected for LostAfter: when PostgreSQL comes back from an outage
	// every lease in it is stale, and the live instances need a heartbeat
	// interval to refresh theirs before anyone may count them lost.
	connected := time.Now()
	for {
		if !connected.IsZero() && time.Since(connected) >= l.cfg.LostAfter {
			if _, err := l.Reap(ctx); err != nil && ctx.Err() == nil {
				l.cfg.Logger.Warn("lease: reaping lost instances failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := l.heartbeat(ctx); err != nil {
			connected = time.Time{}
			if ctx.Err() == nil {
				l.cfg.Logger.Warn("lease: heartbeat failed", "err", err)
			}
		} else if connected.IsZero() {
			connected = time.Now()
		}
	}
}

// reapSQL closes, in one statement, the running runs whose instance holds
// no live lease — it stopped heartbeating more than $1 ago, or it is gone —
// and their running node executions, then forgets stale instances. A
// gracefully stopped instance deletes its lease; if records of its last
// runs are still on their way (async), the run is closed as lost first and
// its own terminal record, with a higher version, replaces that when it
// arrives.
const reapSQL = `WITH live AS (
	SELECT id FROM instances WHERE heartbeat_at >= now() - $1::interval
), runs AS (
	UPDATE workflow_runs r SET status = 'failed', error = $3, finished_at = now(),
		elapsed_time = GREATEST(EXTRACT(EPOCH FROM now() - r.created_at), 0)
	WHERE r.status = 'running' AND r.instance_id IS NOT NULL AND r.instance_id <> $2
		AND r.instance_id NOT IN (SELECT id FROM live)
	RETURNING r.id
), nodes AS (
	UPDATE workflow_node_executions n SET status = 'failed', error = $3, finished_at = now()
	WHERE n.status IN ('running', 'retry') AND n.workflow_run_id IN (SELECT id FROM runs)
), gone AS (
	DELETE FROM instances WHERE heartbeat_at < now() - $1::interval
)
SELECT count(*) FROM runs`

// Reap closes the runs of lost instances now and reports how many it
// closed.
func (l *Lease) Reap(ctx context.Context) (int64, error) {
	var n int64
	err := l.db.QueryRow(ctx, reapSQL, fmt.Sprintf("%d milliseconds", l.cfg.LostAfter.Milliseconds()), l.cfg.InstanceID, LostError).Scan(&n)
	if err != nil {
		return 0, interpretError(err)
	}
	if n > 0 {
		l.cfg.Logger.Warn("lease: closed runs of lost instances", "runs", n, "error", LostError)
	}
	return n, nil
}
