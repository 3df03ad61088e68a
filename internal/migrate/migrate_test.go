package migrate_test

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/flowrun/flowrun/internal/dbtest"
	"github.com/flowrun/flowrun/internal/migrate"
	"github.com/flowrun/flowrun/migrations"
)

func load(t *testing.T) []migrate.Migration {
	t.Helper()
	ms, err := migrate.Load(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations")
	}
	return ms
}

func versions(ms []migrate.Migration) []int64 {
	var out []int64
	for _, m := range ms {
		out = append(out, m.Version)
	}
	return out
}

func TestLoad(t *testing.T) {
	t.Parallel()
	ms := load(t)
	for i, m := range ms {
		if m.Version != int64(i+1) {
			t.Errorf("migration %d has version %d; versions must be 1..N", i, m.Version)
		}
	}

	good := fstest.MapFS{
		"002_b.up.sql":   {Data: []byte("B")},
		"002_b.down.sql": {Data: []byte("b")},
		"001_a.up.sql":   {Data: []byte("A")},
		"001_a.down.sql": {Data: []byte("a")},
		"migrations.go":  {Data: []byte("package x")},
	}
	got, err := migrate.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	want := []migrate.Migration{{1, "a", "A", "a"}, {2, "b", "B", "b"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %+v, want %+v", got, want)
	}

	for name, fsys := range map[string]fstest.MapFS{
		"missing down": {"001_a.up.sql": {Data: []byte("A")}},
		"two names":    {"001_a.up.sql": {Data: []byte("A")}, "001_b.down.sql": {Data: []byte("b")}},
		"version 0":    {"000_a.up.sql": {Data: []byte("A")}, "000_a.down.sql": {Data: []byte("a")}},
	} {
		if _, err := migrate.Load(fsys); err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
	}
}

func TestUpDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ms := load(t)
	_, cfg := dbtest.Schema(t)
	pool := dbtest.NewPool(t, cfg)

	applied, err := migrate.Up(ctx, pool, ms)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(applied, versions(ms)) {
		t.Fatalf("Up applied %v, want %v", applied, versions(ms))
	}
	// Idempotent.
	if applied, err = migrate.Up(ctx, pool, ms); err != nil || len(applied) != 0 {
		t.Fatalf("second Up applied %v, %v", applied, err)
	}
	for _, table := range []string{"workflow_runs", "workflow_node_executions", "workflow_app_logs", "apps", "api_keys"} {
		if _, err := pool.Exec(ctx, "SELECT 1 FROM "+table+" LIMIT 1"); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}

	// Down one step, then all, then back up.
	last := ms[len(ms)-1].Version
	if got, err := migrate.Down(ctx, pool, ms, 1); err != nil || !reflect.DeepEqual(got, []int64{last}) {
		t.Fatalf("Down 1 = %v, %v", got, err)
	}
	if got, err := migrate.Applied(ctx, pool); err != nil || !reflect.DeepEqual(got, versions(ms[:len(ms)-1])) {
		t.Fatalf("Applied = %v, %v", got, err)
	}
	if _, err := migrate.Down(ctx, pool, ms, 0); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d tables left after Down", n)
	}
	if applied, err = migrate.Up(ctx, pool, ms); err != nil || len(applied) != len(ms) {
		t.Fatalf("Up after Down applied %v, %v", applied, err)
	}
}

// TestFailedMigrationRollsBack: a failing migration leaves nothing behind,
// not even the migrations before it in the same run.
func TestFailedMigrationRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, cfg := dbtest.Schema(t)
	pool := dbtest.NewPool(t, cfg)
	ms := []migrate.Migration{
		{Version: 1, Name: "ok", Up: "CREATE TABLE t1 (id int)", Down: "DROP TABLE t1"},
		{Version: 2, Name: "bad", Up: "CREATE TABLE t2 (id int); SELECT nope", Down: "DROP TABLE t2"},
	}
	if _, err := migrate.Up(ctx, pool, ms); err == nil || !strings.Contains(err.Error(), "002_bad") {
		t.Fatalf("Up = %v, want an error naming 002_bad", err)
	}
	if got, err := migrate.Applied(ctx, pool); err != nil || len(got) != 0 {
		t.Fatalf("Applied = %v, %v; want none", got, err)
	}
	if _, err := pool.Exec(ctx, "SELECT 1 FROM t1"); err == nil {
		t.Fatal("t1 exists after the failed run")
	}
}

// TestConcurrentUp starts several migrators at once on one schema: the
// advisory lock makes exactly one of them apply each migration.
func TestConcurrentUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ms := load(t)
	_, cfg := dbtest.Schema(t)
	const n = 4
	conns := make([]*pgx.Conn, n)
	for i := range conns {
		conns[i] = dbtest.Conn(t, cfg)
	}
	type result struct {
		applied []int64
		err     error
	}
	results := make(chan result, n)
	for _, c := range conns {
		go func() {
			applied, err := migrate.Up(ctx, c, ms)
			results <- result{applied, err}
		}()
	}
	var total []int64
	for range n {
		r := <-results
		if r.err != nil {
			t.Fatalf("Up: %v", r.err)
		}
		total = append(total, r.applied...)
	}
	if !reflect.DeepEqual(total, versions(ms)) {
		t.Fatalf("migrations applied %v in all, want %v exactly once", total, versions(ms))
	}
}

func TestDownUnknown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, cfg := dbtest.Schema(t)
	pool := dbtest.NewPool(t, cfg)
	ms := []migrate.Migration{{Version: 1, Name: "a", Up: "SELECT 1", Down: "SELECT 1"}}
	if _, err := migrate.Up(ctx, pool, ms); err != nil {
		t.Fatal(err)
	}
	_, err := migrate.Down(ctx, pool, nil, 0)
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("Down with an unknown applied version = %v, want an error", err)
	}
}

func TestCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, cfg := dbtest.Schema(t)
	pool := dbtest.NewPool(t, cfg)
	ms := []migrate.Migration{
		{Version: 1, Name: "a", Up: "CREATE TABLE a (id int)", Down: "DROP TABLE a"},
		{Version: 2, Name: "b", Up: "CREATE TABLE b (id int)", Down: "DROP TABLE b"},
	}
	run := func(args ...string) string {
		t.Helper()
		var out strings.Builder
		if err := migrate.Command(ctx, pool, ms, args, &out); err != nil {
			t.Fatalf("migrate %v: %v", args, err)
		}
		return out.String()
	}
	for _, step := range []struct {
		args []string
		want string
	}{
		{nil, "migrate: applied 001_a\nmigrate: applied 002_b\n"},
		{[]string{"up"}, "migrate: nothing to apply\n"},
		{[]string{"down"}, "migrate: reverted 002_b\n"},
		{[]string{"status"}, "applied 001_a\npending 002_b\n"},
		{[]string{"up"}, "migrate: applied 002_b\n"},
		{[]string{"down", "all"}, "migrate: reverted 002_b\nmigrate: reverted 001_a\n"},
		{[]string{"down", "2"}, "migrate: nothing to revert\n"},
	} {
		if got := run(step.args...); got != step.want {
			t.Fatalf("migrate %v printed %q, want %q", step.args, got, step.want)
		}
	}
	for _, bad := range [][]string{{"sideways"}, {"down", "-1"}, {"up", "x"}} {
		if err := migrate.Command(ctx, pool, ms, bad, io.Discard); err == nil {
			t.Errorf("migrate %v succeeded", bad)
		}
	}
}
