package app_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/run"
)

const (
	appID = "35a953c7-4255-4b7a-bcab-983e6f30c43f"
	wfID  = "899bd8ac-3b4b-4b53-8e79-8cb2e3541f07"
)

func echoDSL(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("../../examples/echo.yml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	eng := run.New(run.Config{}, nil)
	tests := []struct {
		name       string
		id, wf     string
		dsl        string
		wantTarget error
	}{
		{"bad app id", "x", wfID, "", app.ErrInvalid},
		{"bad workflow id", appID, "not-a-uuid", "", app.ErrInvalid},
		{"bad dsl", appID, wfID, "app: {mode: workflow}\nworkflow: {graph: {nodes: []}}", run.ErrInvalidDSL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := app.New(eng, tt.id, tt.wf, []byte(tt.dsl)); !errors.Is(err, tt.wantTarget) {
				t.Fatalf("err = %v, want %v", err, tt.wantTarget)
			}
		})
	}
}

func TestNewKey(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		k := app.NewKey()
		if err := app.CheckKey(k); err != nil || len(k) != 28 || seen[k] {
			t.Fatalf("NewKey = %q (%v)", k, err)
		}
		seen[k] = true
	}
}

func TestLoadDirExamples(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := app.NewMemory(nil)
	n, err := app.LoadDir(ctx, "../../examples", run.New(run.Config{}, nil), s)
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Fatalf("loaded %d apps", n)
	}
	a, err := s.Authenticate(ctx, "app-flowrun-echo-local-only")
	if err != nil || a.ID != appID || a.WorkflowID != wfID || a.Name != "echo" {
		t.Fatalf("echo app = %+v, %v", a, err)
	}
}

func TestLoadDirReportsEveryProblem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("echo.yml", string(echoDSL(t)))
	write(app.IndexFile, `apps:
- {id: `+appID+`, workflow_id: `+wfID+`, file: echo.yml, keys: [app-good-key-123]}
- {id: `+appID+`, workflow_id: `+wfID+`, file: echo.yml}
- {id: not-a-uuid, workflow_id: `+wfID+`, file: echo.yml}
- {id: 0d3d7671-51cc-4263-94c9-97645780c4cb, workflow_id: `+wfID+`, file: missing.yml}
`)
	n, err := app.LoadDir(context.Background(), dir, run.New(run.Config{}, nil), app.NewMemory(nil))
	if n != 1 || err == nil {
		t.Fatalf("LoadDir = %d, %v", n, err)
	}
	for _, want := range []string{"apps[1]", "duplicate app id", "apps[2]", "not a UUID", "apps[3]", "missing.yml"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
