package repo

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// ChatStore is a store of chat records: what Overlay replays a
// conversation's log into.
type ChatStore interface {
	Writer
	ChatReader
}

// ChatLog holds recent conversations whole, each as the log of the chat
// batches written to it: async mode's hot chat state, in Redis, which
// every replica reads before the persister has stored a turn in
// PostgreSQL.
type ChatLog interface {
	// Log returns the batches written to a conversation, oldest first.
	// ErrNotFound: the log holds nothing of it (never, or expired);
	// ErrTooLarge: the conversation outgrew the log, which no longer
	// holds it.
	Log(ctx context.Context, conversationID string) ([]*Batch, error)
	// Seed starts a conversation's log with b, its records as the
	// complete store has them, unless the log already holds it.
	Seed(ctx context.Context, conversationID string, b *Batch) error
	// MessageConversation returns the conversation of a message the log
	// holds; ErrNotFound otherwise.
	MessageConversation(ctx context.Context, messageID string) (string, error)
	// Recent returns the ids of the user's conversations that changed
	// within the log's window (a version or a message written), which
	// must exceed the time the complete store takes to have a change.
	Recent(ctx context.Context, appID, user string) ([]string, error)
}

// seedLimit is the page size Overlay reads a conversation's messages and
// variables with when it seeds the log: all of them.
const seedLimit = 1 << 30

// NewOverlay returns a ChatReader that answers what concerns one
// conversation (Turn, ConversationGet, MessageList, MessageGet,
// VariableList) from hot's log of it, replayed into a store from replay,
// and the rest, and any conversation hot does not hold or cannot be
// reached for, from cold, the complete store. A log that holds the
// conversation's deletion answers ErrNotFound without asking cold, which
// may not have the deletion yet.
//
// A turn of a conversation hot does not hold reads cold and then seeds
// hot with the whole conversation (messages and variables), so the
// turn's own records, which hot appends only to a log it holds, are seen
// by the next turn on any replica. Lists of a user's conversations merge
// the conversations hot saw change recently into cold's list; lists of an
// app's feedback come from cold, showing a change once the persister has
// stored it.
func NewOverlay(hot ChatLog, replay func() ChatStore, cold ChatReader) ChatReader {
	return &overlay{hot: hot, replay: replay, cold: cold}
}

type overlay struct {
	hot    ChatLog
	replay func() ChatStore
	cold   ChatReader
}

// held returns a store holding the conversation as hot's log has it, or
// the error that sends the read to cold.
func (o *overlay) held(ctx context.Context, conversationID string) (ChatStore, error) {
	batches, err := o.hot.Log(ctx, conversationID)
	if err != nil {
		return nil, err
	}
	s := o.replay()
	for _, b := range batches {
		// A batch the stores refused (a forged or conflicting one) is
		// refused here again, as the complete store refused it.
		if err := s.Write(ctx, b); err != nil && ctx.Err() != nil {
			return nil, err
		}
	}
	return s, nil
}

// Turn implements ChatReader.
func (o *overlay) Turn(ctx context.Context, p *TurnParams) (*Turn, error) {
	s, err := o.held(ctx, p.ConversationID)
	if err == nil {
		return s.Turn(ctx, p)
	}
	t, cerr := o.cold.Turn(ctx, p)
	if cerr != nil || !errors.Is(err, ErrNotFound) {
		return t, cerr
	}
	// Seeding is best effort: without it this turn still runs, and the
	// next one reads cold again.
	_ = o.seed(ctx, p)
	return t, nil
}

// seed starts hot's log of a conversation with what cold has of it.
func (o *overlay) seed(ctx context.Context, p *TurnParams) error {
	c, err := o.cold.ConversationGet(ctx, p.AppID, p.User, p.ConversationID)
	if err != nil {
		return err
	}
	msgs, err := o.cold.MessageList(ctx, &MessageListParams{AppID: p.AppID, User: p.User, ConversationID: c.ID, Limit: seedLimit})
	if err != nil {
		return err
	}
	vars, err := o.cold.VariableList(ctx, &VariableListParams{AppID: p.AppID, User: p.User, ConversationID: c.ID, Limit: seedLimit})
	if err != nil {
		return err
	}
	b := &Batch{Conversations: []*Conversation{c}, Messages: msgs.Items, Variables: vars.Items}
	for _, f := range msgs.Feedbacks {
		b.Feedbacks = append(b.Feedbacks, f)
	}
	return o.hot.Seed(ctx, c.ID, b)
}

// ConversationGet implements ChatReader.
func (o *overlay) ConversationGet(ctx context.Context, appID, user, id string) (*Conversation, error) {
	if s, err := o.held(ctx, id); err == nil {
		return s.ConversationGet(ctx, appID, user, id)
	}
	return o.cold.ConversationGet(ctx, appID, user, id)
}

// MessageList implements ChatReader.
func (o *overlay) MessageList(ctx context.Context, p *MessageListParams) (*MessageListResult, error) {
	if s, err := o.held(ctx, p.ConversationID); err == nil {
		return s.MessageList(ctx, p)
	}
	return o.cold.MessageList(ctx, p)
}

// MessageGet implements ChatReader.
func (o *overlay) MessageGet(ctx context.Context, appID, user, id string) (*Message, error) {
	if conv, err := o.hot.MessageConversation(ctx, id); err == nil {
		if s, err := o.held(ctx, conv); err == nil {
			return s.MessageGet(ctx, appID, user, id)
		}
	}
	return o.cold.MessageGet(ctx, appID, user, id)
}

// recent returns a conversation that changed recently, as hot has it. A
// change to a conversation hot does not hold (a rename of an older one)
// is only in hot: hot is seeded with cold's records to join it.
func (o *overlay) recent(ctx context.Context, appID, user, id string) (*Conversation, error) {
	s, err := o.held(ctx, id)
	if errors.Is(err, ErrNotFound) {
		if err := o.seed(ctx, &TurnParams{AppID: appID, User: user, ConversationID: id}); err != nil {
			return nil, err
		}
		s, err = o.held(ctx, id)
	}
	if err != nil {
		return o.cold.ConversationGet(ctx, appID, user, id)
	}
	return s.ConversationGet(ctx, appID, user, id)
}

// ConversationList implements ChatReader: cold's list with the
// conversations changed recently as hot has them.
//
// A conversation cold has but hot does not list as recent has not
// changed within hot's window, so it sorts before every recent one by
// updated_at, and by created_at unless the recent one is in cold too:
// after a recent conversation the page holds only recent ones (ascending)
// or starts with cold's first (descending), and otherwise cold pages
// from LastID exactly.
func (o *overlay) ConversationList(ctx context.Context, p *ConversationListParams) (*ConversationListResult, error) {
	recent, err := o.hot.Recent(ctx, p.AppID, p.User)
	if err != nil || len(recent) == 0 {
		return o.cold.ConversationList(ctx, p)
	}
	order, beyond, err := ConversationOrder(p.SortBy)
	if err != nil {
		return nil, err
	}
	limit, err := PageLimit(p.Limit)
	if err != nil {
		return nil, err
	}
	desc := p.SortBy == "" || p.SortBy[0] == '-'
	isRecent := make(map[string]bool, len(recent))
	var fresh []*Conversation
	for _, id := range recent {
		isRecent[id] = true
		c, err := o.recent(ctx, p.AppID, p.User, id)
		switch {
		case err == nil:
			fresh = append(fresh, c)
		case !errors.Is(err, ErrNotFound):
			return nil, err
		}
	}
	cp := *p
	cp.Limit = limit + len(recent)
	askCold := true
	var last *Conversation
	if p.LastID != "" {
		id := NormalizeUUID(p.LastID)
		if isRecent[id] {
			for _, c := range fresh {
				if c.ID == id {
					last = c
				}
			}
			if last == nil {
				return nil, fmt.Errorf("last conversation %s: %w", p.LastID, ErrNotFound)
			}
			_, err := o.cold.ConversationGet(ctx, p.AppID, p.User, id)
			if byCreated := p.SortBy == SortCreatedAsc || p.SortBy == SortCreatedDesc; err != nil || !byCreated {
				cp.LastID, askCold = "", desc
			}
		} else if last, err = o.cold.ConversationGet(ctx, p.AppID, p.User, id); err != nil {
			return nil, fmt.Errorf("last conversation: %w", err)
		}
	}
	res := &ConversationListResult{}
	var all []*Conversation
	if askCold {
		cold, err := o.cold.ConversationList(ctx, &cp)
		if err != nil {
			return nil, err
		}
		res.HasMore = cold.HasMore
		for _, c := range cold.Items {
			if !isRecent[c.ID] {
				all = append(all, c)
			}
		}
	}
	for _, c := range fresh {
		if last == nil || beyond(c, last) {
			all = append(all, c)
		}
	}
	slices.SortFunc(all, order)
	res.Items = all[:min(limit, len(all))]
	res.HasMore = res.HasMore || len(all) > limit && beyond(all[len(all)-1], all[limit-1])
	return res, nil
}

// VariableList implements ChatReader.
func (o *overlay) VariableList(ctx context.Context, p *VariableListParams) (*VariableListResult, error) {
	if s, err := o.held(ctx, p.ConversationID); err == nil {
		return s.VariableList(ctx, p)
	}
	return o.cold.VariableList(ctx, p)
}

// FeedbackList implements ChatReader: from cold.
func (o *overlay) FeedbackList(ctx context.Context, p *FeedbackListParams) ([]*Feedback, error) {
	return o.cold.FeedbackList(ctx, p)
}
