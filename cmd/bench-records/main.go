// Command bench-records measures the record tables at scale: it fills a
// PostgreSQL database with runs of 5 to 10 node executions spread over
// days (10 million node executions by default), then times the read API's
// queries (the runs list with Dify's filters, a run and its node
// executions), a per-app summary, and dropping a day of records against
// deleting the same number of rows.
//
//	go run ./cmd/bench-records -database-url postgres://… [-nodes 10000000]
//
// It is not part of the test suite (make bench-records). The database
// should be a throwaway one: the bench migrates it and fills it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowrun/flowrun/internal/migrate"
	"github.com/flowrun/flowrun/internal/repo"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
	"github.com/flowrun/flowrun/migrations"
)

func main() {
	url := flag.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL (a throwaway database)")
	nodes := flag.Int("nodes", 10_000_000, "node executions to fill (runs have 5 to 10)")
	days := flag.Int("days", 30, "days the runs spread over, ending now")
	apps := flag.Int("apps", 10, "apps the runs belong to")
	samples := flag.Int("samples", 100, "timed calls per query")
	fill := flag.Bool("fill", true, "fill the tables (false: measure what is there)")
	flag.Parse()
	if *url == "" {
		log.Fatal("set -database-url or DATABASE_URL")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, *url)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	b := &bench{pool: pool, store: reposql.New(pool), apps: *apps, days: *days, now: time.Now().UTC()}
	if *fill {
		if err := b.fill(ctx, *nodes); err != nil {
			log.Fatal(err)
		}
	}
	if err := b.measure(ctx, *samples); err != nil {
		log.Fatal(err)
	}
}

type bench struct {
	pool  *pgxpool.Pool
	store *reposql.Store
	apps  int
	days  int
	now   time.Time
}

// v7 builds a version 7 UUID from a time in Unix milliseconds and a number
// that makes it unique.
const v7 = `CREATE OR REPLACE FUNCTION pg_temp.v7(ms bigint, n bigint) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
	SELECT (lpad(to_hex(ms), 12, '0') || '7' || lpad(to_hex(n & 4095), 3, '0') || '8'
		|| lpad(to_hex(n >> 12), 15, '0'))::uuid $$`

// fillDay inserts the runs $1 to $2 of a day starting at Unix ms $3, each
// $4 ms apart, with their node executions and app logs. A run has 5 to 10
// nodes; one in twenty fails.
const fillDay = `
WITH r AS (
	SELECT i, $3::bigint + (i - $1) * $4::bigint AS ms FROM generate_series($1::bigint, $2::bigint) i
), runs AS (
	INSERT INTO workflow_runs (id, app_id, workflow_id, type, triggered_from, version, inputs, status, outputs, error,
		elapsed_time, total_steps, created_by_role, created_by, session_id, created_at, finished_at, seq, day)
	SELECT pg_temp.v7(ms, i), 'app-' || (i % $5), 'wf', 'workflow', 'app-run', 'draft',
		jsonb_build_object('query', 'hello ' || i), CASE WHEN i / $5 % 20 = 0 THEN 'failed' ELSE 'succeeded' END,
		jsonb_build_object('answer', 'hello ' || i), CASE WHEN i / $5 % 20 = 0 THEN 'boom' ELSE '' END,
		0.05 + (i % 97) / 100.0, 5 + i % 6, 'end_user', 'eu', 'user-' || (i % 1000),
		to_timestamp(ms / 1000.0), to_timestamp(ms / 1000.0 + 0.05 + (i % 97) / 100.0), 20,
		(to_timestamp(ms / 1000.0) AT TIME ZONE 'UTC')::date
	FROM r
), logs AS (
	INSERT INTO workflow_app_logs (id, app_id, workflow_id, workflow_run_id, created_from, created_by_role, created_by,
		session_id, created_at, seq, day)
	SELECT pg_temp.v7(ms, i + (1::bigint << 40)), 'app-' || (i % $5), 'wf', pg_temp.v7(ms, i), 'service-api', 'end_user', 'eu',
		'user-' || (i % 1000), to_timestamp(ms / 1000.0), 1, (to_timestamp(ms / 1000.0) AT TIME ZONE 'UTC')::date
	FROM r
)
INSERT INTO workflow_node_executions (id, app_id, workflow_id, triggered_from, workflow_run_id, index, predecessor_node_id,
	node_id, node_type, title, inputs, outputs, status, elapsed_time, created_at, finished_at, seq, day)
SELECT pg_temp.v7(ms + k, i * 16 + k + (1::bigint << 44)), 'app-' || (i % $5), 'wf', 'workflow-run', pg_temp.v7(ms, i), k,
	'n' || (k - 1), 'n' || k, 'template-transform', 'Step ' || k, jsonb_build_object('x', i), jsonb_build_object('output', 'v' || k),
	'succeeded', 0.001 * k, to_timestamp((ms + k) / 1000.0), to_timestamp((ms + k + 1) / 1000.0), 2 * k + 1,
	(to_timestamp(ms / 1000.0) AT TIME ZONE 'UTC')::date
FROM r, generate_series(1, 5 + (i % 6)::int) k`

func (b *bench) fill(ctx context.Context, nodes int) error {
	ms, err := migrate.Load(migrations.FS)
	if err != nil {
		return err
	}
	if _, err := migrate.Up(ctx, b.pool, ms); err != nil {
		return err
	}
	for _, t := range reposql.PartitionedTables {
		if _, err := b.pool.Exec(ctx, "TRUNCATE "+t); err != nil {
			return err
		}
	}
	if _, err := b.pool.Exec(ctx, "TRUNCATE workflow_log_counts; UPDATE workflow_log_counts_sealed SET day = NULL"); err != nil {
		return err
	}
	parts, err := reposql.NewPartitions(b.pool, reposql.PartitionConfig{Ahead: b.days,
		Now: func() time.Time { return b.now.AddDate(0, 0, -b.days+1) }})
	if err != nil {
		return err
	}
	if _, err := parts.Maintain(ctx); err != nil {
		return err
	}
	runs := int64(float64(nodes) / 7.5)
	perDay := runs / int64(b.days)
	step := int64(86_400_000) / perDay
	start := time.Now()
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, v7); err != nil {
		return err
	}
	first := reposql.Day("", b.now.AddDate(0, 0, -b.days+1))
	for d := range b.days {
		dayStart := first.AddDate(0, 0, d).UnixMilli()
		lo := int64(d)*perDay + 1
		if _, err := conn.Exec(ctx, fillDay, lo, lo+perDay-1, dayStart, step, b.apps); err != nil {
			return fmt.Errorf("fill day %d: %w", d, err)
		}
		fmt.Fprintf(os.Stderr, "filled day %d/%d (%s)\n", d+1, b.days, time.Since(start).Round(time.Second))
	}
	if _, err := b.pool.Exec(ctx, "VACUUM ANALYZE workflow_runs, workflow_node_executions, workflow_app_logs"); err != nil {
		return err
	}
	var n int64
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM workflow_node_executions`).Scan(&n); err != nil {
		return err
	}
	fmt.Printf("filled %d runs, %d node executions over %d days in %s\n", perDay*int64(b.days), n, b.days, time.Since(start).Round(time.Second))

	// What the maintainer does on its first run after the upgrade to
	// migration 007: count the logs of every day up to 3 days ago.
	if parts, err = reposql.NewPartitions(b.pool, reposql.PartitionConfig{Now: func() time.Time { return b.now }}); err != nil {
		return err
	}
	start = time.Now()
	if _, err := parts.Maintain(ctx); err != nil {
		return err
	}
	var days int
	if err := b.pool.QueryRow(ctx, `SELECT count(DISTINCT day) FROM workflow_log_counts`).Scan(&days); err != nil {
		return err
	}
	fmt.Printf("sealed the log counts of %d days in %s\n", days, time.Since(start).Round(time.Millisecond))
	return nil
}

// timed calls f n times and prints its p50, p95 and max.
func timed(name string, n int, f func(i int) error) error {
	ds := make([]time.Duration, 0, n)
	for i := range n {
		t := time.Now()
		if err := f(i); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		ds = append(ds, time.Since(t))
	}
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[int(p*float64(len(ds)-1))].Round(10 * time.Microsecond) }
	fmt.Printf("%-44s p50 %9s  p95 %9s  max %9s  (n=%d)\n", name, q(0.5), q(0.95), ds[len(ds)-1].Round(10*time.Microsecond), n)
	return nil
}

// Summary is a per-app summary over a window: run count, error rate and
// latency percentiles, read from workflow_runs_app_created_idx alone in
// the partitions of the window's days.
const Summary = `SELECT count(*), count(*) FILTER (WHERE status IN ('failed', 'exception', 'stopped', 'partial-succeeded')),
	COALESCE(percentile_cont(0.5) WITHIN GROUP (ORDER BY elapsed_time), 0),
	COALESCE(percentile_cont(0.95) WITHIN GROUP (ORDER BY elapsed_time), 0)
FROM workflow_runs
WHERE app_id = $1 AND created_at >= $2 AND created_at < $3 AND day BETWEEN $4::date AND $5::date`

func (b *bench) measure(ctx context.Context, n int) error {
	rows, err := b.pool.Query(ctx, `SELECT id::text FROM workflow_runs ORDER BY random() LIMIT $1`, n)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(ids) == 0 {
		return fmt.Errorf("sample run ids: %d, %v", len(ids), err)
	}
	app := func(i int) string { return fmt.Sprintf("app-%d", i%b.apps) }
	rnd := rand.New(rand.NewPCG(1, 2))
	list := func(name string, p func(i int) *repo.RunListParams) error {
		return timed("runs list, "+name, n, func(i int) error {
			_, err := b.store.RunList(ctx, p(i))
			return err
		})
	}
	week := b.now.AddDate(0, 0, -7)
	if err := list("page 1", func(i int) *repo.RunListParams { return &repo.RunListParams{AppID: app(i)} }); err != nil {
		return err
	}
	if err := list("page 50", func(i int) *repo.RunListParams { return &repo.RunListParams{AppID: app(i), Page: 50} }); err != nil {
		return err
	}
	if err := list("status=failed", func(i int) *repo.RunListParams {
		return &repo.RunListParams{AppID: app(i), Status: repo.StatusFailed}
	}); err != nil {
		return err
	}
	if err := list("last 7 days", func(i int) *repo.RunListParams {
		return &repo.RunListParams{AppID: app(i), CreatedAfter: week}
	}); err != nil {
		return err
	}
	if err := list("one day, 3 days ago", func(i int) *repo.RunListParams {
		return &repo.RunListParams{AppID: app(i), CreatedAfter: b.now.AddDate(0, 0, -3), CreatedBefore: b.now.AddDate(0, 0, -2)}
	}); err != nil {
		return err
	}
	if err := list("end user", func(i int) *repo.RunListParams {
		return &repo.RunListParams{AppID: app(i), SessionID: fmt.Sprintf("user-%d", rnd.IntN(1000))}
	}); err != nil {
		return err
	}
	if err := list("keyword, one day", func(i int) *repo.RunListParams {
		return &repo.RunListParams{AppID: app(i), Keyword: "hello 12", CreatedAfter: b.now.AddDate(0, 0, -3), CreatedBefore: b.now.AddDate(0, 0, -2)}
	}); err != nil {
		return err
	}
	if err := timed("run detail (run + node executions)", n, func(i int) error {
		id := ids[i%len(ids)]
		var a string
		if err := b.pool.QueryRow(ctx, `SELECT app_id FROM workflow_runs WHERE id = $1`, id).Scan(&a); err != nil {
			return err
		}
		if _, err := b.store.RunGet(ctx, &repo.RunGetParams{AppID: a, RunID: id}); err != nil {
			return err
		}
		_, err := b.store.NodeExecutionList(ctx, &repo.NodeExecutionListParams{AppID: a, RunID: id})
		return err
	}); err != nil {
		return err
	}
	for _, w := range []struct {
		name string
		span time.Duration
	}{{"24 h", 24 * time.Hour}, {"7 days", 7 * 24 * time.Hour}, {"30 days", 30 * 24 * time.Hour}} {
		from := b.now.Add(-w.span)
		if err := timed("per-app summary, "+w.name, n/4, func(i int) error {
			var runs, errs int64
			var p50, p95 float64
			return b.pool.QueryRow(ctx, Summary, app(i), from, b.now,
				reposql.Day("", from).AddDate(0, 0, -1).Format(time.DateOnly), reposql.Day("", b.now).AddDate(0, 0, 1).Format(time.DateOnly)).
				Scan(&runs, &errs, &p50, &p95)
		}); err != nil {
			return err
		}
	}
	return b.dropVersusDelete(ctx)
}

// dropVersusDelete drops the partitions of the oldest day, then deletes
// the records of the next day with DELETE, and prints both times.
func (b *bench) dropVersusDelete(ctx context.Context) error {
	first := reposql.Day("", b.now.AddDate(0, 0, -b.days+1))
	second := first.AddDate(0, 0, 1)
	rows := func(day time.Time) (int64, error) {
		var n int64
		err := b.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM workflow_runs WHERE day = $1::date)
			+ (SELECT count(*) FROM workflow_node_executions WHERE day = $1::date)
			+ (SELECT count(*) FROM workflow_app_logs WHERE day = $1::date)`, day.Format(time.DateOnly)).Scan(&n)
		return n, err
	}
	count, err := rows(first)
	if err != nil {
		return err
	}
	parts, err := reposql.NewPartitions(b.pool, reposql.PartitionConfig{Now: func() time.Time { return b.now }, Retention: b.now.Sub(second)})
	if err != nil {
		return err
	}
	t := time.Now()
	m, err := parts.Maintain(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("drop a day of partitions (%d rows, %d partitions): %s\n", count, len(m.Dropped), time.Since(t).Round(time.Millisecond))
	var deleted int64
	t = time.Now()
	for _, tb := range reposql.PartitionedTables {
		tag, err := b.pool.Exec(ctx, `DELETE FROM `+tb+` WHERE day = $1::date`, second.Format(time.DateOnly))
		if err != nil {
			return err
		}
		deleted += tag.RowsAffected()
	}
	fmt.Printf("DELETE the next day's records (%d rows): %s\n", deleted, time.Since(t).Round(time.Millisecond))
	return nil
}
