// Package repotest is the conformance suite for repo.Store implementations.
// Every implementation's tests call Exercise; passing it is what makes the
// memory store a trustworthy stand-in for the database in engine and API
// tests.
package repotest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/repo"
)

// Exercise runs the conformance suite. newStore returns a fresh, empty store
// for one subtest (subtests run in parallel); it registers its own cleanup.
// A store with a capacity must hold at least 500 runs.
func Exercise(t *testing.T, newStore func(t *testing.T) repo.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s repo.Store)
	}{
		{"RunRoundTrip", testRunRoundTrip},
		{"RunGetNotFound", testRunGetNotFound},
		{"NodeExecutionList", testNodeExecutionList},
		{"NodeExecutionListNotFound", testNodeExecutionListNotFound},
		{"IdempotentRedelivery", testIdempotentRedelivery},
		{"MonotonicSeq", testMonotonicSeq},
		{"TerminalNeverRegresses", testTerminalNeverRegresses},
		{"VersionsInOneBatch", testVersionsInOneBatch},
		{"Conflict", testConflict},
		{"Invalid", testInvalid},
		{"EmptyBatch", testEmptyBatch},
		{"RunListPagination", testRunListPagination},
		{"RunListFilters", testRunListFilters},
		{"RunListKeyword", testRunListKeyword},
		{"RunListOrderTies", testRunListOrderTies},
		{"RunListMissingRun", testRunListMissingRun},
		{"RunListInvalid", testRunListInvalid},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Converge", testConverge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

func testRunRoundTrip(t *testing.T, s repo.Store) {
	r := runFixture("app-1", baseTime)
	r.Inputs = json.RawMessage(`{"query":"春联 <b>&</b>","n":1.5,"big":12345678901234567,"nested":{"a":[1,null,true]}}`)
	l := logFixture(r)
	write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{r}, AppLogs: []*repo.AppLog{l}})
	requireRun(t, r, getRun(t, s, r.AppID, r.ID))

	done := finish(r, repo.StatusSucceeded, 9)
	write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{done}})
	requireRun(t, done, getRun(t, s, r.AppID, r.ID))
	// Lookups accept any case of the UUID.
	requireRun(t, done, getRun(t, s, r.AppID, strings.ToUpper(r.ID)))

	res := list(t, s, &repo.RunListParams{AppID: r.AppID})
	if res.Total != 1 || len(res.Items) != 1 {
		t.Fatalf("RunList: total %d, %d items; want 1", res.Total, len(res.Items))
	}
	requireLog(t, l, res.Items[0].Log)
	requireRun(t, done, res.Items[0].Run)

	// A failed run keeps its error; a run without JSON keeps nils.
	f := runFixture("app-1", baseTime)
	f.Graph, f.Inputs = nil, nil
	f = finish(f, repo.StatusFailed, 4)
	f.Outputs = nil
	write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{f}})
	requireRun(t, f, getRun(t, s, f.AppID, f.ID))
}

func testRunGetNotFound(t *testing.T, s repo.Store) {
	r := runFixture("app-1", baseTime)
	write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{r}})
	for _, p := range []*repo.RunGetParams{
		{AppID: "app-1", RunID: NewID()},
		{AppID: "app-2", RunID: r.ID},
		{AppID: "app-1", RunID: "not-a-uuid"},
		{AppID: "app-1", RunID: ""},
	} {
		_, err := s.RunGet(ctx(t), p)
		requireErr(t, err, repo.ErrNotFound)
	}
}

func testNodeExecutionList(t *testing.T, s repo.Store) {
	r := runFixture("app-1", baseTime)
	var nodes []*repo.NodeExecution
	for i := int64(1); i <= 5; i++ {
		nodes = append(nodes, nodeFixture(r, i))
	}
	// Written in reverse, listed by index.
	b := &repo.Batch{Runs: []*repo.WorkflowRun{r}}
	for i := len(nodes) - 1; i >= 0; i-- {
		b.NodeExecutions = append(b.NodeExecutions, nodes[i])
	}
	write(t, s, b)
	requireNodes(t, nodes, listNodes(t, s, r.AppID, r.ID))

	// Finish some, including an iteration child and a handled failure.
	nodes[1] = finishNode(nodes[1], repo.StatusSucceeded, 20)
	nodes[2].IterationID = "iter-1"
	nodes[2] = finishNode(nodes[2], repo.StatusException, 21)
	nodes[3].LoopID = "loop-1"
	nodes[3].PredecessorNodeID = ""
	nodes[3] = finishNode(nodes[3], repo.StatusFailed, 22)
	write(t, s, &repo.Batch{NodeExecutions: []*repo.NodeExecution{nodes[3], nodes[1], nodes[2]}})
	requireNodes(t, nodes, listNodes(t, s, r.AppID, r.ID))

	// Another run's nodes stay apart.
	r2 := runFixture("app-1", baseTime)
	write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{r2}, NodeExecutions: []*repo.NodeExecution{nodeFixture(r2, 1)}})
	requireNodes(t, nodes, listNodes(t, s, r.AppID, r.ID))
	if got := listNodes(t, s, r2.AppID, r2.ID); len(got) != 1 {
		t.Fatalf("run 2 has %d node executions, want 1", len(got))
	}
}

func testNodeExecutionListNotFound(t *testing.T, s repo.Store) {
	r := runFixture("app-1", baseTime)
	write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{r}})
	// A stored run without node executions gives an empty list.
	if got := listNodes(t, s, r.AppID, r.ID); len(got) != 0 {
		t.Fatalf("got %d node executions, want 0", len(got))
	}
	for _, p := range []*repo.NodeExecutionListParams{
		{AppID: "app-1", RunID: NewID()},
		{AppID: "app-2", RunID: r.ID},
		{AppID: "app-1", RunID: "nope"},
	} {
		_, err := s.NodeExecutionList(ctx(t), p)
		requireErr(t, err, repo.ErrNotFound)
	}
}

func testIdempotentRedelivery(t *testing.T, s repo.Store) {
	r := runFixture("app-1", baseTime)
	n1, n2 := nodeFixture(r, 1), nodeFixture(r, 2)
	l := logFixture(r)
	started := &repo.Batch{Runs: []*repo.WorkflowRun{r}, NodeExecutions: []*repo.NodeExecution{n1, n2}, AppLogs: []*repo.AppLog{l}}
	done := finish(r, repo.StatusSucceeded, 10)
	d1, d2 := finishNode(n1, repo.StatusSucceeded, 8), finishNode(n2, repo.StatusSucceeded, 9)
	finished := &repo.Batch{Runs: []*repo.WorkflowRun{done}, NodeExecutions: []*repo.NodeExecution{d1, d2}}

	for range 3 {
		write(t, s, started)
		write(t, s, finished)
		write(t, s, started)
	}
	requireRun(t, done, getRun(t, s, r.AppID, r.ID))
	requireNodes(t, []*repo.NodeExecution{d1, d2}, listNodes(t, s, r.AppID, r.ID))
	res := list(t, s, &repo.RunListParams{AppID: r.AppID})
	if res.Total != 1 || len(res.Items) != 1 {
		t.Fatalf("RunList after re-delivery: total %d, %d items; want 1", res.Total, len(res.Items))
	}
	requireLog(t, l, res.Items[0].Log)
}

func testMonotonicSeq(t *testing.T, s repo.Store) {
	r := runFixture("app-1", baseTime)
	n := nodeFixture(r, 1)
	v5 := *r
	v5.Seq, v5.TotalSteps = 5, 5
	v3 := *r
	v3.Seq, v3.TotalSteps = 3, 3
	write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{&v5}})
	write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{&v3}})
	requireRun(t, &v5, getRun(t, s, r.AppID, r.ID))

	v7 := *r
	v7.Seq, v7.TotalSteps, v7.Status = 7, 7, repo.StatusPaused
	write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{&v7}})
	requireRun(t, &v7, getRun(t, s, r.AppID, r.ID))

	// Nodes follow the same rule: running → retry → succeeded, delivered late.
	retry := *n
	retry.Seq, retry.Status, retry.Error = 4, repo.StatusRetry, "timeout"
	ok := finishNode(n, repo.StatusSucceeded, 6)
	write(t, s, &repo.Batch{NodeExecutions: []*repo.NodeExecution{&retry}})
	write(t, s, &repo.Batch{NodeExecutions: []*repo.NodeExecution{n}})
	requireNodes(t, []*repo.NodeExecution{&retry}, listNodes(t, s, r.AppID, r.ID))
	write(t, s, &repo.Batch{NodeExecutions: []*repo.NodeExecution{ok}})
	write(t, s, &repo.Batch{NodeExecutions: []*repo.NodeExecution{&retry, n}})
	requireNodes(t, []*repo.NodeExecution{ok}, listNodes(t, s, r.AppID, r.ID))

	// App logs keep the highest Seq too.
	l := logFixture(r)
	l2 := *l
	l2.Seq, l2.CreatedFrom = 2, "web-app"
	write(t, s, &repo.Batch{AppLogs: []*repo.AppLog{&l2}})
	write(t, s, &repo.Batch{AppLogs: []*repo.AppLog{l}})
	res := list(t, s, &repo.RunListParams{AppID: r.AppID})
	if len(res.Items) != 1 {
		t.Fatalf("got %d items, want 1", len(res.Items))
	}
	requireLog(t, &l2, res.Items[0].Log)
}

func testTerminalNeverRegresses(t *testing.T, s repo.Store) {
	for _, final := range []repo.Status{repo.StatusSucceeded, repo.StatusFailed, repo.StatusStopped, repo.StatusPartialSucceeded} {
		r := runFixture("app-1", baseTime)
		done := finish(r, final, 5)
		late := *r
		late.Seq = 9 // a buggy or replayed producer: higher Seq, but running
		write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{done}})
		write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{&late}})
		write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{r}})
		requireRun(t, done, getRun(t, s, r.AppID, r.ID))

		// The terminal version wins whichever arrives first.
		r2 := runFixture("app-1", baseTime)
		late2 := *r2
		late2.Seq = 9
		done2 := finish(r2, final, 5)
		write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{&late2}})
		write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{done2}})
		requireRun(t, done2, getRun(t, s, r2.AppID, r2.ID))
	}

	r := runFixture("app-1", baseTime)
	n := nodeFixture(r, 1)
	exc := finishNode(n, repo.StatusException, 3)
	retry := *n
	retry.Seq, retry.Status = 8, repo.StatusRetry
	write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{r}, NodeExecutions: []*repo.NodeExecution{exc}})
	write(t, s, &repo.Batch{NodeExecutions: []*repo.NodeExecution{&retry, n}})
	requireNodes(t, []*repo.NodeExecution{exc}, listNodes(t, s, r.AppID, r.ID))

	// Between terminal versions the higher Seq still wins.
	failed := finishNode(n, repo.StatusFailed, 11)
	write(t, s, &repo.Batch{NodeExecutions: []*repo.NodeExecution{failed}})
	write(t, s, &repo.Batch{NodeExecutions: []*repo.NodeExecution{exc}})
	requireNodes(t, []*repo.NodeExecution{failed}, listNodes(t, s, r.AppID, r.ID))
}

func testVersionsInOneBatch(t *testing.T, s repo.Store) {
	r := runFixture("app-1", baseTime)
	n := nodeFixture(r, 1)
	done := finish(r, repo.StatusSucceeded, 6)
	nd := finishNode(n, repo.StatusSucceeded, 5)
	late := *r
	late.Seq = 7
	write(t, s, &repo.Batch{
		Runs:           []*repo.WorkflowRun{r, done, r, &late},
		NodeExecutions: []*repo.NodeExecution{nd, n, nd, n},
		AppLogs:        []*repo.AppLog{logFixture(r)},
	})
	requireRun(t, done, getRun(t, s, r.AppID, r.ID))
	requireNodes(t, []*repo.NodeExecution{nd}, listNodes(t, s, r.AppID, r.ID))
}

func testConflict(t *testing.T, s repo.Store) {
	r1, r2 := runFixture("app-1", baseTime), runFixture("app-1", baseTime)
	n := nodeFixture(r1, 1)
	l := logFixture(r1)
	write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{r1, r2}, NodeExecutions: []*repo.NodeExecution{n}, AppLogs: []*repo.AppLog{l}})

	fresh := runFixture("app-1", baseTime)
	// A node execution id that belongs to another run.
	moved := *n
	moved.WorkflowRunID, moved.Seq = r2.ID, 99
	err := s.Write(ctx(t), &repo.Batch{Runs: []*repo.WorkflowRun{fresh}, NodeExecutions: []*repo.NodeExecution{&moved}})
	requireErr(t, err, repo.ErrConflict)
	// The batch is atomic: its other records were not stored either.
	_, err = s.RunGet(ctx(t), &repo.RunGetParams{AppID: fresh.AppID, RunID: fresh.ID})
	requireErr(t, err, repo.ErrNotFound)
	requireNodes(t, []*repo.NodeExecution{n}, listNodes(t, s, r1.AppID, r1.ID))
	requireNodes(t, nil, listNodes(t, s, r2.AppID, r2.ID))

	// A run id that belongs to another app, even with a lower Seq.
	stolen := finish(r1, repo.StatusSucceeded, 0)
	stolen.AppID = "app-2"
	err = s.Write(ctx(t), &repo.Batch{Runs: []*repo.WorkflowRun{stolen}})
	requireErr(t, err, repo.ErrConflict)
	requireRun(t, r1, getRun(t, s, r1.AppID, r1.ID))

	// A log id that belongs to another run.
	ml := *l
	ml.WorkflowRunID = r2.ID
	err = s.Write(ctx(t), &repo.Batch{AppLogs: []*repo.AppLog{&ml}})
	requireErr(t, err, repo.ErrConflict)
}

func testInvalid(t *testing.T, s repo.Store) {
	r := runFixture("app-1", baseTime)
	bad := *r
	bad.Outputs = json.RawMessage(`{"a":`)
	for _, b := range []*repo.Batch{
		{Runs: []*repo.WorkflowRun{r, &bad}},
		{Runs: []*repo.WorkflowRun{r}, NodeExecutions: []*repo.NodeExecution{{ID: "x", AppID: "app-1", WorkflowRunID: r.ID}}},
		{Runs: []*repo.WorkflowRun{r}, AppLogs: []*repo.AppLog{{ID: NewID(), AppID: "app-1"}}},
		{Runs: []*repo.WorkflowRun{r, nil}},
	} {
		requireErr(t, s.Write(ctx(t), b), repo.ErrInvalid)
	}
	_, err := s.RunGet(ctx(t), &repo.RunGetParams{AppID: r.AppID, RunID: r.ID})
	requireErr(t, err, repo.ErrNotFound)
}

func testEmptyBatch(t *testing.T, s repo.Store) {
	write(t, s, &repo.Batch{})
	write(t, s, nil)
	res := list(t, s, &repo.RunListParams{AppID: "app-1"})
	if res.Total != 0 || len(res.Items) != 0 || res.HasMore {
		t.Fatalf("empty store lists %+v", res)
	}
}
