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

// ChatAfter returns a Writer that writes a batch to rest and then its
// chat records to chat. Async mode writes the hot chat state (Redis) this
// way once the batch is queued for PostgreSQL, so the next turn of a
// conversation sees this one on any replica, and the hot state holds
// only what rest took. A batch without chat records goes to rest alone.
// When rest fails, chat is not written; when chat fails, rest has the
// records and chat's error is returned: a reader of the hot state may
// not see them until that conversation expires there.
func ChatAfter(rest, chat Writer) Writer { return chatAfter{rest, chat} }

type chatAfter struct{ rest, chat Writer }

func (w chatAfter) Write(ctx context.Context, b *Batch) error {
	if err := w.rest.Write(ctx, b); err != nil || b.chatLen() == 0 {
		return err
	}
	return w.chat.Write(ctx, &Batch{Conversations: b.Conversations, Messages: b.Messages, Feedbacks: b.Feedbacks, Variables: b.Variables})
}
