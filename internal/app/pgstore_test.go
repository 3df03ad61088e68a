package app_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/dbtest"
	"github.com/flowrun/flowrun/internal/run"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// dbtest's admin pool lives as long as the test binary.
		goleak.IgnoreAnyFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
	)
}

var _ app.Store = (*app.Postgres)(nil)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newPool returns a pool on a fresh, migrated schema of the test's own.
func newPool(t *testing.T) *pgxpool.Pool { return dbtest.Pool(t) }

// replica is a started Postgres store whose listener reports what it
// reloaded on events.
type replica struct {
	*app.Postgres
	events chan string
}

// startReplica starts a store on pool, stopped when the test ends.
func startReplica(t *testing.T, pool *pgxpool.Pool, cfg app.PostgresConfig) *replica {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	p, err := app.NewPostgres(pool, testEngine, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{Postgres: p, events: make(chan string, 64)}
	app.SetReloadHook(p, func(payload string) {
		select {
		case r.events <- payload:
		default: // the waiter has wake-ups pending already
		}
	})
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return r
}

func startPostgres(t *testing.T, pool *pgxpool.Pool, cfg app.PostgresConfig) *app.Postgres {
	t.Helper()
	return startReplica(t, pool, cfg).Postgres
}

// waitFor re-checks cond each time r's listener reloads something, until
// it holds or 10 s pass.
func (r *replica) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-r.events:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (r *replica) authenticates(ctx context.Context, key, id string) func() bool {
	return func() bool {
		a, err := r.Authenticate(ctx, key)
		return err == nil && a.ID == id
	}
}

func (r *replica) rejects(ctx context.Context, key string) func() bool {
	return func() bool {
		_, err := r.Authenticate(ctx, key)
		return errors.Is(err, app.ErrNotFound)
	}
}

// TestPostgresPropagation: every write on one replica reaches another
// replica on the same database.
func TestPostgresPropagation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := newPool(t)
	a := startReplica(t, pool, app.PostgresConfig{})
	b := startReplica(t, dbtest.NewPool(t, pool.Config()), app.PostgresConfig{})

	if _, err := a.Put(ctx, mustNew(t, appID, wfID)); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "Put to reach b", func() bool {
		got, err := b.Get(ctx, appID)
		return err == nil && got.Name == "echo" && got.Workflow != nil && got.WorkflowID == wfID
	})

	k1, err := a.AddKey(ctx, appID, "app-propagated-key-1")
	if err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "AddKey to reach b", b.authenticates(ctx, "app-propagated-key-1", appID))
	if keys, err := b.Keys(ctx, appID); err != nil || !sameKeys(keys, []app.KeyInfo{k1}) {
		t.Fatalf("b.Keys = %v, %v; want %v", keys, err, k1)
	}

	renamed := mustNew(t, appID, otherWfID)
	renamed.Name, renamed.Tags, renamed.AuthorName = "renamed", []string{"t"}, "someone"
	if _, err := a.Put(ctx, renamed); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "replacing Put to reach b", func() bool {
		got, err := b.Authenticate(ctx, "app-propagated-key-1")
		return err == nil && got.Name == "renamed" && got.WorkflowID == otherWfID && got.AuthorName == "someone" &&
			len(got.Tags) == 1 && got.Tags[0] == "t"
	})

	if err := a.RemoveKey(ctx, appID, k1.ID); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "RemoveKey to reach b", b.rejects(ctx, "app-propagated-key-1"))

	// The other way round.
	if _, err := b.AddKey(ctx, appID, "app-propagated-key-2"); err != nil {
		t.Fatal(err)
	}
	a.waitFor(t, "b's AddKey to reach a", a.authenticates(ctx, "app-propagated-key-2", appID))

	if err := a.Delete(ctx, appID); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "Delete to reach b", func() bool {
		_, err := b.Get(ctx, appID)
		return errors.Is(err, app.ErrNotFound)
	})
	if _, err := b.Authenticate(ctx, "app-propagated-key-2"); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("key of deleted app on b = %v", err)
	}
	if list, _ := b.List(ctx); len(list) != 0 {
		t.Fatalf("b.List = %v", list)
	}
}

// TestPostgresKeysStoredHashed: the database holds a key's digest and a
// display prefix, never the key.
func TestPostgresKeysStoredHashed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := newPool(t)
	s := startPostgres(t, pool, app.PostgresConfig{})
	if _, err := s.Put(ctx, mustNew(t, appID, wfID)); err != nil {
		t.Fatal(err)
	}
	long, short := app.NewKey(), "app-short-key"
	for _, k := range []string{long, short} {
		if _, err := s.AddKey(ctx, appID, k); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := pool.Query(ctx, `SELECT key_hash, key_prefix, row_to_json(k)::text FROM api_keys k`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	prefixes := map[string]string{}
	for rows.Next() {
		var hash []byte
		var prefix, row string
		if err := rows.Scan(&hash, &prefix, &row); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{long, short} {
			if strings.Contains(row, k) || strings.Contains(row, k[len(app.KeyPrefix):]) {
				t.Fatalf("api_keys row %s holds a key", row)
			}
			if sum := sha256.Sum256([]byte(k)); string(sum[:]) == string(hash) {
				prefixes[k] = prefix
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(prefixes) != 2 {
		t.Fatalf("found the SHA-256 of %d keys, want 2", len(prefixes))
	}
	if want := long[:len(app.KeyPrefix)+4]; prefixes[long] != want {
		t.Errorf("prefix of a generated key = %q, want %q", prefixes[long], want)
	}
	if prefixes[short] != app.KeyPrefix {
		t.Errorf("prefix of a short key = %q, want only %q", prefixes[short], app.KeyPrefix)
	}
}

// TestPostgresConflictAcrossReplicas: the database, not a replica's cache,
// decides that a key is taken.
func TestPostgresConflictAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := newPool(t)
	a := startReplica(t, pool, app.PostgresConfig{})
	b := startReplica(t, pool, app.PostgresConfig{})
	if _, err := a.Put(ctx, mustNew(t, appID, wfID)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, mustNew(t, otherAppID, otherWfID)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddKey(ctx, appID, "app-contested-key"); err != nil {
		t.Fatal(err)
	}
	// No waiting: b's cache may not know the key yet.
	if _, err := b.AddKey(ctx, otherAppID, "app-contested-key"); !errors.Is(err, app.ErrConflict) {
		t.Fatalf("AddKey of a key another replica gave = %v, want ErrConflict", err)
	}
	b.waitFor(t, "the key to reach b", b.authenticates(ctx, "app-contested-key", appID))
}

// TestPostgresBadStoredApps: an app whose row no longer loads is skipped
// and reported, at start and on reload, and comes back once fixed.
func TestPostgresBadStoredApps(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := newPool(t)
	w := startReplica(t, pool, app.PostgresConfig{})
	if _, err := w.Put(ctx, mustNew(t, appID, wfID)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Put(ctx, mustNew(t, otherAppID, otherWfID)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddKey(ctx, otherAppID, "app-key-of-broken-app"); err != nil {
		t.Fatal(err)
	}
	// Break one app behind the stores' back (no notification), and add a
	// row with a malformed workflow id.
	const badDSL = "app: {mode: workflow}\nworkflow: {graph: {nodes: []}}"
	const badWfApp = "2b7c5d1e-8f3a-4e6b-9c0d-1a2b3c4d5e6f"
	if _, err := pool.Exec(ctx, `UPDATE apps SET dsl = $2 WHERE id = $1`, otherAppID, badDSL); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO apps (id, workflow_id, name, dsl) VALUES ($1, 'x', 'bad ids', $2)`, badWfApp, string(echoDSL(t))); err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, s *replica) {
		t.Helper()
		if _, err := s.Get(ctx, appID); err != nil {
			t.Fatalf("the good app: %v", err)
		}
		if _, err := s.Get(ctx, otherAppID); !errors.Is(err, app.ErrNotFound) {
			t.Fatalf("Get of the broken app = %v", err)
		}
		if _, err := s.Authenticate(ctx, "app-key-of-broken-app"); !errors.Is(err, app.ErrNotFound) {
			t.Fatalf("Authenticate for the broken app = %v", err)
		}
		errs := s.LoadErrors()
		if len(errs) != 2 || errs[0].AppID != otherAppID || !errors.Is(errs[0], run.ErrInvalidDSL) ||
			errs[1].AppID != badWfApp || !errors.Is(errs[1], app.ErrInvalid) {
			t.Fatalf("LoadErrors = %v", errs)
		}
	}

	// A fresh start skips both and is not fatal.
	r := startReplica(t, pool, app.PostgresConfig{})
	check(t, r)
	if list, _ := r.List(ctx); len(list) != 1 {
		t.Fatalf("List = %v", list)
	}

	// A running replica told about the change drops the app too.
	if _, err := pool.Exec(ctx, `SELECT pg_notify($1, $2)`, app.NotifyChannel, otherAppID); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "w to drop the broken app", func() bool {
		_, err := w.Get(ctx, otherAppID)
		return errors.Is(err, app.ErrNotFound)
	})
	if errs := w.LoadErrors(); len(errs) != 1 || errs[0].AppID != otherAppID {
		t.Fatalf("w.LoadErrors = %v", errs)
	}
	if _, err := w.Keys(ctx, otherAppID); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("Keys of the broken app = %v", err)
	}
	// Writes still reach the broken app's row.
	if _, err := w.AddKey(ctx, otherAppID, "app-second-key-of-broken"); err != nil {
		t.Fatalf("AddKey to the broken app = %v", err)
	}

	// Fixing it, from any replica, brings it back everywhere, keys included.
	if created, err := w.Put(ctx, mustNew(t, otherAppID, otherWfID)); err != nil || created {
		t.Fatalf("Put fixing the app = %v, %v", created, err)
	}
	if got, err := w.Authenticate(ctx, "app-key-of-broken-app"); err != nil || got.ID != otherAppID {
		t.Fatalf("w: key of the fixed app = %v, %v", got, err)
	}
	if errs := w.LoadErrors(); len(errs) != 0 {
		t.Fatalf("w.LoadErrors after the fix = %v", errs)
	}
	r.waitFor(t, "the fix to reach r", func() bool {
		return r.authenticates(ctx, "app-second-key-of-broken", otherAppID)() && len(r.LoadErrors()) == 1
	})
	// A row fixed by hand loads once a notification names it.
	if _, err := pool.Exec(ctx, `UPDATE apps SET workflow_id = $2 WHERE id = $1`, badWfApp, wfID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `SELECT pg_notify($1, $2)`, app.NotifyChannel, badWfApp); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "the hand-fixed row to load", func() bool {
		got, err := r.Get(ctx, badWfApp)
		return err == nil && got.Name == "bad ids" && len(r.LoadErrors()) == 0
	})
}

// TestPostgresPeriodicReload: a change that sent no notification is picked
// up by the periodic reload.
func TestPostgresPeriodicReload(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := newPool(t)
	r := startReplica(t, pool, app.PostgresConfig{ReloadInterval: 20 * time.Millisecond})
	if _, err := r.Put(ctx, mustNew(t, appID, wfID)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO api_keys (id, app_id, key_hash) VALUES (gen_random_uuid(), $1, sha256(convert_to($2, 'UTF8')))`,
		appID, "app-inserted-by-hand"); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "the periodic reload", r.authenticates(ctx, "app-inserted-by-hand", appID))
}

// TestPostgresReconnect: a replica whose listening connection is killed
// reconnects and catches up.
func TestPostgresReconnect(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := newPool(t)
	a := startReplica(t, pool, app.PostgresConfig{})
	var b8 [8]byte
	_, _ = rand.Read(b8[:])
	name := "flowrun-apptest-" + hex.EncodeToString(b8[:])
	cfg := pool.Config()
	cfg.ConnConfig.RuntimeParams["application_name"] = name
	b := startReplica(t, dbtest.NewPool(t, cfg), app.PostgresConfig{RetryInterval: 10 * time.Millisecond, ReloadInterval: time.Hour})

	var killed int
	if err := pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND query LIKE 'LISTEN%'`, name).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d listening connections, want 1", killed)
	}
	// Whether b hears this notification or reloads on reconnect, it must
	// see the app.
	if _, err := a.Put(ctx, mustNew(t, appID, wfID)); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "b to catch up after reconnecting", func() bool {
		_, err := b.Get(ctx, appID)
		return err == nil
	})
	// And it listens again.
	if _, err := a.AddKey(ctx, appID, "app-after-reconnect"); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "a notification after reconnecting", b.authenticates(ctx, "app-after-reconnect", appID))
}

// TestPostgresSeedFrom: the examples are imported into an empty database
// once, and every replica sees them.
func TestPostgresSeedFrom(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := newPool(t)
	a := startReplica(t, pool, app.PostgresConfig{})
	b := startReplica(t, pool, app.PostgresConfig{})
	mem := app.NewMemory(nil)
	n, err := app.LoadDir(ctx, "../../examples", testEngine, mem)
	if err != nil {
		t.Fatal(err)
	}

	// Replicas starting together: exactly one seeds.
	type result struct {
		n   int
		err error
	}
	results := make(chan result, 2)
	for _, r := range []*replica{a, b} {
		go func() {
			n, err := r.SeedFrom(ctx, mem)
			results <- result{n, err}
		}()
	}
	total := 0
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatalf("SeedFrom: %v", r.err)
		}
		total += r.n
	}
	if total != n {
		t.Fatalf("seeded %d apps in all, want %d once", total, n)
	}
	for _, r := range []*replica{a, b} {
		r.waitFor(t, "the seeded apps", func() bool {
			list, _ := r.List(ctx)
			return len(list) == n && r.authenticates(ctx, "app-flowrun-echo-local-only", appID)()
		})
	}

	// A fresh start loads them all, as LoadDir did.
	c := startReplica(t, pool, app.PostgresConfig{})
	want, _ := mem.List(ctx)
	got, _ := c.List(ctx)
	if len(got) != len(want) {
		t.Fatalf("fresh replica lists %d apps, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.ID != w.ID || g.WorkflowID != w.WorkflowID || g.Name != w.Name || g.Description != w.Description ||
			g.AuthorName != w.AuthorName || strings.Join(g.Tags, ",") != strings.Join(w.Tags, ",") ||
			string(g.DSL) != string(w.DSL) || g.Workflow == nil {
			t.Errorf("app %d = %+v, want %+v", i, g, w)
		}
		wk, _ := mem.Keys(ctx, w.ID)
		gk, _ := c.Keys(ctx, w.ID)
		if len(gk) != len(wk) {
			t.Errorf("app %s has %d keys, want %d", w.ID, len(gk), len(wk))
		}
	}

	// Once only: not again, not even after every app is deleted.
	if again, err := a.SeedFrom(ctx, mem); err != nil || again != 0 {
		t.Fatalf("second SeedFrom = %d, %v", again, err)
	}
	for _, x := range want {
		if err := c.Delete(ctx, x.ID); err != nil {
			t.Fatal(err)
		}
	}
	if again, err := c.SeedFrom(ctx, mem); err != nil || again != 0 {
		t.Fatalf("SeedFrom after deleting every app = %d, %v", again, err)
	}
	if list, _ := c.List(ctx); len(list) != 0 {
		t.Fatalf("List = %d apps, want none", len(list))
	}
}

// TestPostgresSeedSkipsNonEmpty: a database that has apps is never seeded,
// then or later.
func TestPostgresSeedSkipsNonEmpty(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := startPostgres(t, newPool(t), app.PostgresConfig{})
	if _, err := s.Put(ctx, mustNew(t, otherAppID, otherWfID)); err != nil {
		t.Fatal(err)
	}
	mem := app.NewMemory(nil)
	if _, err := mem.Put(ctx, mustNew(t, appID, wfID)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SeedFrom(ctx, mem); err != nil || n != 0 {
		t.Fatalf("SeedFrom on a database with apps = %d, %v", n, err)
	}
	if err := s.Delete(ctx, otherAppID); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SeedFrom(ctx, mem); err != nil || n != 0 {
		t.Fatalf("later SeedFrom = %d, %v", n, err)
	}
}

func TestPostgresPutRejectsWhatCannotBeStored(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := startPostgres(t, newPool(t), app.PostgresConfig{})
	a := mustNew(t, appID, wfID)
	a.DSL = nil
	if _, err := s.Put(ctx, a); !errors.Is(err, app.ErrInvalid) {
		t.Fatalf("Put without DSL = %v, want ErrInvalid", err)
	}
	a = mustNew(t, appID, wfID)
	a.Name = "nul\x00byte"
	if _, err := s.Put(ctx, a); !errors.Is(err, app.ErrInvalid) {
		t.Fatalf("Put with a NUL in the name = %v, want ErrInvalid", err)
	}
	if _, err := s.Get(ctx, appID); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("Get after failed Puts = %v", err)
	}
}

func TestPostgresLifecycle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := newPool(t)
	if _, err := app.NewPostgres(nil, testEngine, app.PostgresConfig{}); err == nil {
		t.Error("NewPostgres without a pool succeeded")
	}
	if _, err := app.NewPostgres(pool, testEngine, app.PostgresConfig{ReloadInterval: -time.Second}); err == nil {
		t.Error("NewPostgres with a negative interval succeeded")
	}

	p, err := app.NewPostgres(pool, testEngine, app.PostgresConfig{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("Stop before Start = %v", err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err == nil {
		t.Fatal("second Start succeeded")
	}
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.Stop(stopCtx); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	if err := p.Stop(stopCtx); err != nil {
		t.Fatalf("second Stop = %v", err)
	}

	// Start fails fast when the database cannot be reached.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cfg := pool.Config()
	cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Fallbacks = "127.0.0.1", uint16(port), nil
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	down := dbtest.NewPool(t, cfg)
	p, err = app.NewPostgres(down, testEngine, app.PostgresConfig{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err == nil {
		t.Fatal("Start with the database down succeeded")
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("Stop after a failed Start = %v", err)
	}
}

// countingCompiler counts compilations.
type countingCompiler struct{ n atomic.Int64 }

func (c *countingCompiler) Compile(data []byte) (*run.Workflow, error) {
	c.n.Add(1)
	return testEngine.Compile(data)
}

// TestPostgresReloadKeepsUnchangedApps: reloads neither recompile nor
// replace an app whose row did not change.
func TestPostgresReloadKeepsUnchangedApps(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cc := &countingCompiler{}
	p, err := app.NewPostgres(newPool(t), cc, app.PostgresConfig{Logger: quiet(), ReloadInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fulls := make(chan struct{}, 64)
	app.SetReloadHook(p, func(payload string) {
		if payload == "" {
			select {
			case fulls <- struct{}{}:
			default:
			}
		}
	})
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	if _, err := p.Put(ctx, mustNew(t, appID, wfID)); err != nil {
		t.Fatal(err)
	}
	before, err := p.Get(ctx, appID)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for range 3 {
		select {
		case <-fulls:
		case <-deadline:
			t.Fatal("timed out waiting for periodic reloads")
		}
	}
	if after, err := p.Get(ctx, appID); err != nil || after != before {
		t.Fatalf("after reloads Get = %p, %v; want the same *App %p", after, err, before)
	}
	if n := cc.n.Load(); n != 0 {
		t.Fatalf("reloads compiled %d times, want 0", n)
	}
}
