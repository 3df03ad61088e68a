// Package repo is the storage contract for workflow execution records: the
// record types, their statuses, the sentinel errors and the small interfaces
// that the engine's event stream writes through (Writer) and the run-log API
// reads through (Reader).
//
// The package is a leaf: it imports only the standard library, so the engine,
// the API and every implementation (memory, sql, a later async decorator) can
// import it. Implementations are peers and never import each other; all of
// them pass the conformance suite in package repotest.
//
// # Versions
//
// Delivery of records may be at-least-once and out of order (an async mode
// replays batches). Every record therefore carries Seq, the version of that
// record within its run: the Seq of the engine event that produced that
// state (run.Event.Seq numbers a run's events 1..N). A store keeps, for each
// record ID, the version that ranks highest, where a terminal status ranks
// above a non-terminal one and, between two versions of equal terminality,
// the higher Seq ranks higher (see Supersedes). Writing a version that does
// not rank higher than the stored one changes nothing. The stored state is
// thus the maximum over every version ever written, whatever the order of
// delivery and however often a batch is repeated: a late `running` never
// overwrites `succeeded`, and a re-delivered batch is a no-op. Two versions
// with the same ID, status terminality and Seq are assumed to be identical;
// the first one stored wins.
package repo

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors. Implementations return them (wrapped, test with
// errors.Is) and translate their drivers' errors into them in one place.
var (
	// ErrNotFound means the requested record does not exist in the given
	// scope (an unknown ID, or one that belongs to another app).
	ErrNotFound = errors.New("repo: not found")
	// ErrConflict means a write contradicts stored data that may not change:
	// a record ID already belongs to another run or app.
	ErrConflict = errors.New("repo: conflict")
	// ErrInvalid means the request itself is malformed: a missing or
	// malformed ID, invalid JSON. Retrying it cannot succeed.
	ErrInvalid = errors.New("repo: invalid")
	// ErrUnavailable means the backing store could not be reached or did not
	// answer in time. The operation may succeed when retried.
	ErrUnavailable = errors.New("repo: unavailable")
	// ErrTooLarge means a store will not hold something because it passed
	// the store's size bound; the complete store still has it.
	ErrTooLarge = errors.New("repo: too large")
)

// Status is the state of a workflow run or node execution, with Dify's values.
type Status string

// Statuses. Runs use running, succeeded, failed, stopped, partial-succeeded
// and paused; node executions also use exception, retry and pending.
const (
	StatusPending          Status = "pending"
	StatusRunning          Status = "running"
	StatusSucceeded        Status = "succeeded"
	StatusFailed           Status = "failed"
	StatusStopped          Status = "stopped"
	StatusPartialSucceeded Status = "partial-succeeded"
	StatusPaused           Status = "paused"
	// StatusException is a node that failed but was handled by its error
	// strategy.
	StatusException Status = "exception"
	// StatusRetry is a node attempt that failed and will be retried.
	StatusRetry Status = "retry"
)

// Terminal reports whether s is a final state: succeeded, failed, stopped,
// partial-succeeded or exception. Paused is not final: a paused run resumes.
func (s Status) Terminal() bool {
	switch s {
	case StatusSucceeded, StatusFailed, StatusStopped, StatusPartialSucceeded, StatusException:
		return true
	}
	return false
}

// TerminalStatuses lists the statuses for which Terminal is true, for
// implementations that evaluate the version rule in a query language.
func TerminalStatuses() []Status {
	return []Status{StatusSucceeded, StatusFailed, StatusStopped, StatusPartialSucceeded, StatusException}
}

// Supersedes reports whether a version with status newStatus and sequence
// newSeq ranks above a stored version with oldStatus and oldSeq, i.e. whether
// a store must replace the stored version with the new one. Terminal ranks
// above non-terminal; otherwise the higher Seq wins; a tie never replaces.
func Supersedes(newStatus Status, newSeq int64, oldStatus Status, oldSeq int64) bool {
	nt, ot := newStatus.Terminal(), oldStatus.Terminal()
	if nt != ot {
		return nt
	}
	return newSeq > oldSeq
}

// Creator roles (created_by_role).
const (
	RoleAccount = "account"
	RoleEndUser = "end_user"
)

// WorkflowRun is one execution of a workflow (Dify's workflow_runs row).
type WorkflowRun struct {
	// ID is the workflow run id, a UUID.
	ID       string
	TenantID string
	AppID    string
	// WorkflowID identifies the workflow (graph) that ran.
	WorkflowID string
	// Type is "workflow" or "chat" (advanced-chat).
	Type string
	// TriggeredFrom is where the run started: "app-run", "debugging", ...
	TriggeredFrom string
	// Version is the workflow version: a publish timestamp or "draft".
	Version string
	// Graph is the workflow graph JSON; nil when not recorded.
	Graph json.RawMessage
	// Inputs are the user inputs followed by the sys.* values, as a JSON
	// object; nil when unknown.
	Inputs json.RawMessage
	Status Status
	// Outputs is a JSON object; nil until the run finishes.
	Outputs json.RawMessage
	Error   string
	// ElapsedTime is the run's duration in seconds.
	ElapsedTime     float64
	TotalTokens     int64
	TotalSteps      int64
	ExceptionsCount int64
	// CreatedByRole is RoleAccount or RoleEndUser.
	CreatedByRole string
	// CreatedBy is the account or end user id.
	CreatedBy string
	// SessionID is the end user's session id (the API's `user`), if any.
	SessionID  string
	CreatedAt  time.Time
	FinishedAt time.Time // zero while running
	// InstanceID is the API instance executing the run (a UUID, or "" when
	// not tracked). Runs left running by an instance that stopped
	// heartbeating are closed as failed.
	InstanceID string
	// Seq is the record's version within its run (see the package doc).
	Seq int64
}

// NodeExecution is one execution of a node within a run (Dify's
// workflow_node_executions row). Retries of a node share one record.
type NodeExecution struct {
	// ID is the node execution id, a UUID.
	ID            string
	TenantID      string
	AppID         string
	WorkflowID    string
	TriggeredFrom string
	// WorkflowRunID is the run this execution belongs to, a UUID.
	WorkflowRunID string
	// Index numbers the run's node executions 1..N in start order.
	Index             int64
	PredecessorNodeID string
	NodeID            string
	NodeType          string
	Title             string
	// Inputs, ProcessData and Outputs are JSON objects; nil when absent.
	Inputs      json.RawMessage
	ProcessData json.RawMessage
	Outputs     json.RawMessage
	Status      Status
	Error       string
	// ElapsedTime is the execution's duration in seconds.
	ElapsedTime float64
	// Metadata is Dify's execution_metadata JSON object (total_tokens,
	// iteration_index, ...); nil when absent.
	Metadata json.RawMessage
	// IterationID and LoopID are the node ids of the enclosing iteration or
	// loop node, if any.
	IterationID   string
	LoopID        string
	CreatedByRole string
	CreatedBy     string
	CreatedAt     time.Time
	FinishedAt    time.Time // zero while running
	// Seq is the record's version within its run (see the package doc).
	Seq int64
}

// AppLog records that an app invocation started a run (Dify's
// workflow_app_logs row); the run-log API lists these, newest first.
type AppLog struct {
	// ID is the log id, a UUID.
	ID         string
	TenantID   string
	AppID      string
	WorkflowID string
	// WorkflowRunID is the run this log is about, a UUID.
	WorkflowRunID string
	// CreatedFrom is "service-api", "web-app" or "installed-app".
	CreatedFrom   string
	CreatedByRole string
	CreatedBy     string
	// SessionID is the end user's session id (the API's `user`), if any.
	SessionID string
	CreatedAt time.Time
	// Seq is the record's version within its run (see the package doc).
	// App logs do not change after they are written; their versions are
	// ordered by Seq alone.
	Seq int64
}

// Batch is a set of records written together. A batch may hold records of
// several runs and several versions of one record; it is applied atomically:
// either every record is considered or, on error, none is.
type Batch struct {
	Runs           []*WorkflowRun
	NodeExecutions []*NodeExecution
	AppLogs        []*AppLog
	// Chat records (see Conversation).
	Conversations []*Conversation
	Messages      []*Message
	Feedbacks     []*Feedback
	Variables     []*ConversationVariable
}

// Len returns the number of records in b.
func (b *Batch) Len() int {
	if b == nil {
		return 0
	}
	return len(b.Runs) + len(b.NodeExecutions) + len(b.AppLogs) + b.chatLen()
}

// chatLen returns the number of chat records in b.
func (b *Batch) chatLen() int {
	return len(b.Conversations) + len(b.Messages) + len(b.Feedbacks) + len(b.Variables)
}

// Append adds the records of o to b.
func (b *Batch) Append(o *Batch) {
	if o == nil {
		return
	}
	b.Runs = append(b.Runs, o.Runs...)
	b.NodeExecutions = append(b.NodeExecutions, o.NodeExecutions...)
	b.AppLogs = append(b.AppLogs, o.AppLogs...)
	b.Conversations = append(b.Conversations, o.Conversations...)
	b.Messages = append(b.Messages, o.Messages...)
	b.Feedbacks = append(b.Feedbacks, o.Feedbacks...)
	b.Variables = append(b.Variables, o.Variables...)
}

// Writer is the write side: the engine's events, turned into records, feed it.
type Writer interface {
	// Write stores every record of b, keeping per record ID the version that
	// ranks highest (see the package doc); it is idempotent, and atomic per
	// batch. When Write returns nil the records are as durable as the
	// implementation promises (committed, for a database).
	//
	// Returns ErrInvalid if a record has a missing or malformed ID or run ID
	// or invalid JSON, ErrConflict if a record ID already belongs to another
	// run or app, and ErrUnavailable if the store cannot be reached.
	//
	// A store may keep the JSON byte slices of b's records: callers must not
	// modify a batch's records after writing it.
	Write(ctx context.Context, b *Batch) error
}

// RunGetParams selects one run.
type RunGetParams struct {
	// AppID scopes the lookup: a run of another app is not found.
	AppID string
	RunID string
}

// RunListParams filters and pages the app logs of one app, with the filters
// of Dify's GET /workflows/logs.
type RunListParams struct {
	AppID string
	// Keyword, when set, matches runs whose inputs or outputs JSON text or
	// whose log's session id contain it, case-insensitively (only its first
	// 30 characters are used; % and _ are literal), or whose id equals it
	// when it is a UUID. Stores format JSON text differently (spacing, key
	// order), so keywords should not span JSON punctuation.
	Keyword string
	// Status, when set, matches runs in that status.
	Status Status
	// CreatedBefore and CreatedAfter, when non-zero, bound the log's
	// created_at, inclusively.
	CreatedBefore time.Time
	CreatedAfter  time.Time
	// SessionID, when set, matches logs created by that end-user session
	// (Dify's created_by_end_user_session_id).
	SessionID string
	// Page is 1-based; 0 means 1.
	Page int
	// Limit is the page size; 0 means 20.
	Limit int
}

// Default page and page size for RunList.
const (
	DefaultPage  = 1
	DefaultLimit = 20
	// KeywordMaxLen is how many characters of RunListParams.Keyword are used.
	KeywordMaxLen = 30
)

// RunListItem is one app log with its run.
type RunListItem struct {
	Log *AppLog
	// Run is nil when the run's record is not stored (yet), or belongs to
	// another app than the log.
	Run *WorkflowRun
}

// RunListResult is one page of RunList.
type RunListResult struct {
	Items []*RunListItem
	// Page and Limit are the effective values (defaults applied).
	Page  int
	Limit int
	// Total counts every matching log, on all pages.
	Total int64
	// HasMore reports whether pages after this one have items.
	HasMore bool
}

// NodeExecutionListParams selects the node executions of one run.
type NodeExecutionListParams struct {
	// AppID scopes the lookup: a run of another app is not found.
	AppID string
	RunID string
}

// Reader is the read side, serving the run-log API. Every method also
// returns ErrUnavailable if the store cannot be reached.
type Reader interface {
	// RunGet returns the run. Returns ErrNotFound if no run of p.AppID has
	// the ID (including when the ID is not a UUID).
	RunGet(ctx context.Context, p *RunGetParams) (*WorkflowRun, error)
	// RunList returns one page of the app's logs, newest first (by the log's
	// created_at, then id, descending), each with its run. Returns
	// ErrInvalid if p.Page or p.Limit is negative.
	RunList(ctx context.Context, p *RunListParams) (*RunListResult, error)
	// NodeExecutionList returns the run's node executions ordered by Index
	// (then created_at, then id). Returns ErrNotFound if no run of p.AppID
	// has the ID; a stored run with no node executions gives an empty list.
	NodeExecutionList(ctx context.Context, p *NodeExecutionListParams) ([]*NodeExecution, error)
}

// Store is both sides; memory and sql implement it.
type Store interface {
	Writer
	Reader
}
