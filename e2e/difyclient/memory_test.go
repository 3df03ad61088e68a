package difyclient_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowrun/flowrun/internal/dbtest"
)

// memchatKey is the app of testdata/memchat.
const memchatKey = "app-e2e-memchat"

// fakeModel is an OpenAI-compatible chat completion server on loopback
// that records the messages of every request and answers "reply to
// <last user message>", streamed in two pieces.
type fakeModel struct {
	mu       sync.Mutex
	requests [][]string // "role: content" per message
}

func (f *fakeModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		http.NotFound(w, r)
		return
	}
	var req struct {
		Stream   bool `json:"stream"`
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msgs []string
	last := ""
	for _, m := range req.Messages {
		msgs = append(msgs, m.Role+": "+m.Content)
		if m.Role == "user" {
			last = m.Content
		}
	}
	if !req.Stream {
		// The chat API's own calls (conversation names): not recorded.
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"choices":[{"index":0,"message":{"role":"assistant","content":"{\"Your Output\": \"a name\"}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, msgs)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	for _, piece := range []string{"reply to ", last} {
		chunk, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": piece}}}})
		fmt.Fprintf(w, "data: %s\n\n", chunk)
	}
	fmt.Fprint(w, `data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`+"\n\n")
	fmt.Fprint(w, "data: [DONE]\n\n")
}

// request returns the messages of the i-th model call.
func (f *fakeModel) request(i int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i >= len(f.requests) {
		return nil
	}
	return f.requests[i]
}

// chatTurnHTTP sends one blocking turn to a replica.
func chatTurnHTTP(t *testing.T, addr, conv, query string) (convID, answer string) {
	t.Helper()
	body := fmt.Sprintf(`{"query": %q, "inputs": {}, "user": "mem-user", "conversation_id": %q}`, query, conv)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/chat-messages", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+memchatKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		ConversationID string `json:"conversation_id"`
		Answer         string `json:"answer"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("turn %q: %d %s", query, resp.StatusCode, raw)
	}
	return out.ConversationID, out.Answer
}

// TestChatMemoryAcrossReplicas holds one conversation across two api
// replicas, turns alternating between them, against a model that records
// what it receives: every turn's prompt holds the turns before it within
// the window, and the conversation variable counts every turn. Then
// PostgreSQL holds exactly the conversation's messages and runs, each
// once, with final statuses (in async mode once the persister drained
// them).
func TestChatMemoryAcrossReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tl := setup(t, ctx)
	for _, mode := range []string{"sync", "async"} {
		t.Run(mode, func(t *testing.T) {
			model := &fakeModel{}
			ms := httptest.NewServer(model)
			t.Cleanup(ms.Close)
			db := dbtest.SchemaURL(t)
			queue := "e2e-chat-" + uuid.NewString()[:8]
			redis := os.Getenv("TEST_REDIS_URL")
			if mode == "async" && redis == "" {
				t.Fatal("TEST_REDIS_URL is not set: run the tests with scripts/test.sh")
			}
			env := []string{"ADDR=127.0.0.1:0", "APPS_DIR=testdata/memchat", "WORKFLOW_REPO_MODE=" + mode,
				"DATABASE_URL=" + db, "MIGRATE_ON_START=true", "REDIS_URL=" + redis, "ASYNC_QUEUE=" + queue,
				"LLM_PROVIDERS=openai", "LLM_PROVIDER_OPENAI_BASE_URL=" + ms.URL + "/v1"}
			replicas := []*proc{
				start(t, ctx, tl.api, true, append(env, "ASYNC_SPOOL_DIR="+t.TempDir())...),
				start(t, ctx, tl.api, true, append(env, "ASYNC_SPOOL_DIR="+t.TempDir())...),
			}
			if mode == "async" {
				start(t, ctx, tl.persister, false, "REDIS_URL="+redis, "DATABASE_URL="+db, "PERSISTER_QUEUE="+queue,
					"PERSISTER_METRICS_ADDR=127.0.0.1:0")
			}

			const turns = 6
			conv := ""
			var queries, answers []string
			for i := range turns {
				q := fmt.Sprintf("question %d", i+1)
				var answer string
				conv, answer = chatTurnHTTP(t, replicas[i%2].addr, conv, q)
				if answer != "reply to "+q {
					t.Fatalf("turn %d answered %q", i+1, answer)
				}
				// The window of 3 rows is this turn and the two before.
				want := []string{fmt.Sprintf("system: Turn %d so far.", i)}
				for j := max(0, i-2); j < i; j++ {
					want = append(want, "user: "+queries[j], "assistant: "+answers[j])
				}
				want = append(want, "user: "+q)
				if got := model.request(i); strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Fatalf("turn %d (replica %d) sent the model\n%s\nwant\n%s", i+1, i%2, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				queries, answers = append(queries, q), append(answers, answer)
			}

			pool, err := pgxpool.New(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			eventually(t, ctx, "PostgreSQL to hold the conversation", func() bool {
				var n int
				err := pool.QueryRow(ctx, `SELECT count(*) FROM messages m JOIN workflow_runs r ON r.id = m.workflow_run_id
					WHERE m.conversation_id = $1 AND r.status = 'succeeded'`, conv).Scan(&n)
				return err == nil && n == turns
			})
			var msgs, runs, distinct int
			if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT workflow_run_id) FROM messages WHERE conversation_id = $1 AND status = 'normal'`, conv).Scan(&msgs, &distinct); err != nil {
				t.Fatal(err)
			}
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM workflow_runs WHERE type = 'chat' AND status = 'succeeded'`).Scan(&runs); err != nil {
				t.Fatal(err)
			}
			if msgs != turns || distinct != turns || runs != turns {
				t.Fatalf("PostgreSQL holds %d messages (%d runs among them) and %d chat runs, want %d each", msgs, distinct, runs, turns)
			}
			var value string
			if err := pool.QueryRow(ctx, `SELECT value::text FROM workflow_conversation_variables WHERE conversation_id = $1 AND name = 'turns'`, conv).Scan(&value); err != nil {
				t.Fatal(err)
			}
			if value != fmt.Sprint(turns) {
				t.Fatalf("stored turns = %s, want %d", value, turns)
			}
			for _, r := range replicas {
				r.stop(t)
			}
		})
	}
}

// eventually polls cond until it holds or ctx ends: the state it waits
// for is another process's, which sends no signal.
func eventually(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(60 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
