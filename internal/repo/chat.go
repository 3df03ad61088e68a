package repo

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Chat records: the conversations of chatflow (advanced-chat) apps, their
// messages (one per turn, linked to the turn's workflow run), the end
// users' feedback on messages, and the conversation variables, modelled
// on Dify's conversations, messages, message_feedbacks and
// workflow_conversation_variables rows.
//
// They are versioned like run records (see the package doc), with one
// difference: they change from requests that may run on different
// replicas (a turn, a rename, a deletion), so their Seq is the time of
// the change in microseconds (Version) rather than an event number. Per
// record ID the version with the highest Seq wins, except that a deleted
// record (Deleted set) ranks above every version that is not: deletion is
// final. A store applies a message's CreatedAt to its conversation's
// UpdatedAt (keeping the later one, whichever of the two arrived first),
// so a turn never rewrites its conversation and cannot undo a rename
// that raced it. Records of a deleted conversation are dropped, however
// late they arrive. A version that names another app or user
// (conversation), conversation (message), message (feedback) or app
// than the stored one is ErrConflict.

// Message statuses.
const (
	MessageNormal = "normal"
	MessageError  = "error"
)

// Conversation is a conversation of a chatflow app (Dify's conversations
// row). Only the end user who created it sees it.
type Conversation struct {
	// ID is the conversation id, a UUID.
	ID    string
	AppID string
	// User is the end user's session id (the API's `user`) who owns it.
	User string
	Name string
	// Inputs are the first turn's inputs, a JSON object.
	Inputs json.RawMessage
	// Introduction is the app's opening statement as the first turn
	// filled it in.
	Introduction string
	// Status is "normal".
	Status    string
	CreatedAt time.Time
	// UpdatedAt is bumped by every turn (a message's CreatedAt) and by a
	// rename.
	UpdatedAt time.Time
	// Deleted marks a conversation deleted through the API: it and
	// everything in it are gone for readers.
	Deleted bool
	// Seq is the record's version (see Version).
	Seq int64
}

// Message is one turn of a conversation (Dify's messages row).
type Message struct {
	// ID is the message id, a UUID.
	ID             string
	AppID          string
	ConversationID string
	// User is the end user's session id.
	User string
	// WorkflowRunID is the turn's workflow run, a UUID.
	WorkflowRunID string
	// Inputs are the turn's inputs, a JSON object.
	Inputs json.RawMessage
	Query  string
	// Answer is the text streamed to the client.
	Answer string
	// Status is MessageNormal or MessageError; Error says why.
	Status string
	Error  string
	// Metadata is Dify's message_metadata JSON object (usage,
	// retriever_resources); nil when absent.
	Metadata json.RawMessage
	// Files are the message's files, a JSON array; nil when none.
	Files json.RawMessage
	// MessageTokens and AnswerTokens are the run's prompt and completion
	// tokens; TotalPrice its price in Currency, as a decimal string.
	MessageTokens int64
	AnswerTokens  int64
	TotalPrice    string
	Currency      string
	// Latency is the turn's duration in seconds.
	Latency   float64
	CreatedAt time.Time
	UpdatedAt time.Time
	// Seq is the record's version (see Version).
	Seq int64
}

// Feedback is an end user's rating of a message (Dify's
// message_feedbacks row): one per message and user.
type Feedback struct {
	// ID is the feedback id, a UUID, one per message and user at a time.
	// Withdrawing (Deleted) is final for the id, so a rating given after
	// a withdrawal takes a new id, as Dify inserts a new row.
	ID             string
	AppID          string
	ConversationID string
	MessageID      string
	// User is the end user's session id.
	User string
	// Rating is "like" or "dislike".
	Rating  string
	Content string
	// FromSource is "user" (the service API) or "admin".
	FromSource string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// Deleted marks a feedback withdrawn (rating null).
	Deleted bool
	// Seq is the record's version (see Version).
	Seq int64
}

// ConversationVariable is the value of one conversation variable in one
// conversation (Dify's workflow_conversation_variables row).
type ConversationVariable struct {
	// ID is the variable's id in the workflow (not unique across
	// conversations: the record's key is ID and ConversationID).
	ID             string
	ConversationID string
	AppID          string
	Name           string
	// ValueType is the declared type: string, number, boolean, object,
	// array[string], …
	ValueType   string
	Description string
	// Value is the JSON value.
	Value     json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
	// Seq is the record's version (see Version).
	Seq int64
}

// Version is the Seq of a chat record changed at t: its time in
// microseconds.
func Version(t time.Time) int64 { return t.UnixMicro() }

// TurnParams selects what a chatflow turn needs of its conversation.
type TurnParams struct {
	AppID string
	// User must own the conversation.
	User           string
	ConversationID string
	// History is how many of the most recent messages to return (0: none).
	History int
}

// Turn is what a turn reads of its conversation before it runs.
type Turn struct {
	Conversation *Conversation
	// Messages counts the conversation's messages.
	Messages int64
	// History holds the most recent messages, oldest first, at most
	// TurnParams.History of them.
	History []*Message
	// Variables are the conversation's variables.
	Variables []*ConversationVariable
}

// Conversation sort orders (Dify's sort_by).
const (
	SortCreatedAsc  = "created_at"
	SortCreatedDesc = "-created_at"
	SortUpdatedAsc  = "updated_at"
	SortUpdatedDesc = "-updated_at"
)

// ConversationSort returns the sort key and direction of a Sort* order
// ("" is SortUpdatedDesc), or ErrInvalid.
func ConversationSort(by string) (key func(*Conversation) time.Time, desc bool, err error) {
	switch by {
	case SortCreatedAsc, SortCreatedDesc:
		key = func(c *Conversation) time.Time { return c.CreatedAt }
	case SortUpdatedAsc, SortUpdatedDesc, "":
		key = func(c *Conversation) time.Time { return c.UpdatedAt }
	default:
		return nil, false, fmt.Errorf("sort_by %q: %w", by, ErrInvalid)
	}
	return key, by == "" || by[0] == '-', nil
}

// ConversationOrder is a Sort* order as functions: cmp sorts conversations
// in it (by its key, then id, reversed when descending), and beyond
// reports whether a comes strictly after b in it (ties are not beyond
// each other). ErrInvalid as ConversationSort.
func ConversationOrder(by string) (cmp func(a, b *Conversation) int, beyond func(a, b *Conversation) bool, err error) {
	key, desc, err := ConversationSort(by)
	if err != nil {
		return nil, nil, err
	}
	cmp = func(a, b *Conversation) int {
		n := key(a).Compare(key(b))
		if n == 0 {
			n = strings.Compare(a.ID, b.ID)
		}
		if desc {
			n = -n
		}
		return n
	}
	beyond = func(a, b *Conversation) bool {
		if desc {
			return key(a).Before(key(b))
		}
		return key(a).After(key(b))
	}
	return cmp, beyond, nil
}

// PageLimit returns the page size a chat list uses for limit: limit
// itself, DefaultLimit for 0, ErrInvalid when negative.
func PageLimit(limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, fmt.Errorf("limit %d: %w", limit, ErrInvalid)
	case limit == 0:
		return DefaultLimit, nil
	}
	return limit, nil
}

// ConversationListParams pages one user's conversations of an app, as
// Dify's GET /conversations does: keyset paging after LastID, whose sort
// value must be passed strictly (ties are skipped).
type ConversationListParams struct {
	AppID  string
	User   string
	LastID string
	// Limit is the page size (the API allows 1–100); see PageLimit.
	Limit int
	// SortBy is one of the Sort* orders; "" means SortUpdatedDesc.
	SortBy string
}

// ConversationListResult is one page of conversations.
type ConversationListResult struct {
	Items []*Conversation
	// HasMore reports, as Dify does, whether a conversation sorts strictly
	// beyond the page's last one: where the next page (LastID = the last
	// item) starts. Conversations tied with the last item do not count.
	HasMore bool
}

// MessageListParams pages a conversation's messages, newest page first,
// as Dify's GET /messages does: the Limit newest messages created before
// FirstID (all, when FirstID is empty), returned oldest first.
type MessageListParams struct {
	AppID          string
	User           string
	ConversationID string
	FirstID        string
	// Limit is the page size; see PageLimit.
	Limit int
}

// MessageListResult is one page of messages, oldest first.
type MessageListResult struct {
	Items []*Message
	// Feedbacks are the user's feedback on those messages, by message id:
	// per message, the user's feedback that is not withdrawn (if there
	// are several, the one with the highest Seq, then id).
	Feedbacks map[string]*Feedback
	// HasMore reports whether a message older than the page exists.
	HasMore bool
}

// VariableListParams pages a conversation's variables by creation time.
type VariableListParams struct {
	AppID          string
	User           string
	ConversationID string
	// LastID, when set, starts after that variable: with those created
	// strictly after it. It must be one of the variables Name selects.
	LastID string
	// Limit is the page size; see PageLimit.
	Limit int
	// Name, when set, matches names containing it, case-insensitively.
	Name string
}

// VariableListResult is one page of conversation variables.
type VariableListResult struct {
	Items   []*ConversationVariable
	HasMore bool
}

// FeedbackListParams pages an app's feedback, newest first.
type FeedbackListParams struct {
	AppID string
	// Page is 1-based; 0 means 1, negative is ErrInvalid.
	Page int
	// Limit is the page size; see PageLimit.
	Limit int
}

// ChatReader is the read side of chat records: the turn's state and the
// conversation and message API. Lookups are scoped to the app and, where
// a user is given, to conversations that user owns; anything else is
// ErrNotFound. Deleted conversations are not found, nor are their
// messages, variables and feedback; nor is a conversation whose own
// record has not arrived (only records in it have). A negative Limit or
// Page is ErrInvalid.
type ChatReader interface {
	// Turn returns what a turn of an existing conversation needs, in one
	// round trip to the store.
	Turn(ctx context.Context, p *TurnParams) (*Turn, error)
	// ConversationList returns a page of the user's conversations.
	// ErrNotFound: LastID is not one of them.
	ConversationList(ctx context.Context, p *ConversationListParams) (*ConversationListResult, error)
	// ConversationGet returns the user's conversation.
	ConversationGet(ctx context.Context, appID, user, id string) (*Conversation, error)
	// MessageList returns a page of a conversation's messages.
	// ErrNotFound: the conversation, or FirstID in it, does not exist.
	MessageList(ctx context.Context, p *MessageListParams) (*MessageListResult, error)
	// MessageGet returns a message of one of the user's conversations.
	MessageGet(ctx context.Context, appID, user, id string) (*Message, error)
	// VariableList returns a page of a conversation's variables.
	// ErrNotFound: the conversation, or LastID among the variables that
	// Name selects, does not exist.
	VariableList(ctx context.Context, p *VariableListParams) (*VariableListResult, error)
	// FeedbackList returns a page of the app's feedback, newest first
	// (by CreatedAt, then id), withdrawn feedback left out.
	FeedbackList(ctx context.Context, p *FeedbackListParams) ([]*Feedback, error)
}

// SupersedesChat reports whether a chat record version (deleted, seq)
// ranks above a stored one: deletion ranks above everything, otherwise
// the higher Seq wins; a tie never replaces.
func SupersedesChat(newDeleted bool, newSeq int64, oldDeleted bool, oldSeq int64) bool {
	if newDeleted != oldDeleted {
		return newDeleted
	}
	return newSeq > oldSeq
}
