package workflowtool

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/flowrun/flowrun/internal/run"
)

// ErrNoRunner is returned by a Deferred runner before Set.
var ErrNoRunner = errors.New("workflow tools: the app runner is not ready")

// Deferred is a Runner set after it is handed out: cmd/api builds the
// tool registry before the node registry, the engine and the API server
// that runs apps, so it passes a Deferred and sets the server later.
type Deferred struct {
	r atomic.Pointer[Runner]
}

// Set makes r the runner.
func (d *Deferred) Set(r Runner) { d.r.Store(&r) }

func (d *Deferred) get() (Runner, error) {
	if r := d.r.Load(); r != nil {
		return *r, nil
	}
	return nil, ErrNoRunner
}

// Workflow implements Runner.
func (d *Deferred) Workflow(ctx context.Context, appID string) (*run.Workflow, error) {
	r, err := d.get()
	if err != nil {
		return nil, err
	}
	return r.Workflow(ctx, appID)
}

// RunWorkflow implements Runner.
func (d *Deferred) RunWorkflow(ctx context.Context, appID string, inputs map[string]any, user string, depth int) (*run.RunInfo, error) {
	r, err := d.get()
	if err != nil {
		return nil, err
	}
	return r.RunWorkflow(ctx, appID, inputs, user, depth)
}
