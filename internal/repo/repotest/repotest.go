// Package repotest is the conformance suite for repo.Store implementations.
// Every implementation's tests call Exercise; passing it is what makes the
// memory store a trustworthy stand-in for the database in engine and API
// tests.
package repotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

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

// NewID returns a random (version 4) UUID.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// baseTime is microsecond-aligned so that records round-trip exactly.
var baseTime = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

func ctx(t *testing.T) context.Context { return t.Context() }

// runFixture builds a running run of app, created at created.
func runFixture(app string, created time.Time) *repo.WorkflowRun {
	return &repo.WorkflowRun{
		ID:            NewID(),
		TenantID:      "tenant-1",
		AppID:         app,
		WorkflowID:    "wf-" + app,
		Type:          "workflow",
		TriggeredFrom: "app-run",
		Version:       "2025-03-14 15:09:26.535897",
		Graph:         json.RawMessage(`{"nodes":[{"id":"start"}],"edges":[]}`),
		Inputs:        json.RawMessage(`{"query":"hello","sys.user_id":"abc-123","sys.files":[]}`),
		Status:        repo.StatusRunning,
		CreatedByRole: repo.RoleEndUser,
		CreatedBy:     "end-user-1",
		SessionID:     "abc-123",
		CreatedAt:     created,
		Seq:           1,
	}
}

// finish returns a finished copy of r at version seq.
func finish(r *repo.WorkflowRun, status repo.Status, seq int64) *repo.WorkflowRun {
	c := *r
	c.Status = status
	c.Seq = seq
	c.Outputs = json.RawMessage(fmt.Sprintf(`{"answer":"done at %d","n":%d}`, seq, seq))
	if status == repo.StatusFailed {
		c.Error = fmt.Sprintf("failed at %d", seq)
	}
	c.ElapsedTime = 1.25
	c.TotalTokens = 42
	c.TotalSteps = 3
	c.ExceptionsCount = 1
	c.FinishedAt = r.CreatedAt.Add(1250 * time.Millisecond)
	return &c
}

func nodeFixture(r *repo.WorkflowRun, index int64) *repo.NodeExecution {
	return &repo.NodeExecution{
		ID:                NewID(),
		TenantID:          r.TenantID,
		AppID:             r.AppID,
		WorkflowID:        r.WorkflowID,
		TriggeredFrom:     "workflow-run",
		WorkflowRunID:     r.ID,
		Index:             index,
		PredecessorNodeID: fmt.Sprintf("node-%d", index-1),
		NodeID:            fmt.Sprintf("node-%d", index),
		NodeType:          "code",
		Title:             fmt.Sprintf("Node %d", index),
		Inputs:            json.RawMessage(`{"x":1}`),
		Status:            repo.StatusRunning,
		CreatedByRole:     r.CreatedByRole,
		CreatedBy:         r.CreatedBy,
		CreatedAt:         r.CreatedAt.Add(time.Duration(index) * time.Millisecond),
		Seq:               index + 1,
	}
}

func finishNode(n *repo.NodeExecution, status repo.Status, seq int64) *repo.NodeExecution {
	c := *n
	c.Status = status
	c.Seq = seq
	c.Outputs = json.RawMessage(fmt.Sprintf(`{"result":"v%d","ünï":"cödé"}`, seq))
	c.ProcessData = json.RawMessage(`{"logs":["a","b"]}`)
	c.Metadata = json.RawMessage(`{"total_tokens":7,"currency":"USD"}`)
	if status == repo.StatusFailed || status == repo.StatusException {
		c.Error = "boom"
	}
	c.ElapsedTime = 0.5
	c.FinishedAt = n.CreatedAt.Add(500 * time.Millisecond)
	return &c
}

func logFixture(r *repo.WorkflowRun) *repo.AppLog {
	return &repo.AppLog{
		ID:            NewID(),
		TenantID:      r.TenantID,
		AppID:         r.AppID,
		WorkflowID:    r.WorkflowID,
		WorkflowRunID: r.ID,
		CreatedFrom:   "service-api",
		CreatedByRole: r.CreatedByRole,
		CreatedBy:     r.CreatedBy,
		SessionID:     r.SessionID,
		CreatedAt:     r.CreatedAt,
		Seq:           1,
	}
}

func write(t *testing.T, s repo.Writer, b *repo.Batch) {
	t.Helper()
	if err := s.Write(ctx(t), b); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func getRun(t *testing.T, s repo.Store, app, id string) *repo.WorkflowRun {
	t.Helper()
	r, err := s.RunGet(ctx(t), &repo.RunGetParams{AppID: app, RunID: id})
	if err != nil {
		t.Fatalf("RunGet(%s, %s): %v", app, id, err)
	}
	return r
}

func listNodes(t *testing.T, s repo.Store, app, runID string) []*repo.NodeExecution {
	t.Helper()
	ns, err := s.NodeExecutionList(ctx(t), &repo.NodeExecutionListParams{AppID: app, RunID: runID})
	if err != nil {
		t.Fatalf("NodeExecutionList(%s, %s): %v", app, runID, err)
	}
	return ns
}

func list(t *testing.T, s repo.Store, p *repo.RunListParams) *repo.RunListResult {
	t.Helper()
	res, err := s.RunList(ctx(t), p)
	if err != nil {
		t.Fatalf("RunList(%+v): %v", *p, err)
	}
	return res
}

// canonJSON re-encodes raw with sorted keys and no insignificant space, so
// that stores which reformat JSON (jsonb) compare equal.
func canonJSON(raw json.RawMessage) json.RawMessage {
	if raw == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return json.RawMessage("invalid:" + string(raw))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSpace(buf.Bytes())
}

func canonRun(r *repo.WorkflowRun) repo.WorkflowRun {
	c := *r
	c.ID = strings.ToLower(c.ID)
	c.Graph, c.Inputs, c.Outputs = canonJSON(c.Graph), canonJSON(c.Inputs), canonJSON(c.Outputs)
	c.CreatedAt, c.FinishedAt = repo.NormalizeTime(c.CreatedAt), repo.NormalizeTime(c.FinishedAt)
	return c
}

func canonNode(n *repo.NodeExecution) repo.NodeExecution {
	c := *n
	c.ID, c.WorkflowRunID = strings.ToLower(c.ID), strings.ToLower(c.WorkflowRunID)
	c.Inputs, c.ProcessData, c.Outputs, c.Metadata = canonJSON(c.Inputs), canonJSON(c.ProcessData), canonJSON(c.Outputs), canonJSON(c.Metadata)
	c.CreatedAt, c.FinishedAt = repo.NormalizeTime(c.CreatedAt), repo.NormalizeTime(c.FinishedAt)
	return c
}

func canonLog(l *repo.AppLog) repo.AppLog {
	c := *l
	c.ID, c.WorkflowRunID = strings.ToLower(c.ID), strings.ToLower(c.WorkflowRunID)
	c.CreatedAt = repo.NormalizeTime(c.CreatedAt)
	return c
}

func requireRun(t *testing.T, want, got *repo.WorkflowRun) {
	t.Helper()
	if got == nil {
		t.Fatalf("run %s: got nil", want.ID)
	}
	w, g := canonRun(want), canonRun(got)
	if !reflect.DeepEqual(w, g) {
		t.Fatalf("run %s differs\nwant %s\n got %s", want.ID, dump(w), dump(g))
	}
}

func requireNodes(t *testing.T, want, got []*repo.NodeExecution) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("got %d node executions, want %d:\n%s", len(got), len(want), dump(got))
	}
	for i := range want {
		w, g := canonNode(want[i]), canonNode(got[i])
		if !reflect.DeepEqual(w, g) {
			t.Fatalf("node execution %d differs\nwant %s\n got %s", i, dump(w), dump(g))
		}
	}
}

func requireLog(t *testing.T, want, got *repo.AppLog) {
	t.Helper()
	w, g := canonLog(want), canonLog(got)
	if !reflect.DeepEqual(w, g) {
		t.Fatalf("app log differs\nwant %s\n got %s", dump(w), dump(g))
	}
}

func requireErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func dump(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
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

// seedLogs writes n runs of app with logs created one second apart, oldest
// first, and returns the logs newest first.
func seedLogs(t *testing.T, s repo.Store, app string, n int, mutate func(i int, r *repo.WorkflowRun)) []*repo.AppLog {
	t.Helper()
	b := &repo.Batch{}
	var logs []*repo.AppLog
	for i := range n {
		r := runFixture(app, baseTime.Add(time.Duration(i)*time.Second))
		if mutate != nil {
			mutate(i, r)
		}
		l := logFixture(r)
		b.Runs = append(b.Runs, r)
		b.AppLogs = append(b.AppLogs, l)
		logs = append(logs, l)
	}
	write(t, s, b)
	sort.SliceStable(logs, func(i, j int) bool { return logs[i].CreatedAt.After(logs[j].CreatedAt) })
	return logs
}

func requirePage(t *testing.T, res *repo.RunListResult, want []*repo.AppLog, total int64, hasMore bool) {
	t.Helper()
	var got []string
	for _, it := range res.Items {
		got = append(got, it.Log.ID)
		if it.Run == nil || it.Run.ID != it.Log.WorkflowRunID {
			t.Fatalf("item %s: run %+v does not match its log", it.Log.ID, it.Run)
		}
	}
	var w []string
	for _, l := range want {
		w = append(w, strings.ToLower(l.ID))
	}
	if !reflect.DeepEqual(got, w) || res.Total != total || res.HasMore != hasMore {
		t.Fatalf("page: got ids %v total %d has_more %v\nwant ids %v total %d has_more %v", got, res.Total, res.HasMore, w, total, hasMore)
	}
}

func testRunListPagination(t *testing.T, s repo.Store) {
	logs := seedLogs(t, s, "app-1", 25, nil)
	seedLogs(t, s, "app-2", 3, nil)

	res := list(t, s, &repo.RunListParams{AppID: "app-1", Page: 1, Limit: 10})
	requirePage(t, res, logs[:10], 25, true)
	if res.Page != 1 || res.Limit != 10 {
		t.Fatalf("page %d limit %d, want 1 10", res.Page, res.Limit)
	}
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Page: 2, Limit: 10}), logs[10:20], 25, true)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Page: 3, Limit: 10}), logs[20:], 25, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Page: 4, Limit: 10}), nil, 25, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Page: 5, Limit: 5}), logs[20:], 25, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Page: 1, Limit: 25}), logs, 25, false)

	res = list(t, s, &repo.RunListParams{AppID: "app-1"})
	requirePage(t, res, logs[:repo.DefaultLimit], 25, true)
	if res.Page != repo.DefaultPage || res.Limit != repo.DefaultLimit {
		t.Fatalf("defaults: page %d limit %d", res.Page, res.Limit)
	}
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-3"}), nil, 0, false)
}

func testRunListFilters(t *testing.T, s repo.Store) {
	statuses := []repo.Status{repo.StatusSucceeded, repo.StatusFailed, repo.StatusStopped, repo.StatusRunning}
	logs := seedLogs(t, s, "app-1", 12, func(i int, r *repo.WorkflowRun) {
		if st := statuses[i%len(statuses)]; st != repo.StatusRunning {
			*r = *finish(r, st, 5)
		}
		r.SessionID = fmt.Sprintf("session-%d", i%3)
	})
	byStatus := func(st repo.Status) []*repo.AppLog {
		var out []*repo.AppLog
		for _, l := range logs {
			i := int(l.CreatedAt.Sub(baseTime) / time.Second)
			if statuses[i%len(statuses)] == st {
				out = append(out, l)
			}
		}
		return out
	}
	for _, st := range statuses {
		want := byStatus(st)
		requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Status: st}), want, int64(len(want)), false)
	}
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Status: repo.StatusPaused}), nil, 0, false)

	// created_at bounds are inclusive. logs[0] is the newest (i=11).
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", CreatedBefore: logs[9].CreatedAt}), logs[9:], 3, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", CreatedAfter: logs[2].CreatedAt}), logs[:3], 3, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", CreatedAfter: logs[6].CreatedAt, CreatedBefore: logs[4].CreatedAt}), logs[4:7], 3, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", CreatedAfter: logs[4].CreatedAt, CreatedBefore: logs[6].CreatedAt}), nil, 0, false)
	// Bounds in another time zone mean the same instants.
	east := time.FixedZone("UTC+8", 8*3600)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", CreatedBefore: logs[9].CreatedAt.In(east)}), logs[9:], 3, false)

	// Session filter (exact) combined with paging and status.
	var s1 []*repo.AppLog
	for _, l := range logs {
		if i := int(l.CreatedAt.Sub(baseTime) / time.Second); i%3 == 1 {
			s1 = append(s1, l)
		}
	}
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", SessionID: "session-1"}), s1, 4, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", SessionID: "session-1", Limit: 3}), s1[:3], 4, true)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", SessionID: "session-1", Limit: 3, Page: 2}), s1[3:], 4, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", SessionID: "session"}), nil, 0, false)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-2", SessionID: "session-1"}), nil, 0, false)
	// i%3==1 and i%4==0 (succeeded): i=4.
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", SessionID: "session-1", Status: repo.StatusSucceeded}), logs[7:8], 1, false)
}

func testRunListKeyword(t *testing.T, s repo.Store) {
	logs := seedLogs(t, s, "app-1", 6, func(i int, r *repo.WorkflowRun) {
		switch i {
		case 0:
			r.Inputs = json.RawMessage(`{"query":"Tell me about Photosynthesis in detail"}`)
		case 1:
			*r = *finish(r, repo.StatusSucceeded, 4)
			r.Outputs = json.RawMessage(`{"text":"photosynthesis is how plants eat"}`)
		case 2:
			r.Inputs = json.RawMessage(`{"query":"100% sure_thing"}`)
		case 3:
			r.Inputs = json.RawMessage(`{"query":"100 percent sure"}`)
		case 4:
			r.Inputs = json.RawMessage(`{"query":"春联生成器"}`)
		case 5:
			r.Inputs = json.RawMessage(`{"query":"nothing"}`)
		}
		r.SessionID = fmt.Sprintf("user-%d", i)
	})
	// logs are newest first: logs[5-i] belongs to run i.
	at := func(is ...int) []*repo.AppLog {
		var out []*repo.AppLog
		for _, i := range is {
			out = append(out, logs[5-i])
		}
		return out
	}
	kw := func(k string) *repo.RunListParams { return &repo.RunListParams{AppID: "app-1", Keyword: k} }
	requirePage(t, list(t, s, kw("PHOTOSYNTHESIS")), at(1, 0), 2, false)
	requirePage(t, list(t, s, kw("plants")), at(1), 1, false)
	requirePage(t, list(t, s, kw("100%")), at(2), 1, false) // % is literal
	requirePage(t, list(t, s, kw("e_t")), at(2), 1, false)  // so is _
	requirePage(t, list(t, s, kw("生成")), at(4), 1, false)
	requirePage(t, list(t, s, kw("USER-3")), at(3), 1, false) // the log's session id
	requirePage(t, list(t, s, kw("zebra")), nil, 0, false)

	// A UUID keyword also matches the run id exactly.
	run3 := logs[5-3].WorkflowRunID
	requirePage(t, list(t, s, kw(strings.ToUpper(run3))), at(3), 1, false)
	// Only the first 30 characters count.
	requirePage(t, list(t, s, kw("Tell me about Photosynthesis i"+"XYZ not in any run")), at(0), 1, false)
	// Keyword with status.
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Keyword: "photosynthesis", Status: repo.StatusSucceeded}), at(1), 1, false)
}

func testRunListOrderTies(t *testing.T, s repo.Store) {
	b := &repo.Batch{}
	var logs []*repo.AppLog
	for range 6 {
		r := runFixture("app-1", baseTime)
		l := logFixture(r)
		b.Runs, b.AppLogs = append(b.Runs, r), append(b.AppLogs, l)
		logs = append(logs, l)
	}
	write(t, s, b)
	sort.Slice(logs, func(i, j int) bool { return logs[i].ID > logs[j].ID })
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Limit: 4}), logs[:4], 6, true)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Limit: 4, Page: 2}), logs[4:], 6, false)
}

func testRunListMissingRun(t *testing.T, s repo.Store) {
	r := runFixture("app-1", baseTime)
	l := logFixture(r)
	write(t, s, &repo.Batch{AppLogs: []*repo.AppLog{l}})
	res := list(t, s, &repo.RunListParams{AppID: "app-1"})
	if len(res.Items) != 1 || res.Items[0].Run != nil {
		t.Fatalf("log without run: %s", dump(res))
	}
	requireLog(t, l, res.Items[0].Log)
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Status: repo.StatusRunning}), nil, 0, false)
	// The run arrives later.
	write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{r}})
	requirePage(t, list(t, s, &repo.RunListParams{AppID: "app-1", Status: repo.StatusRunning}), []*repo.AppLog{l}, 1, false)

	// A log never shows a run of another app.
	other := runFixture("app-2", baseTime)
	ol := logFixture(other)
	ol.AppID = "app-1"
	write(t, s, &repo.Batch{Runs: []*repo.WorkflowRun{other}, AppLogs: []*repo.AppLog{ol}})
	res = list(t, s, &repo.RunListParams{AppID: "app-1", Keyword: other.ID})
	if res.Total != 0 {
		t.Fatalf("keyword matched a run of another app: %s", dump(res))
	}
	res = list(t, s, &repo.RunListParams{AppID: "app-1"})
	for _, it := range res.Items {
		if it.Log.ID == ol.ID && it.Run != nil {
			t.Fatalf("log shows a run of another app: %s", dump(it))
		}
	}
}

func testRunListInvalid(t *testing.T, s repo.Store) {
	for _, p := range []*repo.RunListParams{
		{AppID: "app-1", Page: -1},
		{AppID: "app-1", Limit: -1},
	} {
		_, err := s.RunList(ctx(t), p)
		requireErr(t, err, repo.ErrInvalid)
	}
}

func testConcurrentWriters(t *testing.T, s repo.Store) {
	const runs, nodes, writers = 10, 4, 4
	var all []*repo.Batch
	var finals []*repo.WorkflowRun
	var finalNodes [][]*repo.NodeExecution
	for i := range runs {
		r := runFixture("app-1", baseTime.Add(time.Duration(i)*time.Second))
		var ns, done []*repo.NodeExecution
		for j := int64(1); j <= nodes; j++ {
			n := nodeFixture(r, j)
			ns = append(ns, n)
			done = append(done, finishNode(n, repo.StatusSucceeded, 10+j))
		}
		fr := finish(r, repo.StatusSucceeded, 20)
		all = append(all,
			&repo.Batch{Runs: []*repo.WorkflowRun{r}, AppLogs: []*repo.AppLog{logFixture(r)}},
			&repo.Batch{NodeExecutions: ns},
			&repo.Batch{NodeExecutions: done},
			&repo.Batch{Runs: []*repo.WorkflowRun{fr}, NodeExecutions: done},
		)
		finals = append(finals, fr)
		finalNodes = append(finalNodes, done)
	}
	// Every writer writes every batch, each in its own order: rotated, and
	// reversed for odd writers.
	errc := make(chan error, writers)
	for w := range writers {
		go func() {
			for k := range all {
				i := (k + w*7) % len(all)
				if w%2 == 1 {
					i = len(all) - 1 - i
				}
				b := all[i]
				if err := s.Write(ctx(t), b); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range writers {
		if err := <-errc; err != nil {
			t.Fatalf("concurrent Write: %v", err)
		}
	}
	for i, r := range finals {
		requireRun(t, r, getRun(t, s, r.AppID, r.ID))
		requireNodes(t, finalNodes[i], listNodes(t, s, r.AppID, r.ID))
	}
	if res := list(t, s, &repo.RunListParams{AppID: "app-1", Limit: 100}); res.Total != runs {
		t.Fatalf("RunList total %d, want %d", res.Total, runs)
	}
}
