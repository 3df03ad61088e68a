// Package sql is the PostgreSQL repo.Store (pgx v5), for the sync mode: Write
// returns once the batch is committed.
//
// A batch is written in one round trip: one multi-row upsert per table
// (rows passed as arrays and unnested, so the statement text, and the
// prepared statement, is the same whatever the row count), sent as one pgx
// batch, which PostgreSQL runs as one implicit transaction. Each upsert is
// guarded (see repo.Supersedes and migrations/001_records.up.sql): a row is
// replaced only by a version that ranks higher, so writes are idempotent and
// order-independent, and at-least-once delivery of the same batches through
// the same SQL converges. Rows are written in id order, table by table, so
// concurrent batches lock rows in one global order and cannot deadlock each
// other. The persister's variant (InsertFirst) copies node executions and
// app logs in, in the same order, and upserts only when one exists. Chat
// records (chat.go) are always upserted, after the run records, in the
// same transaction.
//
// PostgreSQL cannot store NUL characters in text or jsonb, nor invalid
// UTF-8; Write replaces them with U+FFFD rather than losing the batch.
//
// Import it as reposql where database/sql is also in scope.
package sql

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowrun/flowrun/internal/pgerr"
	"github.com/flowrun/flowrun/internal/repo"
)

// DB is what the store needs from pgx; *pgxpool.Pool implements it (and so
// do *pgx.Conn and pgx.Tx, for callers that serialise access themselves).
type DB interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Store is a repo.Store on PostgreSQL, with the schema of package migrations
// applied. It is safe for concurrent use when its DB is (a pool).
type Store struct {
	db          DB
	insertFirst bool
	users       *userSet // end users known to be in end_users
}

var _ repo.Store = (*Store)(nil)

// Option tunes a Store.
type Option func(*Store)

// InsertFirst makes Write copy node executions and app logs in (COPY, in
// the batch's transaction, after the runs' upsert), and write the batch
// again with the guarded upserts only if one of them already exists
// (unique_violation on its primary key). Use it where those records
// usually arrive once each, as at the async persister (the api writes a
// node execution only when it has finished): COPY spares PostgreSQL the
// upsert's per-row work. Run records are always upserted (a run's start
// and end versions may travel in different batches), and so are chat
// records (their versions change and any may arrive first); the outcome
// is the same either way. A batch then takes five round trips (BEGIN, the
// runs, two COPYs, COMMIT), six with chat records, instead of one.
func InsertFirst() Option { return func(s *Store) { s.insertFirst = true } }

// New returns a store that uses db.
func New(db DB, opts ...Option) *Store {
	s := &Store{db: db, users: &userSet{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// maxAttempts bounds retries of a batch that lost a deadlock or serialization
// race with another transaction; retrying is safe because writes are
// idempotent.
const maxAttempts = 3

// Write implements repo.Writer.
func (s *Store) Write(ctx context.Context, b *repo.Batch) error {
	b, err := b.Prepare()
	if err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	slices.SortFunc(b.Runs, func(x, y *repo.WorkflowRun) int { return strings.Compare(x.ID, y.ID) })
	slices.SortFunc(b.NodeExecutions, func(x, y *repo.NodeExecution) int { return strings.Compare(x.ID, y.ID) })
	slices.SortFunc(b.AppLogs, func(x, y *repo.AppLog) int { return strings.Compare(x.ID, y.ID) })
	insert := s.insertFirst && len(b.NodeExecutions)+len(b.AppLogs) > 0
	users := s.users.unknown(b.EndUsers())
	if insert {
		err = s.retry(ctx, func() error { return s.copyIn(ctx, b, users) })
	} else {
		err = s.send(ctx, b, users)
	}
	if insert && existed(err) {
		// A node execution or app log was there already (a batch
		// delivered again, or a long run's): upsert instead.
		err = s.send(ctx, b, users)
	}
	if err != nil {
		return fmt.Errorf("write %d records: %w", b.Len(), interpretError(err))
	}
	s.users.add(users)
	return nil
}

// send writes the batch with the guarded upserts, table by table, each in
// id order (b's records are sorted), in one round trip.
func (s *Store) send(ctx context.Context, b *repo.Batch, users []*repo.EndUser) error {
	batch := &pgx.Batch{}
	if len(b.Runs) > 0 {
		batch.Queue(upsertRuns, runArgs(b.Runs)...)
	}
	if len(b.NodeExecutions) > 0 {
		batch.Queue(upsertNodes, nodeArgs(b.NodeExecutions)...)
	}
	if len(b.AppLogs) > 0 {
		batch.Queue(upsertLogs, logArgs(b.AppLogs)...)
		queueEndUsers(batch, users)
	}
	if late := lateArgs(b, time.Now()); late != nil {
		batch.Queue(recountLate, late...)
	}
	queueChat(batch, b)
	return s.retry(ctx, func() error { return s.sendBatch(ctx, batch) })
}

// copyIn writes the batch in one transaction: runs with the guarded
// upsert, node executions and app logs with a binary COPY (see copyData),
// which fails with unique_violation if any of them exists, then the chat
// records with their guarded upserts (one more round trip). COPY spares
// PostgreSQL the per-row work of an INSERT fed by arrays (decoding them,
// casting, sorting, one heap and WAL insertion per row): it reads binary
// rows and inserts them in multi-row groups.
func (s *Store) copyIn(ctx context.Context, b *repo.Batch, users []*repo.EndUser) error {
	nodes, err := nodeTable.copyData(b.NodeExecutions)
	if err != nil {
		return err
	}
	logs, err := logTable.copyData(b.AppLogs)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if len(b.Runs) > 0 {
			if _, err := tx.Exec(ctx, upsertRuns, runArgs(b.Runs)...); err != nil {
				return err
			}
		}
		pg := tx.Conn().PgConn()
		if len(b.NodeExecutions) > 0 {
			if _, err := pg.CopyFrom(ctx, bytes.NewReader(nodes), copyNodes); err != nil {
				return err
			}
		}
		if len(b.AppLogs) > 0 {
			if _, err := pg.CopyFrom(ctx, bytes.NewReader(logs), copyLogs); err != nil {
				return err
			}
		}
		chat := &pgx.Batch{}
		queueEndUsers(chat, users)
		if late := lateArgs(b, time.Now()); late != nil {
			chat.Queue(recountLate, late...)
		}
		if queueChat(chat, b); chat.Len() > 0 {
			return tx.SendBatch(ctx, chat).Close()
		}
		return nil
	})
}

// existed reports a plain INSERT's unique_violation on a primary key (and
// not flowrun_conflict's, which names no constraint).
func existed(err error) bool {
	return pgerr.Classify(err) == pgerr.Unique && strings.HasSuffix(pgerr.Constraint(err), "_pkey")
}

// retry runs write, again (up to maxAttempts in all) while it loses a
// deadlock or serialization race.
func (s *Store) retry(ctx context.Context, write func() error) error {
	for attempt := 1; ; attempt++ {
		err := write()
		if err == nil || attempt == maxAttempts || !retryable(err) || ctx.Err() != nil {
			return err
		}
	}
}

func (s *Store) sendBatch(ctx context.Context, batch *pgx.Batch) error {
	br := s.db.SendBatch(ctx, batch)
	for range batch.QueuedQueries {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return err
		}
	}
	return br.Close()
}

func retryable(err error) bool { return pgerr.Classify(err) == pgerr.Retry }

// RunGet implements repo.Reader.
func (s *Store) RunGet(ctx context.Context, p *repo.RunGetParams) (*repo.WorkflowRun, error) {
	if !repo.ValidUUID(p.RunID) {
		return nil, fmt.Errorf("run %q: %w", p.RunID, repo.ErrNotFound)
	}
	rows, err := s.db.Query(ctx, `SELECT `+runColumns+` FROM workflow_runs WHERE id = $1 AND app_id = $2`+onDay(p.RunID, 3), p.RunID, p.AppID, dayArg(p.RunID))
	if err != nil {
		return nil, fmt.Errorf("get run %s: %w", p.RunID, interpretError(err))
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRun)
	if err != nil {
		return nil, fmt.Errorf("get run %s: %w", p.RunID, interpretError(err))
	}
	return r, nil
}

// NodeExecutionList implements repo.Reader.
func (s *Store) NodeExecutionList(ctx context.Context, p *repo.NodeExecutionListParams) ([]*repo.NodeExecution, error) {
	if !repo.ValidUUID(p.RunID) {
		return nil, fmt.Errorf("run %q: %w", p.RunID, repo.ErrNotFound)
	}
	// The run check and the list go in one round trip.
	batch := &pgx.Batch{}
	var exists bool
	batch.Queue(`SELECT EXISTS (SELECT 1 FROM workflow_runs WHERE id = $1 AND app_id = $2`+onDay(p.RunID, 3)+`)`, p.RunID, p.AppID, dayArg(p.RunID)).
		QueryRow(func(row pgx.Row) error { return row.Scan(&exists) })
	var nodes []*repo.NodeExecution
	batch.Queue(`SELECT `+nodeColumns+` FROM workflow_node_executions WHERE workflow_run_id = $1`+onDay(p.RunID, 2)+` ORDER BY index, created_at, id`, p.RunID, dayArg(p.RunID)).
		Query(func(rows pgx.Rows) error {
			var err error
			nodes, err = pgx.CollectRows(rows, scanNode)
			return err
		})
	if err := s.db.SendBatch(ctx, batch).Close(); err != nil {
		return nil, fmt.Errorf("list node executions of run %s: %w", p.RunID, interpretError(err))
	}
	if !exists {
		return nil, fmt.Errorf("run %s: %w", p.RunID, repo.ErrNotFound)
	}
	if nodes == nil {
		nodes = []*repo.NodeExecution{}
	}
	return nodes, nil
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// RunList implements repo.Reader.
func (s *Store) RunList(ctx context.Context, p *repo.RunListParams) (*repo.RunListResult, error) {
	if p.Page < 0 || p.Limit < 0 {
		return nil, fmt.Errorf("page %d, limit %d: %w", p.Page, p.Limit, repo.ErrInvalid)
	}
	res := &repo.RunListResult{Page: p.Page, Limit: p.Limit}
	if res.Page == 0 {
		res.Page = repo.DefaultPage
	}
	if res.Limit == 0 {
		res.Limit = repo.DefaultLimit
	}

	if byStatus(p) {
		if err := s.statusList(ctx, p, res); err != nil {
			return nil, fmt.Errorf("list runs of app %s: %w", p.AppID, interpretError(err))
		}
		res.HasMore = res.Total > int64(res.Page)*int64(res.Limit)
		return res, nil
	}

	// Filters are added only when set, so the planner sees simple
	// predicates that the (app_id, created_at) and (app_id, session_id,
	// created_at) indexes serve.
	args := []any{p.AppID}
	where := []string{"l.app_id = $1"}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if p.SessionID != "" {
		where = append(where, "l.session_id = "+arg(p.SessionID))
	}
	// A log's day is its run id's, made within milliseconds of its
	// created_at, or created_at's own (see Day): a day either side of
	// the bounds prunes the partitions no log in them can be in.
	if !p.CreatedBefore.IsZero() {
		where = append(where, "l.created_at <= "+arg(p.CreatedBefore), "l.day <= "+arg(dayString(p.CreatedBefore, 1))+"::date")
	}
	if !p.CreatedAfter.IsZero() {
		where = append(where, "l.created_at >= "+arg(p.CreatedAfter), "l.day >= "+arg(dayString(p.CreatedAfter, -1))+"::date")
	}
	// joined tells whether a filter reads the run: the count then needs
	// the join, which otherwise cannot change it (a log matches at most
	// one run, by primary key) and costs a lookup per log.
	joined := p.Status != "" || p.Keyword != ""
	if p.Status != "" {
		where = append(where, "r.status = "+arg(string(p.Status)))
	}
	if p.Keyword != "" {
		kw := []rune(p.Keyword)
		if len(kw) > repo.KeywordMaxLen {
			kw = kw[:repo.KeywordMaxLen]
		}
		like := arg("%" + likeEscaper.Replace(string(kw)) + "%")
		cond := fmt.Sprintf("r.inputs::text ILIKE %[1]s OR r.outputs::text ILIKE %[1]s OR l.session_id ILIKE %[1]s", like)
		if repo.ValidUUID(p.Keyword) {
			cond += " OR r.id = " + arg(p.Keyword) + "::uuid"
		}
		where = append(where, "("+cond+")")
	}
	join := ` LEFT JOIN workflow_runs r ON r.id = l.workflow_run_id AND r.day = l.day AND r.app_id = l.app_id`
	from := ` FROM workflow_app_logs l` + join + ` WHERE ` + joinAnd(where)

	batch := &pgx.Batch{}
	count, countArgs := countSQL(p, where, args, join, joined)
	batch.Queue(count, countArgs...).QueryRow(func(row pgx.Row) error { return row.Scan(&res.Total) })
	pageArgs := append(slices.Clone(args), res.Limit, (int64(res.Page)-1)*int64(res.Limit))
	batch.Queue(`SELECT `+logColumns+`, r.id IS NOT NULL, `+joinedRunColumns+from+
		fmt.Sprintf(` ORDER BY l.created_at DESC, l.id DESC LIMIT $%d OFFSET $%d`, len(args)+1, len(args)+2), pageArgs...).
		Query(func(rows pgx.Rows) error {
			var err error
			res.Items, err = pgx.CollectRows(rows, scanItem)
			return err
		})
	if err := s.db.SendBatch(ctx, batch).Close(); err != nil {
		return nil, fmt.Errorf("list runs of app %s: %w", p.AppID, interpretError(err))
	}
	if res.Items == nil {
		res.Items = []*repo.RunListItem{}
	}
	res.HasMore = res.Total > int64(res.Page)*int64(res.Limit)
	return res, nil
}

// interpretError translates pgx errors into the repo sentinels, keeping the
// original in the chain (internal/pgerr knows the codes).
func interpretError(err error) error {
	switch pgerr.Classify(err) {
	case pgerr.NoRows:
		return fmt.Errorf("%w: %w", repo.ErrNotFound, err)
	case pgerr.Unique: // and flowrun_conflict
		return fmt.Errorf("%w: %w", repo.ErrConflict, err)
	case pgerr.BadValue:
		return fmt.Errorf("%w: %w", repo.ErrInvalid, err)
	case pgerr.Unavailable:
		return fmt.Errorf("%w: %w", repo.ErrUnavailable, err)
	}
	return err
}

// timePtr maps the zero time to NULL.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func fromTimePtr(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}
