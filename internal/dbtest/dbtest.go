// Package dbtest gives tests an isolated, migrated PostgreSQL schema.
//
// Tests need a real server: TEST_DATABASE_URL must point at one (run the
// suite with scripts/test.sh, which starts a throwaway server). Tests fail,
// never skip, when it is unset or unreachable.
//
// Only _test.go files import it.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowrun/flowrun/internal/migrate"
	"github.com/flowrun/flowrun/migrations"
)

const hint = "run the tests with scripts/test.sh, which starts PostgreSQL and sets TEST_DATABASE_URL"

var (
	adminOnce sync.Once
	admin     *pgxpool.Pool
	adminErr  error
	adminURL  string
)

// URL returns TEST_DATABASE_URL, failing the test if it is unset.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" {
		t.Fatalf("TEST_DATABASE_URL is not set; %s", hint)
	}
	return u
}

// adminPool is shared by the package's tests and never closed: it lives as
// long as the test binary.
func adminPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	u := URL(t)
	adminOnce.Do(func() {
		adminURL = u
		cfg, err := pgxpool.ParseConfig(u)
		if err != nil {
			adminErr = err
			return
		}
		cfg.MaxConns = 2
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		admin, adminErr = pgxpool.NewWithConfig(ctx, cfg)
		if adminErr == nil {
			adminErr = admin.Ping(ctx)
		}
	})
	if adminErr != nil {
		t.Fatalf("connect to TEST_DATABASE_URL: %v; %s", adminErr, hint)
	}
	return admin
}

// Schema creates an empty schema for this test and returns its name and a
// config whose connections use it (search_path). The schema is dropped when
// the test ends.
func Schema(t testing.TB) (string, *pgxpool.Config) {
	t.Helper()
	a := adminPool(t)
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := a.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := a.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	cfg, err := pgxpool.ParseConfig(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	// Unqualified names in queries and migrations resolve in the test's
	// schema; pg_catalog is searched implicitly.
	cfg.ConnConfig.RuntimeParams["search_path"] = name
	cfg.MaxConns = 4
	return name, cfg
}

// Pool returns a pool on a fresh schema of its own for this test, with
// every migration applied. It is closed when the test ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	_, cfg := Schema(t)
	pool := NewPool(t, cfg)
	ms, err := migrate.Load(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Up(context.Background(), pool, ms); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return pool
}

// NewPool opens a pool with cfg, closed when the test ends (before the
// schema is dropped).
func NewPool(t testing.TB, cfg *pgxpool.Config) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("connect: %v; %s", err, hint)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Conn opens a single connection with cfg, closed when the test ends.
func Conn(t testing.TB, cfg *pgxpool.Config) *pgx.Conn {
	t.Helper()
	conn, err := pgx.ConnectConfig(context.Background(), cfg.ConnConfig)
	if err != nil {
		t.Fatalf("connect: %v; %s", err, hint)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}
