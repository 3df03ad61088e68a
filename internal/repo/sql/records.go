package sql

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/flowrun/flowrun/internal/repo"
)

// kind is how a column travels: as an array parameter of arrType, unnested
// and cast to the column's type.
type kind int

const (
	kText kind = iota
	kUUID
	kJSON
	kFloat
	kInt
	kTime
	kTimeNull
	kUUIDNull // "" is NULL
	kBool
	kDate // a time.Time's UTC day
)

func (k kind) arrType() string {
	switch k {
	case kFloat:
		return "float8[]"
	case kInt:
		return "int8[]"
	case kTime, kTimeNull:
		return "timestamptz[]"
	case kBool:
		return "bool[]"
	}
	return "text[]"
}

func (k kind) cast() string {
	switch k {
	case kUUID, kUUIDNull:
		return "::uuid"
	case kJSON:
		return "::jsonb"
	case kDate:
		return "::date"
	}
	return ""
}

type column[T any] struct {
	name string
	kind kind
	get  func(T) any
}

// table describes one record table for the upsert.
type table[T any] struct {
	name string
	cols []column[T]
	// key is the primary key: the conflict target, and the order rows
	// are written in. Nil means id.
	key []string
	// filter, when set, is a condition on the unnested row u: rows for
	// which it fails are not written.
	filter string
	// exprs maps columns to the value inserted, an expression of the
	// unnested row u (by default, u's column cast to the column's type).
	exprs map[string]string
	// identity columns may not change: a version that names other values
	// is a conflict.
	identity []string
	// rank is true when EXCLUDED ranks above the stored row t.
	rank string
	// day, when set, is the partition key of a row (see Day): the table is
	// partitioned by it, and its rows are written with a "day" column,
	// which is part of the primary key.
	day func(T) time.Time
}

// writeCols returns the columns written: cols, and day when the table is
// partitioned. Reads select cols only.
func (tb table[T]) writeCols() []column[T] {
	if tb.day == nil {
		return tb.cols
	}
	return append(slices.Clip(tb.cols), column[T]{"day", kDate, func(r T) any { return tb.day(r) }})
}

// keys returns tb's primary key columns.
func (tb table[T]) keys() []string {
	switch {
	case tb.key != nil:
		return tb.key
	case tb.day != nil:
		return []string{"id", "day"}
	}
	return []string{"id"}
}

const rankByStatusSeq = `(flowrun_terminal(EXCLUDED.status), EXCLUDED.seq) > (flowrun_terminal(t.status), t.seq)`

// upsert builds the guarded multi-row upsert: rows arrive as one array per
// column, are unnested, and are inserted in id order; an existing row is
// replaced only by a version that ranks higher, and a changed identity
// column raises unique_violation through flowrun_conflict.
func (tb table[T]) upsert() string {
	names, rows := tb.rows()
	var sets []string
	for _, c := range tb.writeCols() {
		if q := `"` + c.name + `"`; !contains(tb.keys(), c.name) && !contains(tb.identity, c.name) {
			sets = append(sets, q+" = EXCLUDED."+q)
		}
	}
	return fmt.Sprintf(`INSERT INTO %[1]s AS t (%[2]s)
%[3]s
ON CONFLICT (%[4]s) DO UPDATE SET %[5]s
WHERE CASE WHEN %[6]s ELSE %[7]s END`,
		tb.name, names, rows, strings.Join(tb.keys(), ", "), strings.Join(sets, ", "), tb.conflict(), tb.rank)
}

// conflict is the WHEN … THEN clause that fails the statement when an
// existing row's identity columns differ from the new version's.
func (tb table[T]) conflict() string {
	var changed []string
	for _, c := range tb.identity {
		changed = append(changed, fmt.Sprintf(`t."%[1]s" <> EXCLUDED."%[1]s"`, c))
	}
	return fmt.Sprintf("%s THEN flowrun_conflict('%s', t.id)", strings.Join(changed, " OR "), tb.name)
}

// rows returns the column list and the query producing the rows: one array
// parameter per column, unnested, in id order.
func (tb table[T]) rows() (names, query string) {
	var cols, params, selects []string
	for i, c := range tb.writeCols() {
		q := `"` + c.name + `"`
		cols = append(cols, q)
		params = append(params, fmt.Sprintf("$%d::%s", i+1, c.kind.arrType()))
		if e, ok := tb.exprs[c.name]; ok {
			selects = append(selects, e)
		} else {
			selects = append(selects, "u."+q+c.kind.cast())
		}
	}
	var order []string
	for _, k := range tb.keys() {
		order = append(order, `u."`+k+`"`)
	}
	where := ""
	if tb.filter != "" {
		where = "\nWHERE " + tb.filter
	}
	names = strings.Join(cols, ", ")
	return names, fmt.Sprintf("SELECT %s\nFROM unnest(%s) AS u(%s)%s\nORDER BY %s",
		strings.Join(selects, ", "), strings.Join(params, ", "), names, where, strings.Join(order, ", "))
}

// args returns one array argument per written column.
func (tb table[T]) args(rows []T) []any {
	cols := tb.writeCols()
	out := make([]any, len(cols))
	for i, c := range cols {
		switch c.kind {
		case kText, kUUID:
			a := make([]string, len(rows))
			for j, r := range rows {
				a[j] = sanitizeText(c.get(r).(string))
			}
			out[i] = a
		case kUUIDNull:
			a := make([]*string, len(rows))
			for j, r := range rows {
				if v := c.get(r).(string); v != "" {
					a[j] = &v
				}
			}
			out[i] = a
		case kJSON:
			a := make([]*string, len(rows))
			for j, r := range rows {
				if raw := c.get(r).(json.RawMessage); raw != nil {
					s := string(sanitizeJSON(raw))
					a[j] = &s
				}
			}
			out[i] = a
		case kFloat:
			a := make([]float64, len(rows))
			for j, r := range rows {
				a[j] = c.get(r).(float64)
			}
			out[i] = a
		case kInt:
			a := make([]int64, len(rows))
			for j, r := range rows {
				a[j] = c.get(r).(int64)
			}
			out[i] = a
		case kTime:
			a := make([]time.Time, len(rows))
			for j, r := range rows {
				a[j] = c.get(r).(time.Time)
			}
			out[i] = a
		case kTimeNull:
			a := make([]*time.Time, len(rows))
			for j, r := range rows {
				a[j] = timePtr(c.get(r).(time.Time))
			}
			out[i] = a
		case kBool:
			a := make([]bool, len(rows))
			for j, r := range rows {
				a[j] = c.get(r).(bool)
			}
			out[i] = a
		case kDate:
			a := make([]string, len(rows))
			for j, r := range rows {
				a[j] = c.get(r).(time.Time).Format(time.DateOnly)
			}
			out[i] = a
		}
	}
	return out
}

func (tb table[T]) columns() string { return names(tb.cols) }

// writeColumns lists the columns written, in writeCols' order.
func (tb table[T]) writeColumns() string { return names(tb.writeCols()) }

func names[T any](cols []column[T]) string {
	var names []string
	for _, c := range cols {
		names = append(names, `"`+c.name+`"`)
	}
	return strings.Join(names, ", ")
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// The column order of each table is the order its scan function reads.

var runTable = table[*repo.WorkflowRun]{
	name: "workflow_runs",
	cols: []column[*repo.WorkflowRun]{
		{"id", kUUID, func(r *repo.WorkflowRun) any { return r.ID }},
		{"tenant_id", kText, func(r *repo.WorkflowRun) any { return r.TenantID }},
		{"app_id", kText, func(r *repo.WorkflowRun) any { return r.AppID }},
		{"workflow_id", kText, func(r *repo.WorkflowRun) any { return r.WorkflowID }},
		{"type", kText, func(r *repo.WorkflowRun) any { return r.Type }},
		{"triggered_from", kText, func(r *repo.WorkflowRun) any { return r.TriggeredFrom }},
		{"version", kText, func(r *repo.WorkflowRun) any { return r.Version }},
		{"graph", kJSON, func(r *repo.WorkflowRun) any { return r.Graph }},
		{"inputs", kJSON, func(r *repo.WorkflowRun) any { return r.Inputs }},
		{"status", kText, func(r *repo.WorkflowRun) any { return string(r.Status) }},
		{"outputs", kJSON, func(r *repo.WorkflowRun) any { return r.Outputs }},
		{"error", kText, func(r *repo.WorkflowRun) any { return r.Error }},
		{"elapsed_time", kFloat, func(r *repo.WorkflowRun) any { return r.ElapsedTime }},
		{"total_tokens", kInt, func(r *repo.WorkflowRun) any { return r.TotalTokens }},
		{"total_steps", kInt, func(r *repo.WorkflowRun) any { return r.TotalSteps }},
		{"exceptions_count", kInt, func(r *repo.WorkflowRun) any { return r.ExceptionsCount }},
		{"created_by_role", kText, func(r *repo.WorkflowRun) any { return r.CreatedByRole }},
		{"created_by", kText, func(r *repo.WorkflowRun) any { return r.CreatedBy }},
		{"session_id", kText, func(r *repo.WorkflowRun) any { return r.SessionID }},
		{"created_at", kTime, func(r *repo.WorkflowRun) any { return r.CreatedAt }},
		{"finished_at", kTimeNull, func(r *repo.WorkflowRun) any { return r.FinishedAt }},
		{"seq", kInt, func(r *repo.WorkflowRun) any { return r.Seq }},
		{"instance_id", kUUIDNull, func(r *repo.WorkflowRun) any { return r.InstanceID }},
	},
	identity: []string{"app_id"},
	rank:     rankByStatusSeq,
	day:      func(r *repo.WorkflowRun) time.Time { return Day(r.ID, r.CreatedAt) },
}

func scanRunFields(row pgx.CollectableRow, extra ...any) (*repo.WorkflowRun, error) {
	var r repo.WorkflowRun
	var status string
	var finished *time.Time
	var instance *string
	dest := append(extra,
		&r.ID, &r.TenantID, &r.AppID, &r.WorkflowID, &r.Type, &r.TriggeredFrom, &r.Version,
		&r.Graph, &r.Inputs, &status, &r.Outputs, &r.Error, &r.ElapsedTime, &r.TotalTokens,
		&r.TotalSteps, &r.ExceptionsCount, &r.CreatedByRole, &r.CreatedBy, &r.SessionID,
		&r.CreatedAt, &finished, &r.Seq, &instance)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if instance != nil {
		r.InstanceID = *instance
	}
	r.Status = repo.Status(status)
	r.CreatedAt, r.FinishedAt = r.CreatedAt.UTC(), fromTimePtr(finished)
	return &r, nil
}

func scanRun(row pgx.CollectableRow) (*repo.WorkflowRun, error) { return scanRunFields(row) }

var nodeTable = table[*repo.NodeExecution]{
	name: "workflow_node_executions",
	cols: []column[*repo.NodeExecution]{
		{"id", kUUID, func(n *repo.NodeExecution) any { return n.ID }},
		{"tenant_id", kText, func(n *repo.NodeExecution) any { return n.TenantID }},
		{"app_id", kText, func(n *repo.NodeExecution) any { return n.AppID }},
		{"workflow_id", kText, func(n *repo.NodeExecution) any { return n.WorkflowID }},
		{"triggered_from", kText, func(n *repo.NodeExecution) any { return n.TriggeredFrom }},
		{"workflow_run_id", kUUID, func(n *repo.NodeExecution) any { return n.WorkflowRunID }},
		{"index", kInt, func(n *repo.NodeExecution) any { return n.Index }},
		{"predecessor_node_id", kText, func(n *repo.NodeExecution) any { return n.PredecessorNodeID }},
		{"node_id", kText, func(n *repo.NodeExecution) any { return n.NodeID }},
		{"node_type", kText, func(n *repo.NodeExecution) any { return n.NodeType }},
		{"title", kText, func(n *repo.NodeExecution) any { return n.Title }},
		{"inputs", kJSON, func(n *repo.NodeExecution) any { return n.Inputs }},
		{"process_data", kJSON, func(n *repo.NodeExecution) any { return n.ProcessData }},
		{"outputs", kJSON, func(n *repo.NodeExecution) any { return n.Outputs }},
		{"status", kText, func(n *repo.NodeExecution) any { return string(n.Status) }},
		{"error", kText, func(n *repo.NodeExecution) any { return n.Error }},
		{"elapsed_time", kFloat, func(n *repo.NodeExecution) any { return n.ElapsedTime }},
		{"execution_metadata", kJSON, func(n *repo.NodeExecution) any { return n.Metadata }},
		{"iteration_id", kText, func(n *repo.NodeExecution) any { return n.IterationID }},
		{"loop_id", kText, func(n *repo.NodeExecution) any { return n.LoopID }},
		{"created_by_role", kText, func(n *repo.NodeExecution) any { return n.CreatedByRole }},
		{"created_by", kText, func(n *repo.NodeExecution) any { return n.CreatedBy }},
		{"created_at", kTime, func(n *repo.NodeExecution) any { return n.CreatedAt }},
		{"finished_at", kTimeNull, func(n *repo.NodeExecution) any { return n.FinishedAt }},
		{"seq", kInt, func(n *repo.NodeExecution) any { return n.Seq }},
	},
	identity: []string{"app_id", "workflow_run_id"},
	rank:     rankByStatusSeq,
	day:      func(n *repo.NodeExecution) time.Time { return Day(n.WorkflowRunID, n.CreatedAt) },
}

func scanNode(row pgx.CollectableRow) (*repo.NodeExecution, error) {
	var n repo.NodeExecution
	var status string
	var finished *time.Time
	if err := row.Scan(&n.ID, &n.TenantID, &n.AppID, &n.WorkflowID, &n.TriggeredFrom, &n.WorkflowRunID,
		&n.Index, &n.PredecessorNodeID, &n.NodeID, &n.NodeType, &n.Title, &n.Inputs, &n.ProcessData,
		&n.Outputs, &status, &n.Error, &n.ElapsedTime, &n.Metadata, &n.IterationID, &n.LoopID,
		&n.CreatedByRole, &n.CreatedBy, &n.CreatedAt, &finished, &n.Seq); err != nil {
		return nil, err
	}
	n.Status = repo.Status(status)
	n.CreatedAt, n.FinishedAt = n.CreatedAt.UTC(), fromTimePtr(finished)
	return &n, nil
}

var logTable = table[*repo.AppLog]{
	name: "workflow_app_logs",
	cols: []column[*repo.AppLog]{
		{"id", kUUID, func(l *repo.AppLog) any { return l.ID }},
		{"tenant_id", kText, func(l *repo.AppLog) any { return l.TenantID }},
		{"app_id", kText, func(l *repo.AppLog) any { return l.AppID }},
		{"workflow_id", kText, func(l *repo.AppLog) any { return l.WorkflowID }},
		{"workflow_run_id", kUUID, func(l *repo.AppLog) any { return l.WorkflowRunID }},
		{"created_from", kText, func(l *repo.AppLog) any { return l.CreatedFrom }},
		{"created_by_role", kText, func(l *repo.AppLog) any { return l.CreatedByRole }},
		{"created_by", kText, func(l *repo.AppLog) any { return l.CreatedBy }},
		{"session_id", kText, func(l *repo.AppLog) any { return l.SessionID }},
		{"created_at", kTime, func(l *repo.AppLog) any { return l.CreatedAt }},
		{"seq", kInt, func(l *repo.AppLog) any { return l.Seq }},
	},
	identity: []string{"app_id", "workflow_run_id"},
	rank:     `EXCLUDED.seq > t.seq`,
	day:      func(l *repo.AppLog) time.Time { return Day(l.WorkflowRunID, l.CreatedAt) },
}

// scanItem reads an app log, whether its run was found, and the run's
// columns (see joinedColumns).
func scanItem(row pgx.CollectableRow) (*repo.RunListItem, error) {
	var l repo.AppLog
	var hasRun bool
	r, err := scanRunFields(row, &l.ID, &l.TenantID, &l.AppID, &l.WorkflowID, &l.WorkflowRunID, &l.CreatedFrom,
		&l.CreatedByRole, &l.CreatedBy, &l.SessionID, &l.CreatedAt, &l.Seq, &hasRun)
	if err != nil {
		return nil, err
	}
	l.CreatedAt = l.CreatedAt.UTC()
	it := &repo.RunListItem{Log: &l}
	if hasRun {
		it.Run = r
	}
	return it, nil
}

// joinedColumns selects tb's columns from alias, outer-joined: NOT NULL
// columns are coalesced to a zero value so that a missing row scans into
// the same destinations as a present one.
func (tb table[T]) joinedColumns(alias string) string {
	var out []string
	for _, c := range tb.cols {
		q := alias + `."` + c.name + `"`
		switch c.kind {
		case kText:
			q = "COALESCE(" + q + ", '')"
		case kUUID:
			q = "COALESCE(" + q + "::text, '')"
		case kFloat, kInt:
			q = "COALESCE(" + q + ", 0)"
		case kTime:
			q = "COALESCE(" + q + ", 'epoch')"
		case kBool:
			q = "COALESCE(" + q + ", false)"
		}
		out = append(out, q)
	}
	return strings.Join(out, ", ")
}

// sanitizeText makes s storable in a text column: PostgreSQL rejects NUL
// characters and invalid UTF-8.
func sanitizeText(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// sanitizeJSON makes raw (valid JSON) storable as jsonb, which rejects the
// escape \u0000 and invalid UTF-8.
func sanitizeJSON(raw json.RawMessage) []byte {
	if !utf8.Valid(raw) {
		raw = bytes.ToValidUTF8(raw, []byte("\uFFFD"))
	}
	if !bytes.Contains(raw, []byte(`\u0000`)) {
		return raw
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' || i+1 >= len(raw) {
			out = append(out, c)
			continue
		}
		// An escape: copy it whole, so that `\\u0000` (an escaped backslash
		// followed by text) stays as it is.
		if raw[i+1] == 'u' && i+6 <= len(raw) && string(raw[i+2:i+6]) == "0000" {
			out = append(out, `\ufffd`...)
			i += 5
			continue
		}
		out = append(out, c, raw[i+1])
		i++
	}
	return out
}

var (
	upsertRuns  = runTable.upsert()
	upsertNodes = nodeTable.upsert()
	upsertLogs  = logTable.upsert()
	copyNodes   = nodeTable.copyStmt()
	copyLogs    = logTable.copyStmt()

	runColumns       = runTable.columns()
	joinedRunColumns = runTable.joinedColumns("r")
	nodeColumns      = nodeTable.columns()
	logColumns       = prefixed("l.", logTable.columns())
)

func runArgs(rs []*repo.WorkflowRun) []any    { return runTable.args(rs) }
func nodeArgs(ns []*repo.NodeExecution) []any { return nodeTable.args(ns) }
func logArgs(ls []*repo.AppLog) []any         { return logTable.args(ls) }
