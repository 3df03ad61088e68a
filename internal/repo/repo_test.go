package repo_test

import (
	"errors"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/repo"
)

// TestStdlibOnly keeps package repo a leaf that every implementation and the
// engine can import: no third-party or project imports.
func TestStdlibOnly(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s; package repo must import only the standard library", name, path)
			}
		}
	}
}

func TestSupersedes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		newStatus repo.Status
		newSeq    int64
		oldStatus repo.Status
		oldSeq    int64
		want      bool
	}{
		{repo.StatusRunning, 2, repo.StatusRunning, 1, true},
		{repo.StatusRunning, 1, repo.StatusRunning, 1, false},
		{repo.StatusRunning, 1, repo.StatusRunning, 2, false},
		{repo.StatusSucceeded, 5, repo.StatusRunning, 1, true},
		{repo.StatusRunning, 1, repo.StatusSucceeded, 5, false},
		// A terminal state never regresses, even to a higher Seq.
		{repo.StatusRunning, 9, repo.StatusSucceeded, 5, false},
		{repo.StatusSucceeded, 5, repo.StatusRunning, 9, true},
		{repo.StatusPaused, 3, repo.StatusRunning, 2, true},
		{repo.StatusRunning, 4, repo.StatusPaused, 3, true},
		{repo.StatusFailed, 6, repo.StatusSucceeded, 5, true},
		{repo.StatusRetry, 3, repo.StatusRunning, 2, true},
	}
	for _, tt := range tests {
		if got := repo.Supersedes(tt.newStatus, tt.newSeq, tt.oldStatus, tt.oldSeq); got != tt.want {
			t.Errorf("Supersedes(%s/%d over %s/%d) = %v, want %v", tt.newStatus, tt.newSeq, tt.oldStatus, tt.oldSeq, got, tt.want)
		}
	}
}

func TestValidUUID(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"c0640fc8-0d4e-4f3a-9a59-2c0b8a6b1e11": true,
		"C0640FC8-0D4E-4F3A-9A59-2C0B8A6B1E11": true,
		"c0640fc80d4e4f3a9a592c0b8a6b1e11":     false,
		"c0640fc8-0d4e-4f3a-9a59-2c0b8a6b1e1g": false,
		"":                                     false,
		"c0640fc8-0d4e-4f3a-9a59_2c0b8a6b1e11": false,
	} {
		if got := repo.ValidUUID(s); got != want {
			t.Errorf("ValidUUID(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestLatestKeepsWhatPrepareKeeps(t *testing.T) {
	t.Parallel()
	const run1, run2 = "c0640fc8-0d4e-4f3a-9a59-2c0b8a6b1e11", "d0640fc8-0d4e-4f3a-9a59-2c0b8a6b1e11"
	const node1, node2 = "e0640fc8-0d4e-4f3a-9a59-2c0b8a6b1e11", "f0640fc8-0d4e-4f3a-9a59-2c0b8a6b1e11"
	b := &repo.Batch{
		Runs: []*repo.WorkflowRun{
			{ID: run1, AppID: "app", Status: repo.StatusRunning, Seq: 1},
			{ID: run2, AppID: "app", Status: repo.StatusRunning, Seq: 1},
			{ID: run1, AppID: "app", Status: repo.StatusSucceeded, Seq: 9},
			{ID: run1, AppID: "app", Status: repo.StatusRunning, Seq: 12}, // late, not terminal: loses
		},
		NodeExecutions: []*repo.NodeExecution{
			{ID: node1, AppID: "app", WorkflowRunID: run1, Status: repo.StatusRunning, Seq: 2},
			{ID: node2, AppID: "app", WorkflowRunID: run1, Status: repo.StatusSucceeded, Seq: 5},
			{ID: node1, AppID: "app", WorkflowRunID: run1, Status: repo.StatusFailed, Seq: 3},
		},
		AppLogs: []*repo.AppLog{
			{ID: run2, AppID: "app", WorkflowRunID: run1, Seq: 1},
			{ID: run2, AppID: "app", WorkflowRunID: run1, Seq: 1},
		},
	}
	prepared, err := b.Prepare()
	if err != nil {
		t.Fatal(err)
	}
	got := b.Latest()
	key := func(id string, status repo.Status, seq int64) string {
		return id + " " + string(status) + " " + strconv.FormatInt(seq, 10)
	}
	var want, have []string
	for i, r := range prepared.Runs {
		want, have = append(want, key(r.ID, r.Status, r.Seq)), append(have, key(got.Runs[i].ID, got.Runs[i].Status, got.Runs[i].Seq))
	}
	for i, n := range prepared.NodeExecutions {
		want, have = append(want, key(n.ID, n.Status, n.Seq)), append(have, key(got.NodeExecutions[i].ID, got.NodeExecutions[i].Status, got.NodeExecutions[i].Seq))
	}
	if got.Len() != prepared.Len() || len(got.AppLogs) != 1 || strings.Join(have, ", ") != strings.Join(want, ", ") {
		t.Fatalf("Latest kept %v (%d records), Prepare %v (%d)", have, got.Len(), want, prepared.Len())
	}
	if got.Runs[0] != b.Runs[2] {
		t.Fatal("Latest copied a record")
	}
}

func TestPrepare(t *testing.T) {
	t.Parallel()
	const runID = "C0640FC8-0D4E-4F3A-9A59-2C0B8A6B1E11"
	b := &repo.Batch{Runs: []*repo.WorkflowRun{
		{ID: runID, AppID: "app", Status: repo.StatusRunning, Seq: 1, Outputs: []byte{}},
		{ID: runID, AppID: "app", Status: repo.StatusSucceeded, Seq: 7},
		{ID: runID, AppID: "app", Status: repo.StatusRunning, Seq: 9},
	}}
	got, err := b.Prepare()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Runs) != 1 || got.Runs[0].Status != repo.StatusSucceeded || got.Runs[0].ID != strings.ToLower(runID) {
		t.Fatalf("Prepare kept %+v", got.Runs)
	}
	if b.Runs[0].ID != runID || b.Runs[0].Outputs == nil {
		t.Fatal("Prepare modified its input")
	}

	bad := []*repo.Batch{
		{Runs: []*repo.WorkflowRun{nil}},
		{Runs: []*repo.WorkflowRun{{ID: "x", AppID: "app"}}},
		{Runs: []*repo.WorkflowRun{{ID: runID}}},
		{Runs: []*repo.WorkflowRun{{ID: runID, AppID: "app", Inputs: []byte("{")}}},
		{Runs: []*repo.WorkflowRun{{ID: runID, AppID: "app", Seq: -1}}},
		{NodeExecutions: []*repo.NodeExecution{{ID: runID, AppID: "app", WorkflowRunID: ""}}},
		{AppLogs: []*repo.AppLog{{ID: runID, AppID: "app", WorkflowRunID: "nope"}}},
	}
	for i, b := range bad {
		if _, err := b.Prepare(); !errors.Is(err, repo.ErrInvalid) {
			t.Errorf("bad[%d]: err = %v, want ErrInvalid", i, err)
		}
	}

	const other = "d0640fc8-0d4e-4f3a-9a59-2c0b8a6b1e11"
	conflict := &repo.Batch{NodeExecutions: []*repo.NodeExecution{
		{ID: other, AppID: "app", WorkflowRunID: runID},
		{ID: other, AppID: "app", WorkflowRunID: other},
	}}
	if _, err := conflict.Prepare(); !errors.Is(err, repo.ErrConflict) {
		t.Errorf("conflict: err = %v, want ErrConflict", err)
	}
}
