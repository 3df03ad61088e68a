package sql_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowrun/flowrun/internal/dbtest"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/repotest"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
)

// agedRuns writes, through the store, a run (with its node executions, app
// log and message) per offset in days from now, and returns their ids.
func agedRuns(t *testing.T, s *reposql.Store, now time.Time, offsets []int) []string {
	t.Helper()
	conv := &repo.Conversation{ID: repotest.NewID(), AppID: "app", User: "u", CreatedAt: now, UpdatedAt: now, Seq: 1}
	if err := s.Write(t.Context(), &repo.Batch{Conversations: []*repo.Conversation{conv}}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, days := range offsets {
		at := now.AddDate(0, 0, days)
		id := v7At(at)
		if days%2 != 0 {
			id = repotest.NewID() // the day follows created_at
		}
		if err := s.Write(t.Context(), recordsAt("app", id, at, conv)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func nodesText(ns []*repo.NodeExecution) string {
	var out []string
	for _, n := range ns {
		out = append(out, fmt.Sprint(*n))
	}
	return fmt.Sprint(out)
}

func partitionOf(t *testing.T, pool *pgxpool.Pool, id string) string {
	t.Helper()
	var name string
	if err := pool.QueryRow(t.Context(), `SELECT tableoid::regclass::text FROM workflow_runs WHERE id = $1`, id).Scan(&name); err != nil {
		t.Fatalf("run %s: %v", id, err)
	}
	return name
}

func counts(t *testing.T, pool *pgxpool.Pool) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tb := range reposql.PartitionedTables {
		var n int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM `+tb).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[tb] = n
	}
	return out
}

// TestRetention: runs shifted back in time land in the partitions of their
// days (made ahead of time by a maintainer whose clock is shifted too);
// retention drops the partitions older than it, deletes the old rows of
// the default partitions, and leaves every newer record as it was.
func TestRetention(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := dbtest.Pool(t)
	s := reposql.New(pool)
	now := time.Now().UTC().Truncate(time.Microsecond)
	at := func(days int) func() time.Time { return func() time.Time { return now.AddDate(0, 0, days) } }

	past, err := reposql.NewPartitions(pool, reposql.PartitionConfig{Now: at(-40), Ahead: 10})
	if err != nil {
		t.Fatal(err)
	}
	m, err := past.Maintain(ctx)
	if err != nil || !m.Locked || len(m.Created) != 11*4 {
		t.Fatalf("Maintain 40 days ago: %+v, %v", m, err)
	}

	// -45 and -20 have no partition: their rows wait in the default ones.
	offsets := []int{-45, -40, -35, -31, -30, -20, 0}
	ids := agedRuns(t, s, now, offsets)
	for i, days := range offsets {
		want := fmt.Sprintf("workflow_runs_p%s", reposql.Day("", now.AddDate(0, 0, days)).Format("20060102"))
		if days == -45 || days == -20 {
			want = "workflow_runs_default"
		}
		if got := partitionOf(t, pool, ids[i]); got != want {
			t.Errorf("run of day %d is in %s, want %s", days, got, want)
		}
	}
	kept := map[string]*repo.WorkflowRun{}
	keptNodes := map[string][]*repo.NodeExecution{}
	for i, days := range offsets {
		if days >= -30 {
			kept[ids[i]], _ = s.RunGet(ctx, &repo.RunGetParams{AppID: "app", RunID: ids[i]})
			keptNodes[ids[i]], _ = s.NodeExecutionList(ctx, &repo.NodeExecutionListParams{AppID: "app", RunID: ids[i]})
		}
	}

	r, err := reposql.NewPartitions(pool, reposql.PartitionConfig{Now: at(0), Retention: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	m, err = r.Maintain(ctx)
	if err != nil || !m.Locked {
		t.Fatalf("Maintain: %+v, %v", m, err)
	}
	// Days -40 to -31, in four tables; the default partitions held the
	// run of day -45: a run, two node executions, a log and a message.
	if len(m.Dropped) != 10*4 || m.Deleted != 5 {
		t.Errorf("dropped %d partitions (%v), deleted %d rows; want 40 and 5", len(m.Dropped), m.Dropped, m.Deleted)
	}
	for i, days := range offsets {
		got, err := s.RunGet(ctx, &repo.RunGetParams{AppID: "app", RunID: ids[i]})
		if days < -30 {
			if !errors.Is(err, repo.ErrNotFound) {
				t.Errorf("run of day %d: %v, want ErrNotFound", days, err)
			}
			continue
		}
		if err != nil || fmt.Sprint(*got) != fmt.Sprint(*kept[ids[i]]) {
			t.Errorf("run of day %d changed: %v", days, err)
		}
		nodes, err := s.NodeExecutionList(ctx, &repo.NodeExecutionListParams{AppID: "app", RunID: ids[i]})
		if err != nil || nodesText(nodes) != nodesText(keptNodes[ids[i]]) || len(nodes) != 2 {
			t.Errorf("node executions of day %d changed: %v", days, err)
		}
	}
	want := map[string]int{"workflow_runs": 3, "workflow_node_executions": 6, "workflow_app_logs": 3, "messages": 3}
	if got := counts(t, pool); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows left: %v, want %v", got, want)
	}

	// Again: nothing left to do.
	if m, err := r.Maintain(ctx); err != nil || len(m.Dropped)+len(m.Created) != 0 || m.Deleted != 0 {
		t.Errorf("second Maintain: %+v, %v", m, err)
	}
}

// TestRetentionOnce: maintainers of several replicas running at once drop
// each partition once, and none works while another holds the lock.
func TestRetentionOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := dbtest.Pool(t)
	now := time.Now().UTC()
	past, _ := reposql.NewPartitions(pool, reposql.PartitionConfig{Now: func() time.Time { return now.AddDate(0, 0, -20) }, Ahead: 9})
	if _, err := past.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	const replicas = 4
	var ps []*reposql.Partitions
	for range replicas {
		p, err := reposql.NewPartitions(pool, reposql.PartitionConfig{Now: func() time.Time { return now }, Retention: 15 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	run := func() []reposql.Maintenance {
		out := make([]reposql.Maintenance, replicas)
		var wg sync.WaitGroup
		for i, p := range ps {
			wg.Go(func() {
				var err error
				if out[i], err = p.Maintain(ctx); err != nil {
					t.Errorf("replica %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		return out
	}

	// Someone holds the lock: nobody works.
	holder, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended('flowrun.partitions:' || current_schema(), 0))`); err != nil {
		t.Fatal(err)
	}
	for i, m := range run() {
		if m.Locked || len(m.Dropped) > 0 {
			t.Errorf("replica %d worked under another's lock: %+v", i, m)
		}
	}
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_unlock_all()`); err != nil {
		t.Fatal(err)
	}
	holder.Release()

	var dropped []string
	for _, m := range run() {
		dropped = append(dropped, m.Dropped...)
	}
	slices.Sort(dropped)
	// Days -20 to -16 (the cutoff is day -15), in four tables, once each.
	if len(dropped) != 5*4 || len(slices.Compact(slices.Clone(dropped))) != len(dropped) {
		t.Errorf("dropped %v; want 20 partitions, each once", dropped)
	}

	// Start and Stop: the loop's first run, stopped.
	if err := ps[0].Start(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := ps[0].Stop(ctx); err != nil {
			t.Fatalf("Stop = %v", err)
		}
	}
}
