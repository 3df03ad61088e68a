package sql_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/dbtest"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/repotest"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
)

// logRecord is what a runs-list total depends on: a log's app, time and
// its run's status ("" when the run is not written).
type logRecord struct {
	app     string
	created time.Time
	status  repo.Status
}

// wantTotal counts the logs that match p's app, status and time bounds.
func wantTotal(logs map[string]*logRecord, p *repo.RunListParams) int64 {
	var n int64
	for _, l := range logs {
		if l.app != p.AppID || (p.Status != "" && l.status != p.Status) ||
			(!p.CreatedAfter.IsZero() && l.created.Before(p.CreatedAfter)) ||
			(!p.CreatedBefore.IsZero() && l.created.After(p.CreatedBefore)) {
			continue
		}
		n++
	}
	return n
}

// checkPages reads every page of three runs of each status list of apps a
// and b, and compares them with the logs written, newest first.
func checkPages(t *testing.T, s *reposql.Store, logs map[string]*logRecord, stage string) {
	t.Helper()
	for _, app := range []string{"a", "b"} {
		for _, st := range []repo.Status{repo.StatusSucceeded, repo.StatusFailed, repo.StatusRunning, repo.StatusStopped} {
			var want []string
			for id, l := range logs {
				if l.app == app && l.status == st {
					want = append(want, id)
				}
			}
			slices.SortFunc(want, func(x, y string) int { return logs[y].created.Compare(logs[x].created) })
			var got []string
			for page := 1; ; page++ {
				res, err := s.RunList(t.Context(), &repo.RunListParams{AppID: app, Status: st, Page: page, Limit: 3})
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range res.Items {
					got = append(got, it.Log.WorkflowRunID)
				}
				if !res.HasMore || page > 100 {
					break
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: pages of app %s, status %s: %v, want %v", stage, app, st, got, want)
			}
		}
	}
}

// TestLogCounts: the runs list's totals, summed from the counts of sealed
// days and a count of the days after them (migration 007), equal a plain
// count for every filter: before any day is sealed, after sealing, after
// records of sealed days arrive late (a run that changes status, a new
// run and log, a log whose run is not written), and after retention drops
// days.
func TestLogCounts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := dbtest.Pool(t)
	s := reposql.New(pool)
	now := time.Now().UTC().Truncate(time.Microsecond)
	past, err := reposql.NewPartitions(pool, reposql.PartitionConfig{Now: func() time.Time { return now.AddDate(0, 0, -12) }, Ahead: 13})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := past.Maintain(ctx); err != nil {
		t.Fatal(err)
	}

	logs := map[string]*logRecord{} // by run id
	write := func(app string, at time.Time, status repo.Status, seq int64, withRun, withLog bool, id string) string {
		t.Helper()
		if id == "" {
			id = v7At(at)
		}
		b := &repo.Batch{}
		if withRun {
			b.Runs = append(b.Runs, &repo.WorkflowRun{ID: id, AppID: app, WorkflowID: "wf", Status: status, TriggeredFrom: "app-run",
				Inputs: json.RawMessage(`{}`), SessionID: "u", CreatedAt: at, Seq: seq})
		}
		if withLog {
			b.AppLogs = append(b.AppLogs, &repo.AppLog{ID: repotest.NewID(), AppID: app, WorkflowRunID: id, SessionID: "u", CreatedAt: at, Seq: 1})
		}
		if err := s.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		if withLog {
			logs[id] = &logRecord{app: app}
		}
		if l := logs[id]; l != nil {
			l.created = at
			if withRun {
				l.status = status
			}
		}
		return id
	}
	statuses := []repo.Status{repo.StatusSucceeded, repo.StatusFailed, repo.StatusRunning, repo.StatusSucceeded, repo.StatusStopped}
	var runs []string
	for day := -11; day <= 0; day++ {
		for i, st := range statuses {
			at := now.AddDate(0, 0, day).Add(-time.Duration(i) * time.Hour)
			runs = append(runs, write("a", at, st, 5, true, true, ""))
			if i%2 == 0 {
				write("b", at, st, 5, true, true, "")
			}
		}
	}
	write("a", now.AddDate(0, 0, -6), "", 0, false, true, "") // a log whose run is not written
	write("a", now.AddDate(0, 0, -6), repo.StatusFailed, 5, true, false, "")

	day := func(d int) time.Time { return now.AddDate(0, 0, d) }
	var params []*repo.RunListParams
	for _, app := range []string{"a", "b", "c"} {
		for _, st := range []repo.Status{"", repo.StatusSucceeded, repo.StatusFailed, repo.StatusRunning} {
			for _, bounds := range [][2]time.Time{
				{}, {day(-5), time.Time{}}, {time.Time{}, day(-5)}, {day(-9), day(-2)}, {day(-8).Add(time.Hour), day(-7)},
				{time.Time{}, day(-40)}, {day(-1), time.Time{}}, {day(-10), day(1)},
			} {
				params = append(params, &repo.RunListParams{AppID: app, Status: st, CreatedAfter: bounds[0], CreatedBefore: bounds[1]})
			}
		}
	}
	check := func(stage string) {
		t.Helper()
		checkPages(t, s, logs, stage)
		for _, p := range params {
			res, err := s.RunList(ctx, p)
			if err != nil {
				t.Fatalf("%s: RunList(%+v): %v", stage, *p, err)
			}
			if want := wantTotal(logs, p); res.Total != want {
				t.Errorf("%s: RunList(app %s, status %q, after %v, before %v): total %d, want %d",
					stage, p.AppID, p.Status, p.CreatedAfter, p.CreatedBefore, res.Total, want)
			}
		}
	}
	check("nothing sealed")

	maint, err := reposql.NewPartitions(pool, reposql.PartitionConfig{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	m, err := maint.Maintain(ctx)
	if err != nil || m.Sealed == 0 {
		t.Fatalf("Maintain: %+v, %v; want the days up to 3 days ago sealed", m, err)
	}
	var horizon time.Time
	var rows int
	if err := pool.QueryRow(ctx, `SELECT day, (SELECT count(*) FROM workflow_log_counts) FROM workflow_log_counts_sealed`).Scan(&horizon, &rows); err != nil {
		t.Fatal(err)
	}
	if want := reposql.Day("", day(-3)); !horizon.Equal(want) || rows == 0 {
		t.Fatalf("sealed up to %v with %d count rows, want %v and some", horizon, rows, want)
	}
	check("sealed")

	// Late records of sealed days: a running run of day -9 fails, a run
	// and its log of day -7 arrive, a log of day -4 whose run is not
	// written.
	write("a", logs[runs[2*len(statuses)+2]].created, repo.StatusFailed, 9, true, false, runs[2*len(statuses)+2])
	write("b", day(-7).Add(time.Minute), repo.StatusSucceeded, 5, true, true, "")
	write("b", day(-4).Add(time.Minute), "", 0, false, true, "")
	check("late writes")

	// The next day: one more day sealed.
	next, _ := reposql.NewPartitions(pool, reposql.PartitionConfig{Now: func() time.Time { return now.AddDate(0, 0, 1) }})
	if m, err := next.Maintain(ctx); err != nil || m.Sealed != 0 {
		// The clock never runs ahead of the real one: nothing to seal.
		t.Fatalf("Maintain a day ahead: %+v, %v", m, err)
	}

	// Retention of 8 days drops the days before -8.
	keep, _ := reposql.NewPartitions(pool, reposql.PartitionConfig{Now: func() time.Time { return now }, Retention: 8 * 24 * time.Hour})
	if m, err := keep.Maintain(ctx); err != nil || len(m.Dropped) == 0 {
		t.Fatalf("Maintain with retention: %+v, %v", m, err)
	}
	cutoff := reposql.Day("", day(-8))
	for id, l := range logs {
		if reposql.Day(id, l.created).Before(cutoff) {
			delete(logs, id)
		}
	}
	var left int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM workflow_log_counts WHERE day < $1`, cutoff).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d counts of dropped days left (%v)", left, err)
	}
	check("after retention")
}
