package sql_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowrun/flowrun/internal/dbtest"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/repotest"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
)

func TestStore(t *testing.T) {
	t.Parallel()
	repotest.Exercise(t, func(t *testing.T) repo.Store { return reposql.New(dbtest.Pool(t)) })
}

// TestStoreInsertFirst runs the conformance suite against the persister's
// variant: redelivered and reordered batches take its upsert fallback.
func TestStoreInsertFirst(t *testing.T) {
	t.Parallel()
	repotest.Exercise(t, func(t *testing.T) repo.Store { return reposql.New(dbtest.Pool(t), reposql.InsertFirst()) })
}

func TestChat(t *testing.T) {
	t.Parallel()
	repotest.ExerciseChat(t, func(t *testing.T) repotest.ChatStore { return reposql.New(dbtest.Pool(t)) })
}

// TestChatInsertFirst: the persister's variant upserts chat records too.
func TestChatInsertFirst(t *testing.T) {
	t.Parallel()
	repotest.ExerciseChat(t, func(t *testing.T) repotest.ChatStore { return reposql.New(dbtest.Pool(t), reposql.InsertFirst()) })
}

// countingDB counts the round trips the store starts.
type countingDB struct {
	reposql.DB
	trips atomic.Int64
}

func (c *countingDB) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	c.trips.Add(1)
	return c.DB.SendBatch(ctx, b)
}

func (c *countingDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c.trips.Add(1)
	return c.DB.Query(ctx, sql, args...)
}

func (c *countingDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c.trips.Add(1)
	return c.DB.QueryRow(ctx, sql, args...)
}

func fixture(app string) (*repo.WorkflowRun, *repo.Batch) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	r := &repo.WorkflowRun{ID: repotest.NewID(), AppID: app, Status: repo.StatusRunning, Seq: 1, CreatedAt: now}
	b := &repo.Batch{Runs: []*repo.WorkflowRun{r}, AppLogs: []*repo.AppLog{{ID: repotest.NewID(), AppID: app, WorkflowRunID: r.ID, CreatedAt: now, Seq: 1}}}
	for i := range 20 {
		b.NodeExecutions = append(b.NodeExecutions, &repo.NodeExecution{
			ID: repotest.NewID(), AppID: app, WorkflowRunID: r.ID, Index: int64(i + 1),
			Status: repo.StatusRunning, Seq: int64(i + 2), CreatedAt: now,
			Inputs: json.RawMessage(`{"i":1}`),
		})
	}
	return r, b
}

// chatFixture adds to b a conversation of run r with a message, feedback
// and a variable, and a deleted conversation.
func chatFixture(r *repo.WorkflowRun, b *repo.Batch) *repo.Conversation {
	now := r.CreatedAt
	c := &repo.Conversation{ID: repotest.NewID(), AppID: r.AppID, User: "u", Name: "n", CreatedAt: now, UpdatedAt: now, Seq: repo.Version(now)}
	m := &repo.Message{ID: repotest.NewID(), AppID: r.AppID, ConversationID: c.ID, User: "u", WorkflowRunID: r.ID, CreatedAt: now, UpdatedAt: now, Seq: 1}
	gone := &repo.Conversation{ID: repotest.NewID(), AppID: r.AppID, User: "u", CreatedAt: now, UpdatedAt: now, Deleted: true, Seq: 1}
	b.Conversations = append(b.Conversations, c, gone)
	b.Messages = append(b.Messages, m)
	b.Feedbacks = append(b.Feedbacks, &repo.Feedback{ID: repotest.NewID(), AppID: r.AppID, ConversationID: c.ID, MessageID: m.ID, User: "u", Rating: "like", CreatedAt: now, UpdatedAt: now, Seq: 1})
	b.Variables = append(b.Variables, &repo.ConversationVariable{ID: "v", ConversationID: c.ID, AppID: r.AppID, Name: "v", Value: json.RawMessage(`1`), CreatedAt: now, UpdatedAt: now, Seq: 1})
	return c
}

// TestOneRoundTripPerBatch: a batch of every record kind, however many
// rows, is one round trip; so is each read, a chat turn's included.
func TestOneRoundTripPerBatch(t *testing.T) {
	t.Parallel()
	db := &countingDB{DB: dbtest.Pool(t)}
	s := reposql.New(db)
	ctx := t.Context()
	r, b := fixture("app")
	c := chatFixture(r, b)
	if err := s.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if n := db.trips.Load(); n != 1 {
		t.Fatalf("Write took %d round trips, want 1", n)
	}
	for name, read := range map[string]func() error{
		"RunGet": func() error {
			_, err := s.RunGet(ctx, &repo.RunGetParams{AppID: "app", RunID: r.ID})
			return err
		},
		"RunList": func() error {
			_, err := s.RunList(ctx, &repo.RunListParams{AppID: "app", Keyword: "x", Status: repo.StatusRunning})
			return err
		},
		"NodeExecutionList": func() error {
			_, err := s.NodeExecutionList(ctx, &repo.NodeExecutionListParams{AppID: "app", RunID: r.ID})
			return err
		},
		"Turn": func() error {
			t, err := s.Turn(ctx, &repo.TurnParams{AppID: "app", User: "u", ConversationID: c.ID, History: 10})
			if err == nil && (t.Messages != 1 || len(t.History) != 1 || len(t.Variables) != 1) {
				err = fmt.Errorf("turn %+v", t)
			}
			return err
		},
		"ConversationGet": func() error {
			_, err := s.ConversationGet(ctx, "app", "u", c.ID)
			return err
		},
		"ConversationList": func() error {
			_, err := s.ConversationList(ctx, &repo.ConversationListParams{AppID: "app", User: "u", LastID: c.ID})
			return err
		},
		"MessageList": func() error {
			_, err := s.MessageList(ctx, &repo.MessageListParams{AppID: "app", User: "u", ConversationID: c.ID, FirstID: b.Messages[0].ID})
			return err
		},
		"MessageGet": func() error {
			_, err := s.MessageGet(ctx, "app", "u", b.Messages[0].ID)
			return err
		},
		"VariableList": func() error {
			_, err := s.VariableList(ctx, &repo.VariableListParams{AppID: "app", User: "u", ConversationID: c.ID, LastID: "v", Name: "v"})
			return err
		},
		"FeedbackList": func() error {
			_, err := s.FeedbackList(ctx, &repo.FeedbackListParams{AppID: "app"})
			return err
		},
	} {
		db.trips.Store(0)
		if err := read(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := db.trips.Load(); n != 1 {
			t.Errorf("%s took %d round trips, want 1", name, n)
		}
	}
}

// TestUnstorableCharacters: NUL characters and invalid UTF-8, which
// PostgreSQL cannot store, become U+FFFD instead of failing the batch,
// whether a record is upserted or copied (InsertFirst).
func TestUnstorableCharacters(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]reposql.Option{"upsert": nil, "insert-first": {reposql.InsertFirst()}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := reposql.New(dbtest.Pool(t), opts...)
			ctx := t.Context()
			r, b := fixture("app")
			r.Error = "bad\x00byte \xff"
			r.Inputs = json.RawMessage(`{"a":"x\u0000y","b":"\\u0000 stays","c":"` + "\xfe" + `"}`)
			n := b.NodeExecutions[0]
			n.Error, n.Title = r.Error, "t\x00"
			n.Inputs = r.Inputs
			if err := s.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
			got, err := s.RunGet(ctx, &repo.RunGetParams{AppID: "app", RunID: r.ID})
			if err != nil {
				t.Fatal(err)
			}
			nodes, err := s.NodeExecutionList(ctx, &repo.NodeExecutionListParams{AppID: "app", RunID: r.ID})
			if err != nil {
				t.Fatal(err)
			}
			if got.Error != "bad\uFFFDbyte \uFFFD" {
				t.Errorf("run error = %q", got.Error)
			}
			if e, title := nodes[0].Error, nodes[0].Title; e != got.Error || title != "t\uFFFD" {
				t.Errorf("node error = %q, title %q", e, title)
			}
			for _, raw := range []json.RawMessage{got.Inputs, nodes[0].Inputs} {
				var in map[string]string
				if err := json.Unmarshal(raw, &in); err != nil {
					t.Fatal(err)
				}
				if in["a"] != "x\uFFFDy" || in["b"] != `\u0000 stays` || in["c"] != "\uFFFD" {
					t.Errorf("inputs = %q", in)
				}
			}
		})
	}
}

// TestUnavailable: an unreachable server gives repo.ErrUnavailable.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	cfg, err := pgxpool.ParseConfig("postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	pool := dbtest.NewPool(t, cfg)
	s := reposql.New(pool)
	_, b := fixture("app")
	if err := s.Write(t.Context(), b); !errors.Is(err, repo.ErrUnavailable) {
		t.Errorf("Write: err = %v, want ErrUnavailable", err)
	}
	if _, err := s.RunGet(t.Context(), &repo.RunGetParams{AppID: "app", RunID: repotest.NewID()}); !errors.Is(err, repo.ErrUnavailable) {
		t.Errorf("RunGet: err = %v, want ErrUnavailable", err)
	}
	if _, err := s.RunList(t.Context(), &repo.RunListParams{AppID: "app"}); !errors.Is(err, repo.ErrUnavailable) {
		t.Errorf("RunList: err = %v, want ErrUnavailable", err)
	}
}

// TestListUsesIndex checks that the log list for one app is served by the
// (app_id, created_at) index rather than a scan of every app's logs.
func TestListUsesIndex(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := t.Context()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// The tables are empty; make the planner choose as it would for big ones.
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `RESET enable_seqscan`) }()
	// Conversations of many users, so that the planner weighs the
	// per-user indexes against the per-app one as it would in production.
	if _, err := conn.Exec(ctx, `INSERT INTO conversations (id, app_id, session_id, created_at, updated_at, seq)
		SELECT gen_random_uuid(), 'a', 'u' || (i % 500), now(), now(), 1 FROM generate_series(1, 5000) i;
		ANALYZE conversations`); err != nil {
		t.Fatal(err)
	}
	for query, index := range map[string]string{
		`SELECT * FROM conversations WHERE app_id = 'a' AND NOT is_deleted AND NOT pending ORDER BY updated_at DESC, id DESC LIMIT 21 OFFSET 20`: "conversations_app_updated_idx",
		`SELECT * FROM workflow_app_logs WHERE app_id = 'a' ORDER BY created_at DESC, id DESC LIMIT 20`:                                          "workflow_app_logs_app_created_idx",
		`SELECT * FROM workflow_app_logs WHERE app_id = 'a' AND session_id = 's' ORDER BY created_at DESC, id DESC LIMIT 20`:                     "workflow_app_logs_app_session_idx",
		`SELECT * FROM workflow_node_executions WHERE workflow_run_id = '` + repotest.NewID() + `' ORDER BY index, created_at, id`:               "workflow_node_executions_run_idx",
		// Chat records.
		`SELECT * FROM conversations WHERE app_id = 'a' AND session_id = 'u' AND NOT is_deleted AND NOT pending ORDER BY updated_at DESC, id DESC LIMIT 20`: "conversations_user_updated_idx",
		`SELECT * FROM conversations WHERE app_id = 'a' AND session_id = 'u' AND NOT is_deleted AND NOT pending ORDER BY created_at, id LIMIT 20`:           "conversations_user_created_idx",
		`SELECT * FROM messages WHERE conversation_id = '` + repotest.NewID() + `' ORDER BY created_at DESC, id DESC LIMIT 20`:                              "messages_conversation_idx",
		`SELECT * FROM message_feedbacks WHERE app_id = 'a' AND NOT is_deleted ORDER BY created_at DESC, id DESC LIMIT 20 OFFSET 40`:                        "message_feedbacks_app_idx",
		`SELECT * FROM message_feedbacks WHERE message_id = '` + repotest.NewID() + `'`:                                                                     "message_feedbacks_message_idx",
		`SELECT * FROM workflow_conversation_variables WHERE conversation_id = '` + repotest.NewID() + `' ORDER BY created_at, id LIMIT 21`:                 "workflow_conversation_variables_created_idx",
	} {
		rows, err := conn.Query(ctx, "EXPLAIN "+query)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if !usesIndex(t, conn, plan, index) {
			t.Errorf("%s\ndoes not use %s:\n%s", query, index, strings.Join(plan, "\n"))
		}
	}
}

// usesIndex reports whether plan reads through index (or, on a partitioned
// table, through its partitions' indexes) and never scans a table whole.
func usesIndex(t *testing.T, conn *pgxpool.Conn, plan []string, index string) bool {
	t.Helper()
	rows, err := conn.Query(t.Context(), `SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = $1::regclass`, index)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if strings.Contains(text, "Seq Scan") {
		return false
	}
	for _, n := range append(names, index) {
		if strings.Contains(text, " using "+n+" ") || strings.Contains(text, "Index Scan on "+n+" ") {
			return true
		}
	}
	return false
}

// TestTerminalMatches keeps the SQL guard's idea of a terminal status in
// step with repo.Status.Terminal.
func TestTerminalMatches(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	statuses := append(repo.TerminalStatuses(), repo.StatusPending, repo.StatusRunning, repo.StatusPaused, repo.StatusRetry, "")
	for _, st := range statuses {
		var got bool
		if err := pool.QueryRow(t.Context(), `SELECT flowrun_terminal($1)`, string(st)).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != st.Terminal() {
			t.Errorf("flowrun_terminal(%q) = %v, Status.Terminal() = %v", st, got, st.Terminal())
		}
	}
}

func TestConsole(t *testing.T) {
	t.Parallel()
	repotest.ExerciseConsole(t, func(t *testing.T) repotest.ConsoleStore { return reposql.New(dbtest.Pool(t)) })
}
