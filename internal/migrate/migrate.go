// Package migrate applies the numbered SQL migrations of package migrations
// (NNN_name.up.sql / NNN_name.down.sql) to a PostgreSQL schema.
//
// Each call runs in one transaction that first takes a transaction-scoped
// advisory lock keyed on the current schema, so several processes starting at
// once apply each migration exactly once, and a failed migration leaves the
// schema as it was. Applied versions are recorded in schema_migrations.
package migrate

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// Migration is one numbered schema change.
type Migration struct {
	Version int64
	Name    string
	Up      string
	Down    string
}

// DB begins transactions; *pgxpool.Pool, *pgx.Conn and pgx.Tx implement it.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

var fileRE = regexp.MustCompile(`^(\d+)_([A-Za-z0-9_]+)\.(up|down)\.sql$`)

// Load reads the migrations in the root of fsys, ordered by version. Every
// version needs both an up and a down file with the same name; other files
// are ignored.
func Load(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	byVersion := map[int64]*Migration{}
	for _, e := range entries {
		m := fileRE.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			continue
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: bad version", e.Name())
		}
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		mig := byVersion[v]
		if mig == nil {
			mig = &Migration{Version: v, Name: m[2]}
			byVersion[v] = mig
		}
		if mig.Name != m[2] {
			return nil, fmt.Errorf("migration %d has two names: %s and %s", v, mig.Name, m[2])
		}
		if m[3] == "up" {
			mig.Up = string(body)
		} else {
			mig.Down = string(body)
		}
	}
	out := make([]Migration, 0, len(byVersion))
	for _, m := range byVersion {
		if m.Up == "" || m.Down == "" {
			return nil, fmt.Errorf("migration %03d_%s needs both an up and a down file", m.Version, m.Name)
		}
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	return out, nil
}

// lock serialises migrations of the current schema across sessions; it is
// released when the transaction ends. Keying on the schema lets separate
// schemas (one per test) migrate concurrently.
const lock = `SELECT pg_advisory_xact_lock(hashtextextended('flowrun.migrate:' || current_schema(), 0))`

const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    bigint PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// Up applies the migrations of ms that are not applied yet, in version
// order, in one transaction. It returns the versions it applied.
func Up(ctx context.Context, db DB, ms []Migration) ([]int64, error) {
	var done []int64
	err := inTx(ctx, db, func(tx pgx.Tx) error {
		applied, err := appliedSet(ctx, tx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if applied[m.Version] {
				continue
			}
			if _, err := tx.Exec(ctx, m.Up); err != nil {
				return fmt.Errorf("migration %03d_%s up: %w", m.Version, m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return fmt.Errorf("record migration %d: %w", m.Version, err)
			}
			done = append(done, m.Version)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return done, nil
}

// Down reverts the last steps applied migrations (all of them if steps <= 0),
// newest first, in one transaction. It returns the versions it reverted.
// Reverting a version that ms does not know is an error.
func Down(ctx context.Context, db DB, ms []Migration, steps int) ([]int64, error) {
	known := make(map[int64]Migration, len(ms))
	for _, m := range ms {
		known[m.Version] = m
	}
	var done []int64
	err := inTx(ctx, db, func(tx pgx.Tx) error {
		applied, err := appliedSet(ctx, tx)
		if err != nil {
			return err
		}
		versions := make([]int64, 0, len(applied))
		for v := range applied {
			versions = append(versions, v)
		}
		slices.Sort(versions)
		slices.Reverse(versions)
		if steps > 0 && steps < len(versions) {
			versions = versions[:steps]
		}
		for _, v := range versions {
			m, ok := known[v]
			if !ok {
				return fmt.Errorf("migration %d is applied but unknown to this binary", v)
			}
			if _, err := tx.Exec(ctx, m.Down); err != nil {
				return fmt.Errorf("migration %03d_%s down: %w", m.Version, m.Name, err)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM schema_migrations WHERE version = $1`, v); err != nil {
				return fmt.Errorf("unrecord migration %d: %w", v, err)
			}
			done = append(done, v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return done, nil
}

// Applied returns the applied versions, ascending.
func Applied(ctx context.Context, db DB) ([]int64, error) {
	var out []int64
	err := inTx(ctx, db, func(tx pgx.Tx) error {
		applied, err := appliedSet(ctx, tx)
		for v := range applied {
			out = append(out, v)
		}
		return err
	})
	slices.Sort(out)
	return out, err
}

func appliedSet(ctx context.Context, tx pgx.Tx) (map[int64]bool, error) {
	if _, err := tx.Exec(ctx, lock); err != nil {
		return nil, fmt.Errorf("lock migrations: %w", err)
	}
	if _, err := tx.Exec(ctx, createTable); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	applied := make(map[int64]bool, len(versions))
	for _, v := range versions {
		applied[v] = true
	}
	return applied, nil
}

func inTx(ctx context.Context, db DB, fn func(tx pgx.Tx) error) (err error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
