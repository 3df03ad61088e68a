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

// ChatFirst returns a Writer that writes a batch's chat records to chat
// first and then the whole batch to rest. Async mode writes the hot chat
// state (Redis) this way before the batch is queued for PostgreSQL, so
// the next turn of a conversation sees this one on any replica. A batch
// without chat records goes to rest alone; when chat fails, rest is not
// written and the error is returned.
func ChatFirst(chat, rest Writer) Writer { return chatFirst{chat, rest} }

type chatFirst struct{ chat, rest Writer }

func (w chatFirst) Write(ctx context.Context, b *Batch) error {
	if b.chatLen() > 0 {
		if err := w.chat.Write(ctx, &Batch{Conversations: b.Conversations, Messages: b.Messages, Feedbacks: b.Feedbacks, Variables: b.Variables}); err != nil {
			return err
		}
	}
	return w.rest.Write(ctx, b)
}
