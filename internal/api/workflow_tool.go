package api

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/run"
)

// ErrAppNotFound is a workflow tool's app that the store does not hold
// (Dify's "app not found").
var ErrAppNotFound = errors.New("app not found")

// Workflow returns app appID's compiled workflow: the Runner of workflow
// tools (package tools/workflowtool).
func (s *Server) Workflow(ctx context.Context, appID string) (*run.Workflow, error) {
	a, err := s.app(ctx, appID)
	if err != nil {
		return nil, err
	}
	return a.Workflow, nil
}

func (s *Server) app(ctx context.Context, appID string) (*app.App, error) {
	a, err := s.cfg.Apps.Get(ctx, appID)
	if errors.Is(err, app.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrAppNotFound, appID)
	}
	return a, err
}

// RunWorkflow runs app appID as a tool of another run, on the caller's
// goroutine and context (the caller's stop and timeout end it), and
// records it like any run. Inputs are validated as a run request's are:
// a bad one is an *run.InputError, as in Dify. The nested run takes no
// slot of MaxActiveRequests and cannot be stopped by its own task id: it
// belongs to the run that called it.
func (s *Server) RunWorkflow(ctx context.Context, appID string, inputs map[string]any, user string, depth int) (info *run.RunInfo, err error) {
	a, err := s.app(ctx, appID)
	if err != nil {
		return nil, err
	}
	in, err := a.Workflow.PrepareInputs(inputs)
	if err != nil {
		return nil, err
	}
	p := run.Params{
		RunID: s.cfg.NewID(), TaskID: s.cfg.NewID(), WorkflowID: a.WorkflowID, AppID: a.ID,
		UserID: user, Inputs: in, Env: s.cfg.Env,
	}
	defer func() {
		if rec := recover(); rec != nil {
			s.log.Error("nested run panicked", "app_id", a.ID, "run_id", p.RunID, "depth", depth, "panic", rec, "stack", string(debug.Stack()))
			info, err = nil, errRunPanicked
		}
	}()
	rec := s.recorder(a, p, nil, false)
	info = s.cfg.Engine.Run(ctx, a.Workflow, p, rec)
	if werr := rec.Wait(); werr != nil {
		s.log.Error("writing run records", "app_id", a.ID, "run_id", p.RunID, "depth", depth, "err", werr)
	}
	return info, nil
}
