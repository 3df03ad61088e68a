package sql

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/flowrun/flowrun/internal/repo"
)

var _ repo.ChatReader = (*Store)(nil)

// Every read is one round trip: a single statement, or the statements of
// one pgx batch. Conversations are visible to their app and user when
// neither deleted nor pending.

// visibleConv selects conversation $1 of app $2 and user $3.
const visibleConv = `SELECT 1 FROM conversations WHERE id = $1 AND app_id = $2 AND session_id = $3 AND NOT is_deleted AND NOT pending`

// The columns readers select, in the order their scan functions read.
var (
	convColumns     = `id, app_id, session_id, name, inputs, introduction, status, created_at, updated_at, is_deleted, seq`
	msgColumns      = msgTable.columns()
	feedbackColumns = feedbackTable.columns()
	varColumns      = varTable.columns()
)

// scanConvFields scans a conversation, then extra columns.
func scanConvFields(row pgx.CollectableRow, extra ...any) (*repo.Conversation, error) {
	var c repo.Conversation
	dest := append([]any{&c.ID, &c.AppID, &c.User, &c.Name, &c.Inputs, &c.Introduction, &c.Status,
		&c.CreatedAt, &c.UpdatedAt, &c.Deleted, &c.Seq}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return &c, nil
}

func scanConv(row pgx.CollectableRow) (*repo.Conversation, error) { return scanConvFields(row) }

func scanMsgFields(row pgx.CollectableRow, extra ...any) (*repo.Message, error) {
	var m repo.Message
	var run *string
	dest := append([]any{&m.ID, &m.AppID, &m.ConversationID, &m.User, &run, &m.Inputs, &m.Query, &m.Answer,
		&m.Status, &m.Error, &m.Metadata, &m.Files, &m.MessageTokens, &m.AnswerTokens, &m.TotalPrice,
		&m.Currency, &m.Latency, &m.CreatedAt, &m.UpdatedAt, &m.Seq}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if run != nil {
		m.WorkflowRunID = *run
	}
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	return &m, nil
}

func scanMsg(row pgx.CollectableRow) (*repo.Message, error) { return scanMsgFields(row) }

// feedbackDest returns the scan destinations of feedbackColumns.
func feedbackDest(f *repo.Feedback) []any {
	return []any{&f.ID, &f.AppID, &f.ConversationID, &f.MessageID, &f.User, &f.Rating, &f.Content,
		&f.FromSource, &f.CreatedAt, &f.UpdatedAt, &f.Deleted, &f.Seq}
}

func scanFeedback(row pgx.CollectableRow) (*repo.Feedback, error) {
	var f repo.Feedback
	if err := row.Scan(feedbackDest(&f)...); err != nil {
		return nil, err
	}
	f.CreatedAt, f.UpdatedAt = f.CreatedAt.UTC(), f.UpdatedAt.UTC()
	return &f, nil
}

func scanVar(row pgx.CollectableRow) (*repo.ConversationVariable, error) {
	var v repo.ConversationVariable
	if err := row.Scan(&v.ID, &v.ConversationID, &v.AppID, &v.Name, &v.ValueType, &v.Description,
		&v.Value, &v.CreatedAt, &v.UpdatedAt, &v.Seq); err != nil {
		return nil, err
	}
	v.CreatedAt, v.UpdatedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC()
	return &v, nil
}

// notFound is ErrNotFound for what, an id.
func notFound(what, id string) error { return fmt.Errorf("%s %s: %w", what, id, repo.ErrNotFound) }

// read sends batch, one round trip, wrapping its error.
func (s *Store) read(ctx context.Context, batch *pgx.Batch, what string) error {
	if err := s.db.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("%s: %w", what, interpretError(err))
	}
	return nil
}

// queueExists queues a query of one boolean into found.
func queueExists(batch *pgx.Batch, found *bool, query string, args ...any) {
	batch.Queue(`SELECT EXISTS (`+query+`)`, args...).QueryRow(func(row pgx.Row) error { return row.Scan(found) })
}

// Turn implements repo.ChatReader: the conversation with its message
// count, the last messages and the variables, in one round trip.
func (s *Store) Turn(ctx context.Context, p *repo.TurnParams) (*repo.Turn, error) {
	if !repo.ValidUUID(p.ConversationID) {
		return nil, notFound("conversation", p.ConversationID)
	}
	id := repo.NormalizeUUID(p.ConversationID)
	t := &repo.Turn{}
	batch := &pgx.Batch{}
	batch.Queue(`SELECT `+prefixed("c.", convColumns)+`, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)
FROM conversations c WHERE c.id = $1 AND c.app_id = $2 AND c.session_id = $3 AND NOT c.is_deleted AND NOT c.pending`,
		id, p.AppID, p.User).Query(func(rows pgx.Rows) error {
		var err error
		t.Conversation, err = pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (*repo.Conversation, error) {
			return scanConvFields(row, &t.Messages)
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if p.History > 0 {
		batch.Queue(`SELECT `+msgColumns+` FROM messages WHERE conversation_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
			id, p.History).Query(func(rows pgx.Rows) error {
			var err error
			t.History, err = pgx.CollectRows(rows, scanMsg)
			slices.Reverse(t.History)
			return err
		})
	}
	batch.Queue(`SELECT `+varColumns+` FROM workflow_conversation_variables WHERE conversation_id = $1 ORDER BY created_at, id`, id).
		Query(func(rows pgx.Rows) error {
			var err error
			t.Variables, err = pgx.CollectRows(rows, scanVar)
			return err
		})
	if err := s.read(ctx, batch, "turn of conversation "+id); err != nil {
		return nil, err
	}
	if t.Conversation == nil {
		return nil, notFound("conversation", id)
	}
	return t, nil
}

// ConversationGet implements repo.ChatReader.
func (s *Store) ConversationGet(ctx context.Context, appID, user, id string) (*repo.Conversation, error) {
	if !repo.ValidUUID(id) {
		return nil, notFound("conversation", id)
	}
	rows, err := s.db.Query(ctx, `SELECT `+convColumns+` FROM conversations
WHERE id = $1 AND app_id = $2 AND session_id = $3 AND NOT is_deleted AND NOT pending`, repo.NormalizeUUID(id), appID, user)
	if err != nil {
		return nil, fmt.Errorf("get conversation %s: %w", id, interpretError(err))
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanConv)
	if err != nil {
		return nil, fmt.Errorf("get conversation %s: %w", id, interpretError(err))
	}
	return c, nil
}

// ConversationList implements repo.ChatReader: one statement for the
// page and whether a conversation sorts strictly beyond its last, plus,
// with LastID, whether that conversation is visible.
func (s *Store) ConversationList(ctx context.Context, p *repo.ConversationListParams) (*repo.ConversationListResult, error) {
	_, desc, err := repo.ConversationSort(p.SortBy)
	if err != nil {
		return nil, err
	}
	limit, err := repo.PageLimit(p.Limit)
	if err != nil {
		return nil, err
	}
	key := "updated_at"
	if p.SortBy == repo.SortCreatedAsc || p.SortBy == repo.SortCreatedDesc {
		key = "created_at"
	}
	dir, beyond, edge := "ASC", ">", "max"
	if desc {
		dir, beyond, edge = "DESC", "<", "min"
	}
	const mine = `app_id = $1 AND session_id = $2 AND NOT is_deleted AND NOT pending`
	args := []any{p.AppID, p.User, limit}
	after := ""
	batch := &pgx.Batch{}
	lastFound := true
	if p.LastID != "" {
		if !repo.ValidUUID(p.LastID) {
			return nil, notFound("last conversation", p.LastID)
		}
		args = append(args, repo.NormalizeUUID(p.LastID))
		after = fmt.Sprintf(` AND %[1]s %[2]s (SELECT %[1]s FROM conversations WHERE id = $4 AND %[3]s)`, key, beyond, mine)
		queueExists(batch, &lastFound, `SELECT 1 FROM conversations WHERE id = $1 AND app_id = $2 AND session_id = $3 AND NOT is_deleted AND NOT pending`,
			args[3], p.AppID, p.User)
	}
	res := &repo.ConversationListResult{Items: []*repo.Conversation{}}
	batch.Queue(fmt.Sprintf(`WITH page AS (
	SELECT %[1]s FROM conversations WHERE %[2]s%[3]s ORDER BY %[4]s %[5]s, id %[5]s LIMIT $3
)
SELECT page.*, EXISTS (SELECT 1 FROM conversations WHERE %[2]s AND %[4]s %[6]s (SELECT %[7]s(%[4]s) FROM page))
FROM page ORDER BY %[4]s %[5]s, id %[5]s`, convColumns, mine, after, key, dir, beyond, edge), args...).
		Query(func(rows pgx.Rows) error {
			var err error
			res.Items, err = pgx.AppendRows(res.Items, rows, func(row pgx.CollectableRow) (*repo.Conversation, error) {
				return scanConvFields(row, &res.HasMore)
			})
			return err
		})
	if err := s.read(ctx, batch, "list conversations of app "+p.AppID); err != nil {
		return nil, err
	}
	if !lastFound {
		return nil, notFound("last conversation", p.LastID)
	}
	return res, nil
}

// MessageList implements repo.ChatReader: one statement for the page,
// each message with the user's feedback, and one for whether the
// conversation (and FirstID in it) exists.
func (s *Store) MessageList(ctx context.Context, p *repo.MessageListParams) (*repo.MessageListResult, error) {
	limit, err := repo.PageLimit(p.Limit)
	if err != nil {
		return nil, err
	}
	if !repo.ValidUUID(p.ConversationID) {
		return nil, notFound("conversation", p.ConversationID)
	}
	if p.FirstID != "" && !repo.ValidUUID(p.FirstID) {
		return nil, notFound("first message", p.FirstID)
	}
	id := repo.NormalizeUUID(p.ConversationID)
	args := []any{id, p.User, limit + 1}
	before := ""
	batch := &pgx.Batch{}
	var convFound bool
	firstFound := true
	queueExists(batch, &convFound, visibleConv, id, p.AppID, p.User)
	if p.FirstID != "" {
		args = append(args, repo.NormalizeUUID(p.FirstID))
		before = ` AND created_at < (SELECT created_at FROM messages WHERE id = $4 AND conversation_id = $1)`
		queueExists(batch, &firstFound, `SELECT 1 FROM messages WHERE id = $1 AND conversation_id = $2`, args[3], id)
	}
	res := &repo.MessageListResult{Items: []*repo.Message{}}
	batch.Queue(`SELECT `+prefixed("m.", msgColumns)+`, f.id IS NOT NULL, `+feedbackTable.joinedColumns("f")+`
FROM (SELECT * FROM messages WHERE conversation_id = $1`+before+` ORDER BY created_at DESC, id DESC LIMIT $3) m
LEFT JOIN LATERAL (
	SELECT * FROM message_feedbacks f WHERE f.message_id = m.id AND f.session_id = $2 AND NOT f.is_deleted
	ORDER BY f.seq DESC, f.id DESC LIMIT 1
) f ON true
ORDER BY m.created_at DESC, m.id DESC`, args...).Query(func(rows pgx.Rows) error {
		var err error
		res.Items, err = pgx.AppendRows(res.Items, rows, func(row pgx.CollectableRow) (*repo.Message, error) {
			var f repo.Feedback
			var rated bool
			m, err := scanMsgFields(row, append([]any{&rated}, feedbackDest(&f)...)...)
			if err == nil && rated {
				if res.Feedbacks == nil {
					res.Feedbacks = map[string]*repo.Feedback{}
				}
				f.CreatedAt, f.UpdatedAt = f.CreatedAt.UTC(), f.UpdatedAt.UTC()
				res.Feedbacks[m.ID] = &f
			}
			return m, err
		})
		return err
	})
	if err := s.read(ctx, batch, "list messages of conversation "+id); err != nil {
		return nil, err
	}
	switch {
	case !convFound:
		return nil, notFound("conversation", id)
	case !firstFound:
		return nil, notFound("first message", p.FirstID)
	}
	if len(res.Items) > limit {
		// The extra, oldest message only tells that there are more.
		m := res.Items[limit]
		delete(res.Feedbacks, m.ID)
		res.Items, res.HasMore = res.Items[:limit], true
	}
	slices.Reverse(res.Items)
	return res, nil
}

// MessageGet implements repo.ChatReader.
func (s *Store) MessageGet(ctx context.Context, appID, user, id string) (*repo.Message, error) {
	if !repo.ValidUUID(id) {
		return nil, notFound("message", id)
	}
	rows, err := s.db.Query(ctx, `SELECT `+prefixed("m.", msgColumns)+` FROM messages m JOIN conversations c ON c.id = m.conversation_id
WHERE m.id = $1 AND c.app_id = $2 AND c.session_id = $3 AND NOT c.is_deleted AND NOT c.pending`, repo.NormalizeUUID(id), appID, user)
	if err != nil {
		return nil, fmt.Errorf("get message %s: %w", id, interpretError(err))
	}
	m, err := pgx.CollectExactlyOneRow(rows, scanMsg)
	if err != nil {
		return nil, fmt.Errorf("get message %s: %w", id, interpretError(err))
	}
	return m, nil
}

// VariableList implements repo.ChatReader.
func (s *Store) VariableList(ctx context.Context, p *repo.VariableListParams) (*repo.VariableListResult, error) {
	limit, err := repo.PageLimit(p.Limit)
	if err != nil {
		return nil, err
	}
	if !repo.ValidUUID(p.ConversationID) {
		return nil, notFound("conversation", p.ConversationID)
	}
	id := repo.NormalizeUUID(p.ConversationID)
	// $1 the conversation, $2 the limit or LastID, $3 the name pattern.
	args, lastArgs := []any{id, limit + 1}, []any{id, p.LastID}
	named := ""
	if p.Name != "" {
		pattern := "%" + likeEscaper.Replace(p.Name) + "%"
		args, lastArgs = append(args, pattern), append(lastArgs, pattern)
		named = " AND name ILIKE $3"
	}
	batch := &pgx.Batch{}
	var convFound bool
	lastFound := true
	queueExists(batch, &convFound, visibleConv, id, p.AppID, p.User)
	after := ""
	if p.LastID != "" {
		args = append(args, p.LastID)
		after = fmt.Sprintf(` AND created_at > (SELECT created_at FROM workflow_conversation_variables WHERE conversation_id = $1 AND id = $%d%s)`, len(args), named)
		queueExists(batch, &lastFound, `SELECT 1 FROM workflow_conversation_variables WHERE conversation_id = $1 AND id = $2`+named, lastArgs...)
	}
	res := &repo.VariableListResult{Items: []*repo.ConversationVariable{}}
	batch.Queue(`SELECT `+varColumns+` FROM workflow_conversation_variables WHERE conversation_id = $1`+named+after+
		` ORDER BY created_at, id LIMIT $2`, args...).Query(func(rows pgx.Rows) error {
		var err error
		res.Items, err = pgx.AppendRows(res.Items, rows, scanVar)
		return err
	})
	if err := s.read(ctx, batch, "list variables of conversation "+id); err != nil {
		return nil, err
	}
	switch {
	case !convFound:
		return nil, notFound("conversation", id)
	case !lastFound:
		return nil, notFound("last variable", p.LastID)
	}
	if len(res.Items) > limit {
		res.Items, res.HasMore = res.Items[:limit], true
	}
	return res, nil
}

// FeedbackList implements repo.ChatReader.
func (s *Store) FeedbackList(ctx context.Context, p *repo.FeedbackListParams) ([]*repo.Feedback, error) {
	limit, err := repo.PageLimit(p.Limit)
	if err != nil {
		return nil, err
	}
	if p.Page < 0 {
		return nil, fmt.Errorf("page %d: %w", p.Page, repo.ErrInvalid)
	}
	offset := (int64(max(p.Page, 1)) - 1) * int64(limit)
	rows, err := s.db.Query(ctx, `SELECT `+feedbackColumns+` FROM message_feedbacks WHERE app_id = $1 AND NOT is_deleted
ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`, p.AppID, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("list feedback of app %s: %w", p.AppID, interpretError(err))
	}
	fs, err := pgx.CollectRows(rows, scanFeedback)
	if err != nil {
		return nil, fmt.Errorf("list feedback of app %s: %w", p.AppID, interpretError(err))
	}
	if fs == nil {
		fs = []*repo.Feedback{}
	}
	return fs, nil
}
