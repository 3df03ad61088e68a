package sql

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowrun/flowrun/internal/repo"
)

// Chat records (see repo.Conversation and migrations/005_chat.up.sql) are
// written by guarded upserts too, never copied in, after the run records
// and in the same transaction:
//
//  1. one upsert of every conversation the batch touches: its record, or
//     for a conversation that only its messages, variables or feedback
//     name, a pending row that readers skip until the record replaces it.
//     Either way the row takes the latest CreatedAt of the batch's
//     messages in it (last_message_at, and updated_at: GREATEST, so an
//     older message never moves it back), and is locked: concurrent
//     batches touching a conversation take turns;
//  2. if the batch deletes conversations, one statement deleting what
//     they held;
//  3. one upsert per kind of record in a conversation, skipping those of
//     a deleted conversation.
//
// So a message, variable or feedback of a deleted conversation is never
// stored, in whatever order or concurrency the deletion and it arrive.

// convRow is a row of the conversations upsert: a conversation's record,
// or a pending row for one that only records in it name.
type convRow struct {
	repo.Conversation
	pending bool
	// lastMessage is the latest CreatedAt of the batch's messages in it.
	lastMessage time.Time
}

// wins is the conversations upsert's rank: the new row is a record that
// ranks above the stored one (a pending row ranks below every record).
const convWins = `(NOT EXCLUDED.pending AND (t.pending OR (EXCLUDED.is_deleted, EXCLUDED.seq) > (t.is_deleted, t.seq)))`

var convTable = table[*convRow]{
	name: "conversations",
	cols: []column[*convRow]{
		{"id", kUUID, func(r *convRow) any { return r.ID }},
		{"app_id", kText, func(r *convRow) any { return r.AppID }},
		{"session_id", kText, func(r *convRow) any { return r.User }},
		{"name", kText, func(r *convRow) any { return r.Name }},
		{"inputs", kJSON, func(r *convRow) any { return r.Inputs }},
		{"introduction", kText, func(r *convRow) any { return r.Introduction }},
		{"status", kText, func(r *convRow) any { return r.Status }},
		{"created_at", kTime, func(r *convRow) any { return r.CreatedAt }},
		{"updated_at", kTime, func(r *convRow) any { return r.UpdatedAt }},
		{"is_deleted", kBool, func(r *convRow) any { return r.Deleted }},
		{"seq", kInt, func(r *convRow) any { return r.Seq }},
		{"last_message_at", kTimeNull, func(r *convRow) any { return r.lastMessage }},
		{"pending", kBool, func(r *convRow) any { return r.pending }},
	},
	exprs: map[string]string{"updated_at": `GREATEST(u."updated_at", u."last_message_at")`},
}

// upsertConvs is step 1 (see above). The identity of a pending row is
// provisional: the record replaces it without a conflict.
var upsertConvs = func() string {
	names, rows := convTable.rows()
	var sets []string
	for _, c := range convTable.cols {
		switch q := `"` + c.name + `"`; c.name {
		case "id":
		case "updated_at":
			sets = append(sets, `"updated_at" = CASE WHEN `+convWins+
				` THEN GREATEST(EXCLUDED."updated_at", t."last_message_at") ELSE GREATEST(t."updated_at", EXCLUDED."last_message_at") END`)
		case "last_message_at":
			sets = append(sets, `"last_message_at" = GREATEST(t."last_message_at", EXCLUDED."last_message_at")`)
		default:
			sets = append(sets, fmt.Sprintf(`%[1]s = CASE WHEN %[2]s THEN EXCLUDED.%[1]s ELSE t.%[1]s END`, q, convWins))
		}
	}
	return fmt.Sprintf(`INSERT INTO conversations AS t (%s)
%s
ON CONFLICT (id) DO UPDATE SET %s
WHERE CASE WHEN NOT t.pending AND NOT EXCLUDED.pending AND (t.app_id <> EXCLUDED.app_id OR t.session_id <> EXCLUDED.session_id)
	THEN flowrun_conflict('conversations', t.id)
	ELSE %s OR NOT t.is_deleted AND EXCLUDED.last_message_at > COALESCE(t.last_message_at, '-infinity')
END`, names, rows, strings.Join(sets, ",\n\t"), convWins)
}()

// convRows returns the rows of step 1 for b (prepared), in id order.
func convRows(b *repo.Batch) []*convRow {
	rows := make(map[string]*convRow, len(b.Conversations))
	for _, c := range b.Conversations {
		rows[c.ID] = &convRow{Conversation: *c}
	}
	touch := func(id, appID, user string) *convRow {
		r := rows[id]
		if r == nil {
			r = &convRow{Conversation: repo.Conversation{ID: id, AppID: appID, User: user, Seq: -1}, pending: true}
			rows[id] = r
		}
		return r
	}
	for _, m := range b.Messages {
		if r := touch(m.ConversationID, m.AppID, m.User); m.CreatedAt.After(r.lastMessage) {
			r.lastMessage = m.CreatedAt
		}
	}
	for _, f := range b.Feedbacks {
		touch(f.ConversationID, f.AppID, f.User)
	}
	for _, v := range b.Variables {
		touch(v.ConversationID, v.AppID, "")
	}
	out := make([]*convRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y *convRow) int { return strings.Compare(x.ID, y.ID) })
	return out
}

// deleteHeld is step 2: $1 holds the ids of deleted conversations.
const deleteHeld = `WITH m AS (DELETE FROM messages WHERE conversation_id = ANY($1::uuid[])),
	f AS (DELETE FROM message_feedbacks WHERE conversation_id = ANY($1::uuid[]))
DELETE FROM workflow_conversation_variables WHERE conversation_id = ANY($1::uuid[])`

// liveConversation is the filter of step 3's upserts.
const liveConversation = `NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = u."conversation_id"::uuid AND c.is_deleted)`

var msgTable = table[*repo.Message]{
	name: "messages",
	cols: []column[*repo.Message]{
		{"id", kUUID, func(m *repo.Message) any { return m.ID }},
		{"app_id", kText, func(m *repo.Message) any { return m.AppID }},
		{"conversation_id", kUUID, func(m *repo.Message) any { return m.ConversationID }},
		{"session_id", kText, func(m *repo.Message) any { return m.User }},
		{"workflow_run_id", kUUIDNull, func(m *repo.Message) any { return m.WorkflowRunID }},
		{"inputs", kJSON, func(m *repo.Message) any { return m.Inputs }},
		{"query", kText, func(m *repo.Message) any { return m.Query }},
		{"answer", kText, func(m *repo.Message) any { return m.Answer }},
		{"status", kText, func(m *repo.Message) any { return m.Status }},
		{"error", kText, func(m *repo.Message) any { return m.Error }},
		{"message_metadata", kJSON, func(m *repo.Message) any { return m.Metadata }},
		{"message_files", kJSON, func(m *repo.Message) any { return m.Files }},
		{"message_tokens", kInt, func(m *repo.Message) any { return m.MessageTokens }},
		{"answer_tokens", kInt, func(m *repo.Message) any { return m.AnswerTokens }},
		{"total_price", kText, func(m *repo.Message) any { return m.TotalPrice }},
		{"currency", kText, func(m *repo.Message) any { return m.Currency }},
		{"provider_response_latency", kFloat, func(m *repo.Message) any { return m.Latency }},
		{"created_at", kTime, func(m *repo.Message) any { return m.CreatedAt }},
		{"updated_at", kTime, func(m *repo.Message) any { return m.UpdatedAt }},
		{"seq", kInt, func(m *repo.Message) any { return m.Seq }},
	},
	filter:   liveConversation,
	identity: []string{"app_id", "conversation_id"},
	rank:     `EXCLUDED.seq > t.seq`,
	day:      func(m *repo.Message) time.Time { return Day(m.ID, m.CreatedAt) },
}

const rankChat = `(EXCLUDED.is_deleted, EXCLUDED.seq) > (t.is_deleted, t.seq)`

var feedbackTable = table[*repo.Feedback]{
	name: "message_feedbacks",
	cols: []column[*repo.Feedback]{
		{"id", kUUID, func(f *repo.Feedback) any { return f.ID }},
		{"app_id", kText, func(f *repo.Feedback) any { return f.AppID }},
		{"conversation_id", kUUID, func(f *repo.Feedback) any { return f.ConversationID }},
		{"message_id", kUUID, func(f *repo.Feedback) any { return f.MessageID }},
		{"session_id", kText, func(f *repo.Feedback) any { return f.User }},
		{"rating", kText, func(f *repo.Feedback) any { return f.Rating }},
		{"content", kText, func(f *repo.Feedback) any { return f.Content }},
		{"from_source", kText, func(f *repo.Feedback) any { return f.FromSource }},
		{"created_at", kTime, func(f *repo.Feedback) any { return f.CreatedAt }},
		{"updated_at", kTime, func(f *repo.Feedback) any { return f.UpdatedAt }},
		{"is_deleted", kBool, func(f *repo.Feedback) any { return f.Deleted }},
		{"seq", kInt, func(f *repo.Feedback) any { return f.Seq }},
	},
	filter:   liveConversation,
	identity: []string{"app_id", "conversation_id", "message_id"},
	rank:     rankChat,
}

var varTable = table[*repo.ConversationVariable]{
	name: "workflow_conversation_variables",
	cols: []column[*repo.ConversationVariable]{
		{"id", kText, func(v *repo.ConversationVariable) any { return v.ID }},
		{"conversation_id", kUUID, func(v *repo.ConversationVariable) any { return v.ConversationID }},
		{"app_id", kText, func(v *repo.ConversationVariable) any { return v.AppID }},
		{"name", kText, func(v *repo.ConversationVariable) any { return v.Name }},
		{"value_type", kText, func(v *repo.ConversationVariable) any { return v.ValueType }},
		{"description", kText, func(v *repo.ConversationVariable) any { return v.Description }},
		{"value", kJSON, func(v *repo.ConversationVariable) any { return v.Value }},
		{"created_at", kTime, func(v *repo.ConversationVariable) any { return v.CreatedAt }},
		{"updated_at", kTime, func(v *repo.ConversationVariable) any { return v.UpdatedAt }},
		{"seq", kInt, func(v *repo.ConversationVariable) any { return v.Seq }},
	},
	key:      []string{"conversation_id", "id"},
	filter:   liveConversation,
	identity: []string{"app_id"},
	rank:     `EXCLUDED.seq > t.seq`,
}

var (
	upsertMsgs      = msgTable.upsert()
	upsertFeedbacks = feedbackTable.upsert()
	upsertVars      = varTable.upsert()
)

// queueChat queues the statements that write b's chat records (b is
// prepared): steps 1 to 3 above.
func queueChat(batch *pgx.Batch, b *repo.Batch) {
	if len(b.Conversations)+len(b.Messages)+len(b.Feedbacks)+len(b.Variables) == 0 {
		return
	}
	batch.Queue(upsertConvs, convTable.args(convRows(b))...)
	var gone []string
	for _, c := range b.Conversations {
		if c.Deleted {
			gone = append(gone, c.ID)
		}
	}
	if len(gone) > 0 {
		batch.Queue(deleteHeld, gone)
	}
	if len(b.Messages) > 0 {
		batch.Queue(upsertMsgs, msgTable.args(b.Messages)...)
	}
	if len(b.Feedbacks) > 0 {
		batch.Queue(upsertFeedbacks, feedbackTable.args(b.Feedbacks)...)
	}
	if len(b.Variables) > 0 {
		batch.Queue(upsertVars, varTable.args(b.Variables)...)
	}
}
