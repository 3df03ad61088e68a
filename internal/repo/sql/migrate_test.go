package sql_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowrun/flowrun/internal/dbtest"
	"github.com/flowrun/flowrun/internal/migrate"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/repotest"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
	"github.com/flowrun/flowrun/migrations"
)

// partitioned are the tables migration 006 partitions.
var partitioned = []string{"workflow_runs", "workflow_node_executions", "workflow_app_logs", "messages"}

// v7At returns a version 7 UUID whose time is at.
func v7At(at time.Time) string {
	id := uuid.Must(uuid.NewV7())
	ms := at.UnixMilli()
	for i := range 6 {
		id[i] = byte(ms >> (40 - 8*i))
	}
	return id.String()
}

// recordsAt returns a run of app at created (with id its id), its two node
// executions and app log, and a chat message of conv about it.
func recordsAt(app, id string, created time.Time, conv *repo.Conversation) *repo.Batch {
	b := &repo.Batch{}
	r := &repo.WorkflowRun{ID: id, AppID: app, WorkflowID: "wf", Status: repo.StatusSucceeded, TriggeredFrom: "app-run",
		Inputs: json.RawMessage(`{"q":"` + id + `"}`), Outputs: json.RawMessage(`{"a":1}`), SessionID: "u",
		CreatedAt: created, FinishedAt: created.Add(time.Second), ElapsedTime: 1, Seq: 9}
	b.Runs = append(b.Runs, r)
	for i := range 2 {
		b.NodeExecutions = append(b.NodeExecutions, &repo.NodeExecution{ID: v7At(created), AppID: app, WorkflowRunID: id,
			Index: int64(i + 1), NodeID: fmt.Sprintf("n%d", i), Status: repo.StatusSucceeded,
			CreatedAt: created.Add(time.Duration(i) * time.Millisecond), Seq: int64(i + 2)})
	}
	b.AppLogs = append(b.AppLogs, &repo.AppLog{ID: repotest.NewID(), AppID: app, WorkflowRunID: id, SessionID: "u", CreatedAt: created, Seq: 1})
	b.Messages = append(b.Messages, &repo.Message{ID: v7At(created), AppID: app, ConversationID: conv.ID, User: conv.User,
		WorkflowRunID: id, Query: "q", Answer: "a " + id, CreatedAt: created, UpdatedAt: created, Seq: created.UnixMicro()})
	return b
}

// tableRows returns every row of table as JSON without its day, in id order.
func tableRows(t *testing.T, db *pgxpool.Pool, table string) []string {
	t.Helper()
	rows, err := db.Query(t.Context(), fmt.Sprintf(`SELECT (to_jsonb(t) - 'day')::text FROM %s t ORDER BY id`, table))
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMigratePartitions: a database in the state of migration 005 (plain
// tables) holding records of many days, time-ordered and random ids, is
// migrated to 006; every row reads back the same, each in its day's
// partition (or the default partition, beyond the days 006 creates), and
// the store reads and writes them as before. The 005 state is made by
// writing through the store and reverting 006, which tests 006's down
// migration as well.
func TestMigratePartitions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, cfg := dbtest.Schema(t)
	pool := dbtest.NewPool(t, cfg)
	ms, err := migrate.Load(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Up(ctx, pool, ms); err != nil {
		t.Fatal(err)
	}
	s := reposql.New(pool)
	now := time.Now().UTC().Truncate(time.Microsecond)
	conv := &repo.Conversation{ID: repotest.NewID(), AppID: "app", User: "u", CreatedAt: now.AddDate(0, 0, -40), UpdatedAt: now, Seq: 1}
	if err := s.Write(ctx, &repo.Batch{Conversations: []*repo.Conversation{conv}}); err != nil {
		t.Fatal(err)
	}
	var runs []string
	for days := range 40 {
		at := now.AddDate(0, 0, -days)
		for _, id := range []string{v7At(at), repotest.NewID()} {
			runs = append(runs, id)
			if err := s.Write(ctx, recordsAt("app", id, at, conv)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Eleven years ago: beyond the partitions 006 makes.
	ancient := v7At(now.AddDate(-11, 0, 0))
	if err := s.Write(ctx, recordsAt("app", ancient, now.AddDate(-11, 0, 0), conv)); err != nil {
		t.Fatal(err)
	}
	runs = append(runs, ancient)

	before := map[string][]string{}
	for _, tb := range partitioned {
		before[tb] = tableRows(t, pool, tb)
	}
	if reverted, err := migrate.Down(ctx, pool, ms, 5); err != nil || !slices.Equal(reverted, []int64{10, 9, 8, 7, 6}) {
		t.Fatalf("down: %v, %v", reverted, err)
	}
	for _, tb := range partitioned {
		var kind string
		if err := pool.QueryRow(ctx, `SELECT relkind::text FROM pg_class WHERE oid = $1::regclass`, tb).Scan(&kind); err != nil || kind != "r" {
			t.Fatalf("%s after down: relkind %q, %v", tb, kind, err)
		}
		if got := tableRows(t, pool, tb); !slices.Equal(got, before[tb]) {
			t.Fatalf("%s after down: %d rows, want %d", tb, len(got), len(before[tb]))
		}
	}

	if applied, err := migrate.Up(ctx, pool, ms); err != nil || !slices.Equal(applied, []int64{6, 7, 8, 9, 10}) {
		t.Fatalf("up: %v, %v", applied, err)
	}
	for _, tb := range partitioned {
		if got := tableRows(t, pool, tb); !slices.Equal(got, before[tb]) {
			t.Errorf("%s after 005 → 006: rows differ (%d, want %d)", tb, len(got), len(before[tb]))
		}
		// Every row sits in the partition of its day; only the ancient
		// one is in the default partition.
		var misplaced, inDefault int
		err := pool.QueryRow(ctx, fmt.Sprintf(`SELECT
			count(*) FILTER (WHERE tableoid::regclass::text NOT IN (%[1]s || to_char(day, 'YYYYMMDD'), %[2]s)),
			count(*) FILTER (WHERE tableoid::regclass::text = %[2]s)
			FROM %[3]s`, quote(tb+"_p"), quote(tb+"_default"), tb)).Scan(&misplaced, &inDefault)
		if err != nil {
			t.Fatal(err)
		}
		if misplaced != 0 || inDefault == 0 || inDefault > 2 {
			t.Errorf("%s: %d rows misplaced, %d in the default partition (want the ancient run's)", tb, misplaced, inDefault)
		}
	}

	// The store reads the migrated records and writes new versions of
	// them into the same rows.
	for _, id := range runs {
		if _, err := s.RunGet(ctx, &repo.RunGetParams{AppID: "app", RunID: id}); err != nil {
			t.Fatalf("RunGet(%s): %v", id, err)
		}
		nodes, err := s.NodeExecutionList(ctx, &repo.NodeExecutionListParams{AppID: "app", RunID: id})
		if err != nil || len(nodes) != 2 {
			t.Fatalf("NodeExecutionList(%s): %d, %v", id, len(nodes), err)
		}
	}
	res, err := s.RunList(ctx, &repo.RunListParams{AppID: "app", CreatedAfter: now.AddDate(0, 0, -10).Add(-time.Second), Limit: 100})
	if err != nil || res.Total != 22 {
		t.Fatalf("RunList of the last ten days: %d, %v", res.Total, err)
	}
	r, err := s.RunGet(ctx, &repo.RunGetParams{AppID: "app", RunID: runs[3]})
	if err != nil {
		t.Fatal(err)
	}
	r.Seq++
	r.Error = "again"
	if err := s.Write(ctx, &repo.Batch{Runs: []*repo.WorkflowRun{r}}); err != nil {
		t.Fatal(err)
	}
	if got := tableRows(t, pool, "workflow_runs"); len(got) != len(before["workflow_runs"]) {
		t.Errorf("a new version of a migrated run made a row: %d rows, want %d", len(got), len(before["workflow_runs"]))
	}
}

func quote(s string) string { return "'" + s + "'" }
