package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/flowrun/flowrun/internal/dbtest"
	"github.com/flowrun/flowrun/internal/record"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/async"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
	"github.com/flowrun/flowrun/internal/run"
)

// TestPersisterEndToEnd runs real workflows in async mode: the engine's
// records go through the async writer to Redis, the persister (started as
// in production) writes them to PostgreSQL, and the stored runs equal what
// the engine returned. Chat records then take the same path.
func TestPersisterEndToEnd(t *testing.T) {
	t.Parallel()
	redisURL := os.Getenv("TEST_REDIS_URL")
	if redisURL == "" {
		t.Fatal("TEST_REDIS_URL is not set: run the tests with scripts/test.sh")
	}
	dbURL := dbtest.SchemaURL(t)
	queue := "e2e-" + uuid.NewString()[:8]

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	served := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		served <- serve(ctx, config{
			RedisURL: redisURL, DatabaseURL: dbURL, DatabaseConns: 4, Queue: queue, Concurrency: 4,
			CheckInterval: 10 * time.Millisecond, MaxRetry: 3, MigrateOnStart: true,
			MetricsAddr: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second,
		}, log, ready)
	}()
	select {
	case <-ready:
	case err := <-served:
		t.Fatalf("persister did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("persister did not start in time")
	}

	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	w, err := async.New(client, async.Config{Queue: queue})
	if err != nil {
		t.Fatal(err)
	}
	w.Start(ctx)

	data, err := os.ReadFile("../../examples/branch.yml")
	if err != nil {
		t.Fatal(err)
	}
	e := run.New(run.Config{}, nil)
	wf, err := e.Compile(data)
	if err != nil {
		t.Fatal(err)
	}
	const runs = 40
	want := map[string]*run.RunInfo{}
	for i := range runs {
		q := "hello"
		if i%2 == 1 {
			q = "bye"
		}
		in, _ := wf.PrepareInputs(map[string]any{"query": q})
		p := run.Params{RunID: uuid.NewString(), AppID: "app-e2e", WorkflowID: "wf", UserID: "u", Inputs: in}
		rec := record.Async(w, record.AsyncConfig{}).Recorder(ctx, record.Source{RunID: p.RunID, AppID: "app-e2e", WorkflowID: "wf", SessionID: "u"}, nil)
		want[p.RunID] = e.Run(ctx, wf, p, rec)
		if err := rec.Wait(); err != nil {
			t.Fatal(err)
		}
	}

	pool, err := reposql.Open(ctx, reposql.OpenConfig{URL: dbURL, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := reposql.New(pool)
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := store.RunList(ctx, &repo.RunListParams{AppID: "app-e2e", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, it := range res.Items {
			if it.Run != nil && it.Run.Status.Terminal() {
				done++
			}
		}
		if res.Total == runs && done == runs {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("after 20 s PostgreSQL holds %d logs, %d finished runs; want %d", res.Total, done, runs)
		case <-tick.C:
		}
	}
	for id, info := range want {
		got, err := store.RunGet(ctx, &repo.RunGetParams{AppID: "app-e2e", RunID: id})
		if err != nil {
			t.Fatal(err)
		}
		outs, _ := info.Outputs.MarshalJSON()
		if string(got.Status) != string(info.Status) || !sameJSON(got.Outputs, outs) || got.TotalSteps != info.TotalSteps {
			t.Fatalf("run %s stored as %s %s steps %d; engine said %s %s steps %d", id, got.Status, got.Outputs, got.TotalSteps, info.Status, outs, info.TotalSteps)
		}
		nodes, err := store.NodeExecutionList(ctx, &repo.NodeExecutionListParams{AppID: "app-e2e", RunID: id})
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(nodes)) != info.TotalSteps {
			t.Fatalf("run %s: %d node executions stored, want %d", id, len(nodes), info.TotalSteps)
		}
		for _, n := range nodes {
			if n.Status != repo.StatusSucceeded {
				t.Fatalf("node %s stored as %s", n.NodeID, n.Status)
			}
		}
	}

	// Chat records take the same path: a turn's conversation, message,
	// variable and feedback, and a conversation deleted with its message.
	var runID string
	for id := range want {
		runID = id
		break
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	c := &repo.Conversation{ID: uuid.NewString(), AppID: "app-e2e", User: "u", Name: "hello", Status: "normal", CreatedAt: now, UpdatedAt: now, Seq: repo.Version(now)}
	m := &repo.Message{ID: uuid.NewString(), AppID: "app-e2e", ConversationID: c.ID, User: "u", WorkflowRunID: runID, Query: "hello", Answer: "hi",
		Status: repo.MessageNormal, CreatedAt: now.Add(time.Second), UpdatedAt: now.Add(time.Second), Seq: repo.Version(now.Add(time.Second))}
	gone := &repo.Conversation{ID: uuid.NewString(), AppID: "app-e2e", User: "u", CreatedAt: now, UpdatedAt: now, Deleted: true, Seq: repo.Version(now)}
	gm := &repo.Message{ID: uuid.NewString(), AppID: "app-e2e", ConversationID: gone.ID, User: "u", CreatedAt: now, UpdatedAt: now, Seq: 1}
	if err := w.Write(ctx, &repo.Batch{
		Conversations: []*repo.Conversation{c, gone},
		Messages:      []*repo.Message{m, gm},
		Feedbacks:     []*repo.Feedback{{ID: uuid.NewString(), AppID: "app-e2e", ConversationID: c.ID, MessageID: m.ID, User: "u", Rating: "like", CreatedAt: now, UpdatedAt: now, Seq: 1}},
		Variables:     []*repo.ConversationVariable{{ID: "v1", ConversationID: c.ID, AppID: "app-e2e", Name: "n", Value: json.RawMessage(`{"a":[1]}`), CreatedAt: now, UpdatedAt: now, Seq: 1}},
	}); err != nil {
		t.Fatal(err)
	}
	deadline = time.After(20 * time.Second)
	for {
		tr, err := store.Turn(ctx, &repo.TurnParams{AppID: "app-e2e", User: "u", ConversationID: c.ID, History: 5})
		if err == nil {
			if tr.Messages != 1 || tr.History[0].WorkflowRunID != runID || !tr.Conversation.UpdatedAt.Equal(m.CreatedAt) ||
				len(tr.Variables) != 1 || !sameJSON(tr.Variables[0].Value, []byte(`{"a":[1]}`)) {
				t.Fatalf("turn stored as %+v", tr)
			}
			break
		}
		if !errors.Is(err, repo.ErrNotFound) {
			t.Fatal(err)
		}
		select {
		case <-deadline:
			t.Fatal("after 20 s PostgreSQL does not hold the conversation")
		case <-tick.C:
		}
	}
	page, err := store.MessageList(ctx, &repo.MessageListParams{AppID: "app-e2e", User: "u", ConversationID: c.ID})
	if err != nil || len(page.Items) != 1 || page.Feedbacks[m.ID] == nil || page.Feedbacks[m.ID].Rating != "like" {
		t.Fatalf("messages: %+v, %v", page, err)
	}
	if _, err := store.MessageGet(ctx, "app-e2e", "u", gm.ID); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("message of the deleted conversation: %v, want ErrNotFound", err)
	}

	w.Stop(context.Background())
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("persister exited with %v", err)
	}
}

func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

func TestRetryDelay(t *testing.T) {
	task := asynq.NewTask(async.TaskType, nil)
	if d := retryDelay(0, asynq.ErrLeaseExpired, task); d != 0 {
		t.Errorf("lease expired: retry in %v, want at once", d)
	}
	if d := retryDelay(0, fmt.Errorf("write: %w", asynq.ErrLeaseExpired), task); d != 0 {
		t.Errorf("wrapped lease expiry: retry in %v, want at once", d)
	}
	if d := retryDelay(0, errors.New("connection refused"), task); d < 15*time.Second {
		t.Errorf("failed write: retry in %v, want asynq's backoff (at least 15 s)", d)
	}
}
