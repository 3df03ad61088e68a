package sql

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowrun/flowrun/internal/startstop"
)

// Defaults for PartitionConfig.
const (
	DefaultPartitionInterval = time.Hour
	DefaultPartitionsAhead   = 7
)

// PartitionedTables are the tables partitioned by day (migration 006).
var PartitionedTables = []string{"workflow_runs", "workflow_node_executions", "workflow_app_logs", "messages"}

// partitionLock keys the advisory lock that one maintainer holds while it
// works on the current schema's partitions.
const partitionLock = `hashtextextended('flowrun.partitions:' || current_schema(), 0)`

// PartitionDB is what Partitions needs: a connection of its own, which holds
// the advisory lock; *pgxpool.Pool implements it.
type PartitionDB interface {
	Acquire(ctx context.Context) (*pgxpool.Conn, error)
}

// PartitionConfig configures Partitions. Zero values take the defaults.
type PartitionConfig struct {
	// Retention is how long records are kept: partitions whose whole day
	// is older are dropped. Zero keeps them forever.
	Retention time.Duration
	// Ahead is how many days of partitions exist ahead of today (default
	// 7), so that records never wait for one.
	Ahead int
	// Interval is how often the maintainer runs (default 1 h).
	Interval time.Duration
	// LockTimeout bounds the wait for a table lock before dropping or
	// attaching a partition (default 5 s): DDL on a partition waits for
	// the queries on its table, and writers wait behind it. A lock not
	// granted in time is tried again at the next run.
	LockTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives what the maintainer did (default slog.Default()).
	Logger *slog.Logger
}

// Partitions maintains the partitions of the record tables: it creates
// each day's partitions ahead of time and drops the partitions older than
// the retention, and deletes what the default partitions hold of those
// days. Any number of processes may run one: each run takes a session
// advisory lock and is skipped by the others while one holds it.
type Partitions struct {
	cfg  PartitionConfig
	db   PartitionDB
	life startstop.Base
}

// NewPartitions returns a maintainer. Call Start, then Stop; or call
// Maintain.
func NewPartitions(db PartitionDB, cfg PartitionConfig) (*Partitions, error) {
	if cfg.Retention < 0 || cfg.Ahead < 0 || cfg.Interval < 0 || cfg.LockTimeout < 0 {
		return nil, errors.New("partitions: negative retention, days ahead, interval or lock timeout")
	}
	cfg.Ahead = cmp.Or(cfg.Ahead, DefaultPartitionsAhead)
	cfg.Interval = cmp.Or(cfg.Interval, DefaultPartitionInterval)
	cfg.LockTimeout = cmp.Or(cfg.LockTimeout, 5*time.Second)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Partitions{cfg: cfg, db: db}
	p.life.Name = "partitions"
	return p, nil
}

// Maintenance is what one run of the maintainer did.
type Maintenance struct {
	// Locked is false when another process held the lock: nothing was
	// done.
	Locked bool
	// Created and Dropped name the partitions created and dropped.
	Created, Dropped []string
	// Deleted counts the rows deleted from the default partitions.
	Deleted int64
	// Sealed counts the days whose log counts were sealed (see
	// migrations/007_log_counts.up.sql).
	Sealed int
}

// Start starts the maintainer: a run now, then one every Interval until
// Stop (ctx's cancellation does not stop it). A run that fails is logged
// and tried again at the next. Starting twice is an error.
func (p *Partitions) Start(ctx context.Context) error {
	return p.life.StartGo(context.WithoutCancel(ctx), func(ctx context.Context) {
		startstop.Tick(ctx, p.cfg.Interval, true, p.maintainLogged)
	})
}

// Stop ends the loop, interrupting a run under way (its partitions are
// each created or dropped in a transaction of their own), and waits for
// it, at most until ctx is done. Stopping twice, or a maintainer never
// started, is a no-op.
func (p *Partitions) Stop(ctx context.Context) error {
	return p.life.Stop(ctx)
}

func (p *Partitions) maintainLogged(ctx context.Context) {
	if _, err := p.Maintain(ctx); err != nil && ctx.Err() == nil {
		p.cfg.Logger.Warn("partitions: maintenance failed", "err", err)
	}
}

// Maintain creates the partitions of today and the next Ahead days and,
// with a Retention, drops the partitions of the days before now −
// Retention, unless another process holds the maintainer's lock.
func (p *Partitions) Maintain(ctx context.Context) (Maintenance, error) {
	var m Maintenance
	conn, err := p.db.Acquire(ctx)
	if err != nil {
		return m, fmt.Errorf("partitions: %w", interpretError(err))
	}
	defer conn.Release()
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+partitionLock+`)`).Scan(&m.Locked); err != nil || !m.Locked {
		return m, interpretError(err)
	}
	defer func() {
		// An unlock that fails leaves the lock to the connection: close
		// it, so the lock goes with it.
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+partitionLock+`)`); err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	if _, err := conn.Exec(ctx, fmt.Sprintf(`SET lock_timeout = %d`, p.cfg.LockTimeout.Milliseconds())); err != nil {
		return m, interpretError(err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `RESET lock_timeout`)

	now := p.cfg.Now()
	today := Day("", now)
	var errs []error
	for d := range p.cfg.Ahead + 1 {
		day := today.AddDate(0, 0, d)
		for _, tb := range PartitionedTables {
			var created bool
			if err := conn.QueryRow(ctx, `SELECT flowrun_partition($1, $2::date)`, tb, day.Format(time.DateOnly)).Scan(&created); err != nil {
				errs = append(errs, fmt.Errorf("create partition of %s for %s: %w", tb, day.Format(time.DateOnly), interpretError(err)))
			} else if created {
				m.Created = append(m.Created, partitionName(tb, day))
			}
		}
	}
	if p.cfg.Retention > 0 {
		errs = append(errs, p.drop(ctx, conn, Day("", now.Add(-p.cfg.Retention)), &m))
	}
	if m.Sealed, err = seal(ctx, conn, now); err != nil {
		errs = append(errs, err)
	}
	if len(m.Created)+len(m.Dropped) > 0 || m.Deleted > 0 {
		p.cfg.Logger.Info("partitions: maintained", "created", len(m.Created), "dropped", m.Dropped, "deleted_from_default", m.Deleted)
	}
	if err := errors.Join(errs...); err != nil {
		return m, fmt.Errorf("partitions: %w", err)
	}
	return m, nil
}

// drop drops the partitions of the days before cutoff, a day at a time,
// and deletes the rows of those days from the default partitions. A day's
// partitions go in one transaction with that day's log counts, so lists
// never count logs that are gone (or miss logs that are not).
func (p *Partitions) drop(ctx context.Context, conn *pgxpool.Conn, cutoff time.Time, m *Maintenance) error {
	rows, err := conn.Query(ctx, `SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = ANY($1::regclass[]) AND c.relname::text ~ '_p[0-9]{8}$'`, PartitionedTables)
	if err != nil {
		return interpretError(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return interpretError(err)
	}
	old := map[string][]string{} // day → its partitions
	for _, name := range names {
		day, err := time.Parse("20060102", name[len(name)-8:])
		if err == nil && day.Before(cutoff) {
			d := day.Format(time.DateOnly)
			old[d] = append(old[d], name)
		}
	}
	var errs []error
	var failed []string
	for _, d := range slices.Sorted(maps.Keys(old)) {
		parts := old[d]
		slices.Sort(parts)
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			for _, name := range parts {
				if _, err := tx.Exec(ctx, `DROP TABLE `+quoteIdent(name)); err != nil {
					return fmt.Errorf("drop %s: %w", name, interpretError(err))
				}
			}
			_, err := tx.Exec(ctx, `DELETE FROM workflow_log_counts WHERE day = $1::date`, d)
			return interpretError(err)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("drop the partitions of %s: %w", d, err))
			failed = append(failed, d)
			continue
		}
		m.Dropped = append(m.Dropped, parts...)
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, tb := range PartitionedTables {
			tag, err := tx.Exec(ctx, `DELETE FROM `+quoteIdent(tb+"_default")+` WHERE day < $1::date`, cutoff.Format(time.DateOnly))
			if err != nil {
				return fmt.Errorf("delete old rows of %s_default: %w", tb, interpretError(err))
			}
			m.Deleted += tag.RowsAffected()
		}
		_, err := tx.Exec(ctx, `DELETE FROM workflow_log_counts WHERE day < $1::date AND day <> ALL($2::date[])`,
			cutoff.Format(time.DateOnly), failed)
		return interpretError(err)
	})
	return errors.Join(append(errs, err)...)
}

// partitionName is flowrun_partition's name for tb's partition of day.
func partitionName(tb string, day time.Time) string { return tb + "_p" + day.Format("20060102") }

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }
