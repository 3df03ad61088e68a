package record

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/run"
)

// Source describes where a run comes from: the fields of its records that
// the engine does not know.
type Source struct {
	// RunID is the workflow run id (node execution records carry it).
	RunID    string
	TenantID string
	AppID    string
	// WorkflowID and Version identify the workflow that ran.
	WorkflowID string
	Version    string
	// SessionID is the end user's session id (the API's `user`).
	SessionID string
	// TriggeredFrom is Dify's triggered_from ("app-run" for API calls).
	TriggeredFrom string
	// CreatedFrom is Dify's app log created_from ("service-api").
	CreatedFrom string
	// InstanceID is the API instance running the run (its lease id), so
	// the run can be closed if the instance is lost ("" when not tracked).
	InstanceID string
	// Chat marks a chatflow turn: the run's type is "chat", not
	// "workflow".
	Chat bool

	endUser string // EndUserID(AppID, SessionID), derived once
}

// createdBy returns the end-user id of the run, deriving it on first use.
func (src *Source) createdBy() string {
	if src.endUser == "" {
		src.endUser = EndUserID(src.AppID, src.SessionID)
	}
	return src.endUser
}

// logNamespace derives app log and end user ids deterministically, so that a
// replayed record always has the same id.
var logNamespace = uuid.MustParse("6f1b8d4e-3b1e-4c55-9a43-5a0b0d3c9e21")

// EndUserID returns the stable end-user id of a session within an app
// (Dify keeps these in end_users; flowrun derives them).
func EndUserID(appID, sessionID string) string {
	return uuid.NewSHA1(logNamespace, []byte("end-user\x00"+appID+"\x00"+sessionID)).String()
}

// logID derives a run's app log id: a name-based UUID, so every version of
// the record has the same id. For a time-ordered (version 7) run id, it
// keeps the run id's 48-bit timestamp in front (a version 8 UUID), so app
// log ids are time-ordered too, like the run ids they index.
func logID(runID string) string {
	id := uuid.NewSHA1(logNamespace, []byte("app-log\x00"+runID))
	if rid, err := uuid.Parse(runID); err == nil && rid.Version() == 7 {
		copy(id[:6], rid[:6])
		id[6] = 0x80 | id[6]&0x0f
	}
	return id.String()
}

// Convert returns the records an event produces: a run version for
// workflow_started/finished (plus the app log at start), a node execution
// version for node and container events, nothing for text chunks and
// iteration/loop rounds.
func Convert(src *Source, e *run.Event) *repo.Batch {
	switch {
	case e.Run != nil:
		b := &repo.Batch{Runs: []*repo.WorkflowRun{runRecord(src, e.Run, e.Seq)}}
		if e.Type == run.EventWorkflowStarted {
			b.AppLogs = []*repo.AppLog{{
				ID:            logID(e.Run.ID),
				TenantID:      src.TenantID,
				AppID:         src.AppID,
				WorkflowID:    src.WorkflowID,
				WorkflowRunID: e.Run.ID,
				CreatedFrom:   or(src.CreatedFrom, "service-api"),
				CreatedByRole: repo.RoleEndUser,
				CreatedBy:     src.createdBy(),
				SessionID:     src.SessionID,
				CreatedAt:     e.Run.CreatedAt,
				Seq:           e.Seq,
			}}
		}
		return b
	case e.Node != nil:
		// A retry is an intermediate (non-terminal) version of the same
		// execution record.
		return &repo.Batch{NodeExecutions: []*repo.NodeExecution{nodeRecord(src, e.Node, e.Seq)}}
	}
	return nil
}

func runRecord(src *Source, info *run.RunInfo, seq int64) *repo.WorkflowRun {
	r := &repo.WorkflowRun{
		ID:              info.ID,
		TenantID:        src.TenantID,
		AppID:           src.AppID,
		WorkflowID:      or(src.WorkflowID, info.WorkflowID),
		Type:            runType(src.Chat),
		TriggeredFrom:   or(src.TriggeredFrom, "app-run"),
		Version:         src.Version,
		Inputs:          jsonOf(info.Inputs),
		Status:          repo.Status(info.Status),
		Error:           info.Error,
		ElapsedTime:     seconds(info.Elapsed),
		TotalTokens:     info.TotalTokens,
		TotalSteps:      info.TotalSteps,
		ExceptionsCount: info.ExceptionsCount,
		CreatedByRole:   repo.RoleEndUser,
		CreatedBy:       src.createdBy(),
		SessionID:       src.SessionID,
		CreatedAt:       info.CreatedAt,
		FinishedAt:      info.FinishedAt,
		InstanceID:      src.InstanceID,
		Seq:             seq,
	}
	if info.Status.Terminal() {
		r.Outputs = jsonOf(info.Outputs)
	}
	return r
}

func nodeRecord(src *Source, n *run.NodeRun, seq int64) *repo.NodeExecution {
	rec := &repo.NodeExecution{
		ID:                n.ID,
		TenantID:          src.TenantID,
		AppID:             src.AppID,
		WorkflowID:        src.WorkflowID,
		TriggeredFrom:     "workflow-run",
		WorkflowRunID:     src.RunID,
		Index:             n.Index,
		PredecessorNodeID: n.PredecessorNodeID,
		NodeID:            n.NodeID,
		NodeType:          n.NodeType,
		Title:             n.Title,
		Status:            repo.Status(n.Status),
		Error:             n.Error,
		ElapsedTime:       seconds(n.Elapsed),
		IterationID:       n.IterationID,
		LoopID:            n.LoopID,
		CreatedByRole:     repo.RoleEndUser,
		CreatedBy:         src.createdBy(),
		CreatedAt:         n.CreatedAt,
		FinishedAt:        n.FinishedAt,
		Seq:               seq,
	}
	if n.Status != run.StatusRunning {
		rec.Inputs = jsonOf(n.Inputs)
		rec.ProcessData = jsonOf(n.ProcessData)
		rec.Outputs = jsonOf(n.Outputs)
		if m := n.ExecutionMetadata(); m != nil {
			rec.Metadata = jsonOf(m)
		}
	}
	return rec
}

func jsonOf(v any) json.RawMessage {
	var (
		b   []byte
		err error
	)
	if vs, ok := v.(run.Vars); ok {
		if vs == nil {
			return nil
		}
		// Vars encode themselves: skip reflection and re-compaction.
		b, err = vs.MarshalJSON()
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		// Values come from JSON and the engine's own types; a value that
		// cannot be encoded is recorded as an explanation, never lost
		// silently.
		b, _ = json.Marshal(map[string]string{"error": "unencodable value: " + err.Error()})
	}
	return b
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// runType is Dify's workflow_runs.type.
func runType(chat bool) string {
	if chat {
		return "chat"
	}
	return "workflow"
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
