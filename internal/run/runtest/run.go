package runtest

import (
	"cmp"
	"context"
	"testing"

	"github.com/flowrun/flowrun/internal/run"
)

// Compile compiles the document src with e, failing the test (and showing
// src) if it does not compile.
func Compile[S string | []byte](t testing.TB, e *run.Engine, src S) *run.Workflow {
	t.Helper()
	wf, err := e.Compile([]byte(src))
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, src)
	}
	return wf
}

// Run prepares inputs for wf and runs it once with e, with the ids and
// query of p (ids p leaves empty are run-1, task-1, wf-1, app-1 and
// user-1), recording its events in rec (a new Recorder when rec is nil).
// It returns the run and the recorder.
func Run(t testing.TB, ctx context.Context, e *run.Engine, wf *run.Workflow, p run.Params, inputs map[string]any, rec *Recorder) (*run.RunInfo, *Recorder) {
	t.Helper()
	in, err := wf.PrepareInputs(inputs)
	if err != nil {
		t.Fatalf("inputs: %v", err)
	}
	p.Inputs = in
	p.RunID = cmp.Or(p.RunID, "run-1")
	p.TaskID = cmp.Or(p.TaskID, "task-1")
	p.WorkflowID = cmp.Or(p.WorkflowID, "wf-1")
	p.AppID = cmp.Or(p.AppID, "app-1")
	p.UserID = cmp.Or(p.UserID, "user-1")
	if rec == nil {
		rec = &Recorder{}
	}
	return e.Run(ctx, wf, p, rec), rec
}
