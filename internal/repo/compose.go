package repo

import (
	"context"
	"errors"
)

// Fallback returns a Reader that answers single-run lookups from primary
// and, when primary returns ErrNotFound, from secondary. Lists come from
// secondary, the complete store. The async mode puts the in-memory store of
// recent runs in front of PostgreSQL, so a client never sees "not found"
// for a run this instance just finished, even before the persister wrote it.
func Fallback(primary, secondary Reader) Reader { return fallback{primary, secondary} }

type fallback struct{ primary, secondary Reader }

func (f fallback) RunGet(ctx context.Context, p *RunGetParams) (*WorkflowRun, error) {
	r, err := f.primary.RunGet(ctx, p)
	if errors.Is(err, ErrNotFound) {
		return f.secondary.RunGet(ctx, p)
	}
	return r, err
}

func (f fallback) RunList(ctx context.Context, p *RunListParams) (*RunListResult, error) {
	return f.secondary.RunList(ctx, p)
}

func (f fallback) NodeExecutionList(ctx context.Context, p *NodeExecutionListParams) ([]*NodeExecution, error) {
	ns, err := f.primary.NodeExecutionList(ctx, p)
	if errors.Is(err, ErrNotFound) {
		return f.secondary.NodeExecutionList(ctx, p)
	}
	return ns, err
}
