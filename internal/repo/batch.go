package repo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// ValidUUID reports whether s is a UUID in its canonical textual form
// (8-4-4-4-12 hex digits, either case).
func ValidUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// NormalizeUUID returns the lower-case form of a UUID, the form stores
// compare and return.
func NormalizeUUID(s string) string { return strings.ToLower(s) }

// NormalizeTime returns t as stores keep it: UTC, rounded to microseconds
// (PostgreSQL's precision). The zero time stays zero.
func NormalizeTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Round(time.Microsecond).UTC()
}

// Prepare validates b and returns what a store should apply: a new batch
// whose records are shallow copies with IDs lower-cased and times normalized,
// holding per record ID only the version that ranks highest (see Supersedes),
// in first-seen order. Stores call it first so that every implementation
// accepts and rejects the same batches.
//
// Returns ErrInvalid if a record is nil, has a missing or malformed ID, run
// ID or app ID, a negative Seq, or JSON that is not valid; ErrConflict if two
// records with one ID name different runs or apps.
func (b *Batch) Prepare() (*Batch, error) {
	out := &Batch{}
	if b == nil {
		return out, nil
	}

	runs := make(map[string]int, len(b.Runs))
	for i, r := range b.Runs {
		if r == nil {
			return nil, fmt.Errorf("run %d is nil: %w", i, ErrInvalid)
		}
		c := *r
		c.ID = NormalizeUUID(c.ID)
		if err := checkRecord("run", r.ID, r.ID, r.AppID, r.Seq); err != nil {
			return nil, err
		}
		if err := checkJSON("run", r.ID, []jsonField{{"graph", &c.Graph}, {"inputs", &c.Inputs}, {"outputs", &c.Outputs}}); err != nil {
			return nil, err
		}
		c.CreatedAt, c.FinishedAt = NormalizeTime(c.CreatedAt), NormalizeTime(c.FinishedAt)
		j, ok := runs[c.ID]
		if !ok {
			runs[c.ID] = len(out.Runs)
			out.Runs = append(out.Runs, &c)
			continue
		}
		old := out.Runs[j]
		if old.AppID != c.AppID {
			return nil, fmt.Errorf("run %s: app %q and %q in one batch: %w", c.ID, old.AppID, c.AppID, ErrConflict)
		}
		if Supersedes(c.Status, c.Seq, old.Status, old.Seq) {
			out.Runs[j] = &c
		}
	}

	nodes := make(map[string]int, len(b.NodeExecutions))
	for i, n := range b.NodeExecutions {
		if n == nil {
			return nil, fmt.Errorf("node execution %d is nil: %w", i, ErrInvalid)
		}
		c := *n
		c.ID, c.WorkflowRunID = NormalizeUUID(c.ID), NormalizeUUID(c.WorkflowRunID)
		if err := checkRecord("node execution", n.ID, n.WorkflowRunID, n.AppID, n.Seq); err != nil {
			return nil, err
		}
		if err := checkJSON("node execution", n.ID, []jsonField{
			{"inputs", &c.Inputs}, {"process_data", &c.ProcessData}, {"outputs", &c.Outputs}, {"metadata", &c.Metadata},
		}); err != nil {
			return nil, err
		}
		c.CreatedAt, c.FinishedAt = NormalizeTime(c.CreatedAt), NormalizeTime(c.FinishedAt)
		j, ok := nodes[c.ID]
		if !ok {
			nodes[c.ID] = len(out.NodeExecutions)
			out.NodeExecutions = append(out.NodeExecutions, &c)
			continue
		}
		old := out.NodeExecutions[j]
		if old.AppID != c.AppID || old.WorkflowRunID != c.WorkflowRunID {
			return nil, fmt.Errorf("node execution %s: two runs or apps in one batch: %w", c.ID, ErrConflict)
		}
		if Supersedes(c.Status, c.Seq, old.Status, old.Seq) {
			out.NodeExecutions[j] = &c
		}
	}

	logs := make(map[string]int, len(b.AppLogs))
	for i, l := range b.AppLogs {
		if l == nil {
			return nil, fmt.Errorf("app log %d is nil: %w", i, ErrInvalid)
		}
		c := *l
		c.ID, c.WorkflowRunID = NormalizeUUID(c.ID), NormalizeUUID(c.WorkflowRunID)
		if err := checkRecord("app log", l.ID, l.WorkflowRunID, l.AppID, l.Seq); err != nil {
			return nil, err
		}
		c.CreatedAt = NormalizeTime(c.CreatedAt)
		j, ok := logs[c.ID]
		if !ok {
			logs[c.ID] = len(out.AppLogs)
			out.AppLogs = append(out.AppLogs, &c)
			continue
		}
		old := out.AppLogs[j]
		if old.AppID != c.AppID || old.WorkflowRunID != c.WorkflowRunID {
			return nil, fmt.Errorf("app log %s: two runs or apps in one batch: %w", c.ID, ErrConflict)
		}
		if c.Seq > old.Seq {
			out.AppLogs[j] = &c
		}
	}
	if b.chatLen() > 0 {
		if err := b.prepareChat(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Latest returns a batch holding, per record ID, only the version of b that
// ranks highest (see Supersedes), in first-seen order: Prepare's
// deduplication without its validation, normalisation and copies, for a
// writer forwarding records that it built itself to a store that calls
// Prepare. The records are b's own; nil records are kept (the store
// rejects them).
func (b *Batch) Latest() *Batch {
	return &Batch{
		Runs:           latest(b.Runs, func(r *WorkflowRun) (string, Status, int64) { return r.ID, r.Status, r.Seq }),
		NodeExecutions: latest(b.NodeExecutions, func(n *NodeExecution) (string, Status, int64) { return n.ID, n.Status, n.Seq }),
		AppLogs:        latest(b.AppLogs, func(l *AppLog) (string, Status, int64) { return l.ID, "", l.Seq }),
		// Chat records are few per batch: stores deduplicate them.
		Conversations: b.Conversations,
		Messages:      b.Messages,
		Feedbacks:     b.Feedbacks,
		Variables:     b.Variables,
	}
}

// latest is Latest for one kind of record; key returns a record's ID and
// rank.
func latest[T any](recs []*T, key func(*T) (string, Status, int64)) []*T {
	if len(recs) < 2 {
		return recs
	}
	out := make([]*T, 0, len(recs))
	at := make(map[string]int, len(recs))
	for _, r := range recs {
		if r == nil {
			out = append(out, r)
			continue
		}
		id, status, seq := key(r)
		j, ok := at[id]
		if !ok {
			at[id] = len(out)
			out = append(out, r)
			continue
		}
		if _, oldStatus, oldSeq := key(out[j]); Supersedes(status, seq, oldStatus, oldSeq) {
			out[j] = r
		}
	}
	return out
}

func checkRecord(kind, id, runID, appID string, seq int64) error {
	switch {
	case !ValidUUID(id):
		return fmt.Errorf("%s id %q is not a UUID: %w", kind, id, ErrInvalid)
	case !ValidUUID(runID):
		return fmt.Errorf("%s %s: run id %q is not a UUID: %w", kind, id, runID, ErrInvalid)
	case appID == "":
		return fmt.Errorf("%s %s: no app id: %w", kind, id, ErrInvalid)
	case seq < 0:
		return fmt.Errorf("%s %s: negative seq %d: %w", kind, id, seq, ErrInvalid)
	}
	return nil
}

type jsonField struct {
	name string
	raw  *json.RawMessage
}

// checkJSON validates each field and turns empty values and JSON null into
// nil, so that every store treats "", null and nil alike (as absent): a
// record that travelled through JSON (the async queue) reads back as it
// was written.
func checkJSON(kind, id string, fields []jsonField) error {
	for _, f := range fields {
		if len(*f.raw) == 0 || string(bytes.TrimSpace(*f.raw)) == "null" {
			*f.raw = nil
			continue
		}
		if !json.Valid(*f.raw) {
			return fmt.Errorf("%s %s: %s is not valid JSON: %w", kind, id, f.name, ErrInvalid)
		}
	}
	return nil
}
