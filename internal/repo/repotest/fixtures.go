package repotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/repo"
)

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
