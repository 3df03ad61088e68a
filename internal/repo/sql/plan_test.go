package sql_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowrun/flowrun/internal/dbtest"
	"github.com/flowrun/flowrun/internal/migrate"
	"github.com/flowrun/flowrun/internal/repo"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
	"github.com/flowrun/flowrun/migrations"
)

// plans collects the plans of the statements a pool runs, which
// auto_explain sends as notices.
type plans struct {
	mu  sync.Mutex
	all []string
}

func (p *plans) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.all
	p.all = nil
	return out
}

var partitionRE = regexp.MustCompile(`\b(workflow_runs|workflow_node_executions|workflow_app_logs|messages)_(p\d{8}|default)\b`)

// scanned returns the partitions of table a plan reads.
func scanned(plan, table string) []string {
	var out []string
	for _, m := range partitionRE.FindAllStringSubmatch(plan, -1) {
		if m[1] == table && !slices.Contains(out, m[2]) {
			out = append(out, m[2])
		}
	}
	return out
}

// TestQueriesPrune runs the read API's queries through the store with
// sequential scans disabled (so that the plans are those of big tables)
// and checks their plans, as auto_explain reports them: they read indexes
// only, never a whole table, and a run and its node executions read the
// one partition of the run's day, a list bounded in time the partitions of
// its days.
func TestQueriesPrune(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, cfg := dbtest.Schema(t)
	var got plans
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		if strings.HasPrefix(n.Message, "duration:") {
			got.mu.Lock()
			got.all = append(got.all, n.Message)
			got.mu.Unlock()
		}
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_level = notice;
			SET enable_seqscan = off`)
		return err
	}
	pool := dbtest.NewPool(t, cfg)
	ms, err := migrate.Load(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Up(ctx, pool, ms); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	parts, _ := reposql.NewPartitions(pool, reposql.PartitionConfig{Now: func() time.Time { return now.AddDate(0, 0, -10) }, Ahead: 10})
	if _, err := parts.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	s := reposql.New(pool)
	ids := agedRuns(t, s, now, []int{-10, -8, -6, -4, -2, 0})
	got.take()

	one := func(what string) string {
		t.Helper()
		ps := got.take()
		if len(ps) == 0 {
			t.Fatalf("%s: no plan reported", what)
		}
		for _, p := range ps {
			// The sealed horizon is one row: reading it whole is right.
			if strings.Contains(strings.ReplaceAll(p, "Seq Scan on workflow_log_counts_sealed", ""), "Seq Scan") {
				t.Errorf("%s scans a table whole:\n%s", what, p)
			}
		}
		return strings.Join(ps, "\n")
	}
	day := func(days int) string { return "p" + reposql.Day("", now.AddDate(0, 0, days)).Format("20060102") }

	if _, err := s.RunGet(ctx, &repo.RunGetParams{AppID: "app", RunID: ids[1]}); err != nil {
		t.Fatal(err)
	}
	if p := one("RunGet"); !slices.Equal(scanned(p, "workflow_runs"), []string{day(-8)}) {
		t.Errorf("RunGet reads %v, want the run's day only:\n%s", scanned(p, "workflow_runs"), p)
	}
	if _, err := s.NodeExecutionList(ctx, &repo.NodeExecutionListParams{AppID: "app", RunID: ids[2]}); err != nil {
		t.Fatal(err)
	}
	if p := one("NodeExecutionList"); !slices.Equal(scanned(p, "workflow_node_executions"), []string{day(-6)}) ||
		!slices.Equal(scanned(p, "workflow_runs"), []string{day(-6)}) {
		t.Errorf("NodeExecutionList reads %v and %v, want the run's day only:\n%s",
			scanned(p, "workflow_node_executions"), scanned(p, "workflow_runs"), p)
	}

	res, err := s.RunList(ctx, &repo.RunListParams{AppID: "app", CreatedAfter: now.AddDate(0, 0, -4).Add(-time.Minute), CreatedBefore: now.AddDate(0, 0, -4).Add(time.Minute)})
	if err != nil || res.Total != 1 {
		t.Fatalf("RunList of day -4: %v, %v", res, err)
	}
	if p := one("RunList in a day"); !slices.Equal(slices.Sorted(slices.Values(scanned(p, "workflow_app_logs"))), []string{day(-5), day(-4), day(-3)}) {
		t.Errorf("RunList of day -4 reads %v, want days -5 to -3:\n%s", scanned(p, "workflow_app_logs"), p)
	}
	for _, p := range []*repo.RunListParams{
		{AppID: "app"},
		{AppID: "app", Status: repo.StatusSucceeded, Page: 2, Limit: 2},
		{AppID: "app", SessionID: "u"},
	} {
		if _, err := s.RunList(ctx, p); err != nil {
			t.Fatal(err)
		}
		one("RunList")
	}
}
