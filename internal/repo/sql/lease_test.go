package sql_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/dbtest"
	"github.com/flowrun/flowrun/internal/repo"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
)

func TestLeaseClosesRunsOfLostInstances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	store := reposql.New(pool)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	alive, lost := uuid.NewString(), uuid.NewString()
	// The lost instance registered, then stopped heartbeating a minute ago
	// (it was SIGKILLed).
	if _, err := pool.Exec(ctx, `INSERT INTO instances (id, heartbeat_at) VALUES ($1, now() - interval '1 minute')`, lost); err != nil {
		t.Fatal(err)
	}
	lease, err := reposql.NewLease(pool, reposql.LeaseConfig{InstanceID: alive, Heartbeat: 20 * time.Millisecond, LostAfter: 200 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(instance string, st repo.Status, seq int64) (*repo.WorkflowRun, *repo.NodeExecution) {
		r := &repo.WorkflowRun{ID: uuid.NewString(), AppID: "app", Status: st, InstanceID: instance, CreatedAt: time.Now().Add(-time.Second), Seq: seq}
		n := &repo.NodeExecution{ID: uuid.NewString(), WorkflowRunID: r.ID, AppID: "app", NodeID: "n", Status: repo.StatusRunning, CreatedAt: time.Now(), Seq: seq}
		return r, n
	}
	orphan, orphanNode := mk(lost, repo.StatusRunning, 3)
	done, _ := mk(lost, repo.StatusSucceeded, 9)
	mine, mineNode := mk(alive, repo.StatusRunning, 3)
	untracked, _ := mk("", repo.StatusRunning, 2)
	if err := store.Write(ctx, &repo.Batch{
		Runs:           []*repo.WorkflowRun{orphan, done, mine, untracked},
		NodeExecutions: []*repo.NodeExecution{orphanNode, mineNode},
	}); err != nil {
		t.Fatal(err)
	}

	if err := lease.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer lease.Stop(ctx)
	get := func(r *repo.WorkflowRun) *repo.WorkflowRun {
		got, err := store.RunGet(ctx, &repo.RunGetParams{AppID: "app", RunID: r.ID})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for get(orphan).Status != repo.StatusFailed {
		select {
		case <-deadline:
			t.Fatal("the lost instance's run was not closed")
		case <-tick.C:
		}
	}
	got := get(orphan)
	if got.Error != reposql.LostError || got.FinishedAt.IsZero() || got.InstanceID != lost {
		t.Fatalf("closed run: %+v", got)
	}
	nodes, _ := store.NodeExecutionList(ctx, &repo.NodeExecutionListParams{AppID: "app", RunID: orphan.ID})
	if len(nodes) != 1 || nodes[0].Status != repo.StatusFailed || nodes[0].Error != reposql.LostError {
		t.Fatalf("node of the closed run: %+v", nodes[0])
	}
	if get(done).Status != repo.StatusSucceeded || get(mine).Status != repo.StatusRunning || get(untracked).Status != repo.StatusRunning {
		t.Fatal("the reaper touched a finished run, a live instance's run or an untracked run")
	}
	// The lost instance's own final record (a replayed spool) still wins.
	final := *orphan
	final.Status, final.Seq, final.FinishedAt = repo.StatusSucceeded, 10, time.Now()
	if err := store.Write(ctx, &repo.Batch{Runs: []*repo.WorkflowRun{&final}}); err != nil {
		t.Fatal(err)
	}
	if get(orphan).Status != repo.StatusSucceeded {
		t.Fatal("the instance's own final record did not replace \"instance lost\"")
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM instances WHERE id = $1`, lost).Scan(&n); err != nil || n != 0 {
		t.Fatalf("stale instance kept: %d %v", n, err)
	}
}

func TestLeaseConfig(t *testing.T) {
	t.Parallel()
	if _, err := reposql.NewLease(nil, reposql.LeaseConfig{InstanceID: "x"}); err == nil {
		t.Error("accepted a non-UUID instance id")
	}
	if _, err := reposql.NewLease(nil, reposql.LeaseConfig{InstanceID: uuid.NewString(), Heartbeat: time.Minute, LostAfter: time.Second}); err == nil {
		t.Error("accepted LostAfter shorter than Heartbeat")
	}
}

// TestLeaseAfterOutage: when PostgreSQL comes back from an outage every
// lease in it is stale. A reaper must not count a live instance lost
// before it had LostAfter to heartbeat again, and an instance whose row
// was removed meanwhile registers again on its next heartbeat.
func TestLeaseAfterOutage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	store := reposql.New(pool)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	const lostAfter = 300 * time.Millisecond

	// Another instance's lease is stale, as after an outage.
	other := uuid.NewString()
	if _, err := pool.Exec(ctx, `INSERT INTO instances (id, heartbeat_at) VALUES ($1, now() - interval '1 minute')`, other); err != nil {
		t.Fatal(err)
	}
	run := &repo.WorkflowRun{ID: uuid.NewString(), AppID: "app", Status: repo.StatusRunning, InstanceID: other, CreatedAt: time.Now(), Seq: 1}
	if err := store.Write(ctx, &repo.Batch{Runs: []*repo.WorkflowRun{run}}); err != nil {
		t.Fatal(err)
	}
	self := uuid.NewString()
	lease, err := reposql.NewLease(pool, reposql.LeaseConfig{InstanceID: self, Heartbeat: 20 * time.Millisecond, LostAfter: lostAfter, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if err := lease.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer lease.Stop(ctx)
	// Its own row removed, as a reaper would after the outage: the next
	// heartbeat puts it back.
	if _, err := pool.Exec(ctx, `DELETE FROM instances WHERE id = $1`, self); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var registered bool
	for {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM instances WHERE id = $1`, self).Scan(&n); err != nil {
			t.Fatal(err)
		}
		registered = registered || n == 1
		got, err := store.RunGet(ctx, &repo.RunGetParams{AppID: "app", RunID: run.ID})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == repo.StatusFailed {
			if since := time.Since(started); since < lostAfter {
				t.Fatalf("the run of the stale instance was closed %s after start, before LostAfter (%s)", since, lostAfter)
			}
			break
		}
		select {
		case <-deadline:
			t.Fatal("the run of the lost instance was never closed")
		case <-tick.C:
		}
	}
	if !registered {
		t.Fatal("the instance did not register again after its row was removed")
	}
}
