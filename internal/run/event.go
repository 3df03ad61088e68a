package run

import (
	"time"
)

// Status is the state of a run or a node execution, with Dify's values.
type Status string

// Run and node execution states.
const (
	StatusRunning          Status = "running"
	StatusSucceeded        Status = "succeeded"
	StatusFailed           Status = "failed"
	StatusStopped          Status = "stopped"
	StatusPartialSucceeded Status = "partial-succeeded"
	// StatusException is a node that failed but was handled by its
	// error_strategy (fail-branch or default-value).
	StatusException Status = "exception"
	// StatusRetry is a node attempt that failed and will be retried.
	StatusRetry Status = "retry"
)

// Terminal reports whether s is a final state.
func (s Status) Terminal() bool {
	switch s {
	case StatusSucceeded, StatusFailed, StatusStopped, StatusPartialSucceeded, StatusException:
		return true
	}
	return false
}

// EventType names an event, with Dify's stream event names.
type EventType string

// Event types, in the order a run produces them.
const (
	EventWorkflowStarted    EventType = "workflow_started"
	EventNodeStarted        EventType = "node_started"
	EventNodeRetry          EventType = "node_retry"
	EventNodeFinished       EventType = "node_finished"
	EventTextChunk          EventType = "text_chunk"
	EventIterationStarted   EventType = "iteration_started"
	EventIterationNext      EventType = "iteration_next"
	EventIterationCompleted EventType = "iteration_completed"
	EventLoopStarted        EventType = "loop_started"
	EventLoopNext           EventType = "loop_next"
	EventLoopCompleted      EventType = "loop_completed"
	EventWorkflowFinished   EventType = "workflow_finished"
	// EventAgentLog is an agent node's log entry (Dify's agent_log).
	EventAgentLog EventType = "agent_log"
)

// Event is one step of a run. Exactly one of Run, Node, Chunk, Next and Log is
// set, according to Type. Events are delivered in order; Seq numbers them
// 1..N within a run, so consumers can order or deduplicate them. Listeners
// must not modify an event; they may keep it.
type Event struct {
	Type EventType
	Seq  int64
	// Run is set for workflow_started and workflow_finished.
	Run *RunInfo
	// Node is set for node_*, iteration_started/completed and
	// loop_started/completed.
	Node *NodeRun
	// Chunk is set for text_chunk.
	Chunk *Chunk
	// Next is set for iteration_next and loop_next.
	Next *Next
	// Log is set for agent_log.
	Log *AgentLog
}

// RunInfo describes a workflow run. workflow_started carries it as the run
// began, workflow_finished with its final state.
type RunInfo struct {
	ID         string
	TaskID     string
	WorkflowID string
	AppID      string
	UserID     string
	// Inputs are the validated user inputs followed by the sys.* values.
	Inputs          Vars
	Status          Status
	Outputs         Vars
	Error           string
	TotalTokens     int64
	TotalSteps      int64
	ExceptionsCount int64
	CreatedAt       time.Time
	FinishedAt      time.Time
	Elapsed         time.Duration
	// ConversationVars are a chatflow turn's conversation variables as the
	// run left them (set in workflow_finished; nil for workflow apps): the
	// caller stores them for the conversation's next turn.
	ConversationVars Vars `json:",omitempty"`
}

// NodeRun is one execution of a node. node_started carries the fields known
// at start; node_finished and node_retry carry all of them.
type NodeRun struct {
	// ID is the node execution id (a UUID), distinct per attempt series.
	ID                string
	NodeID            string
	NodeType          string
	Title             string
	Index             int64
	PredecessorNodeID string
	Inputs            Vars
	ProcessData       Vars
	Outputs           Vars
	Status            Status
	Error             string
	ErrorType         string
	Elapsed           time.Duration
	Metadata          map[string]any
	CreatedAt         time.Time
	FinishedAt        time.Time
	IterationID       string
	IterationIndex    int
	LoopID            string
	LoopIndex         int
	// RetryIndex is the attempt number for node_retry events (1-based).
	RetryIndex int
	// Tokens are the LLM tokens the node used.
	Tokens int64
	// RetrieverResources are Result.RetrieverResources (not recorded).
	RetrieverResources []map[string]any `json:"-"`
}

// Chunk is a piece of streamed output text.
type Chunk struct {
	Text     string
	Selector Selector
	// NodeID is the node that produced the chunk.
	NodeID string
}

// Next marks the start of a round of an iteration or loop.
type Next struct {
	NodeRunID string
	NodeID    string
	NodeType  string
	Title     string
	Index     int
	CreatedAt time.Time
}

// AgentLog is one entry of an agent node's log (Dify's AgentLogEvent): a
// round, a model call or a tool call. An entry is sent when it starts and
// again, with the same ID, when it ends.
type AgentLog struct {
	// NodeRunID and NodeID identify the agent node's execution.
	NodeRunID string
	NodeID    string
	ID        string
	Label     string
	// ParentID is the enclosing entry's ID ("" for a round).
	ParentID string
	Error    string
	// Status is "start", "success" or "error".
	Status   string
	Data     map[string]any
	Metadata map[string]any
}

// Listener receives a run's events in order, synchronously: a slow listener
// slows the run, so listeners hand events off quickly.
type Listener interface {
	OnEvent(e *Event)
}

// ListenerFunc adapts a function to Listener.
type ListenerFunc func(e *Event)

// OnEvent calls f.
func (f ListenerFunc) OnEvent(e *Event) { f(e) }

// Listeners fans events out to each non-nil listener in order.
func Listeners(ls ...Listener) Listener {
	var out multi
	for _, l := range ls {
		if l != nil {
			out = append(out, l)
		}
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}

type multi []Listener

func (m multi) OnEvent(e *Event) {
	for _, l := range m {
		l.OnEvent(e)
	}
}
