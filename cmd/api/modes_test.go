package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/flowrun/flowrun/internal/dbtest"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/async"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
)

// TestModesEndToEnd drives the real server in sync and async mode: after N
// runs over HTTP, PostgreSQL holds exactly N runs with the right node
// executions, their statuses and outputs equal to the HTTP responses, and
// GET /workflows/run/{id} answers each run. async-ack is async mode with
// ASYNC_ACK=enqueued and a flush interval of a minute: each run's records
// must be in Redis by the time its answer arrives.
func TestModesEndToEnd(t *testing.T) {
	for _, mode := range []string{"sync", "async", "async-ack"} {
		t.Run(mode, func(t *testing.T) {
			ack := mode == "async-ack"
			if ack {
				mode = "async"
				t.Setenv("ASYNC_ACK", "enqueued")
				t.Setenv("ASYNC_FLUSH_INTERVAL", "1m")
			}
			redisURL := os.Getenv("TEST_REDIS_URL")
			if redisURL == "" {
				t.Fatal("TEST_REDIS_URL is not set: run the tests with scripts/test.sh")
			}
			dbURL := dbtest.SchemaURL(t)
			queue := "api-e2e-" + uuid.NewString()[:8]
			t.Setenv("APPS_DIR", "../../examples")
			t.Setenv("ADDR", "127.0.0.1:0")
			t.Setenv("WORKFLOW_REPO_MODE", mode)
			t.Setenv("DATABASE_URL", dbURL)
			t.Setenv("MIGRATE_ON_START", "true")
			t.Setenv("REDIS_URL", redisURL)
			t.Setenv("ASYNC_QUEUE", queue)
			t.Setenv("ASYNC_SPOOL_DIR", t.TempDir())
			t.Setenv("CONSOLE_KEY", consoleTestKey)

			ctx := context.Background()
			svc := startMain(t)
			addr := svc.addr
			pool, err := reposql.Open(ctx, reposql.OpenConfig{URL: dbURL, MaxConns: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			store := reposql.New(pool)
			opt, _ := asynq.ParseRedisURI(redisURL)
			persist := func() {
				// What cmd/persister runs, in-process.
				srv := asynq.NewServer(opt, asynq.Config{Queues: map[string]int{queue: 1}, Concurrency: 4,
					TaskCheckInterval: 10 * time.Millisecond, Logger: quietAsynq{}})
				if err := srv.Start(async.NewHandler(store, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(srv.Shutdown)
			}
			if mode == "async" && !ack {
				persist()
			}
			insp := asynq.NewInspector(opt)
			defer insp.Close()

			const n = 30
			type result struct {
				status  string
				outputs map[string]any
				steps   float64
			}
			want := map[string]result{}
			for i := range n {
				mode := "blocking"
				if i%3 == 0 {
					mode = "streaming"
				}
				q := []string{"hello there", "bye"}[i%2]
				id, res := callRun(t, addr, "app-flowrun-branch-local-only", q, mode)
				want[id] = res
				// Read-your-writes: the run is there right away, in both modes.
				got := getRun(t, addr, "app-flowrun-branch-local-only", id)
				if got["status"] != res.status {
					t.Fatalf("GET run right after it finished: %v", got)
				}
				if ack && queuedStatus(t, insp, queue, id) != res.status {
					t.Fatalf("run %s answered %s, but Redis holds %q for it", id, res.status, queuedStatus(t, insp, queue, id))
				}
			}
			if ack {
				persist()
			}
			var runs *repo.RunListResult
			deadline := time.After(20 * time.Second)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				runs, err = store.RunList(ctx, &repo.RunListParams{AppID: "011d426b-e2e2-42bb-8167-17112d960102", Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				terminal := 0
				for _, it := range runs.Items {
					if it.Run != nil && it.Run.Status.Terminal() {
						terminal++
					}
				}
				// The count and the page are separate statements (READ
				// COMMITTED): wait for both, or a batch the persister
				// commits between them makes them disagree.
				if mode == "sync" || (terminal == n && runs.Total == n) {
					break
				}
				select {
				case <-deadline:
					t.Fatalf("after 20 s PostgreSQL holds %d finished runs of %d", terminal, n)
				case <-tick.C:
				}
			}
			if runs.Total != n || len(runs.Items) != n {
				t.Fatalf("PostgreSQL holds %d runs, want exactly %d", runs.Total, n)
			}
			for _, it := range runs.Items {
				exp, ok := want[it.Run.ID]
				if !ok {
					t.Fatalf("unexpected run %s", it.Run.ID)
				}
				var outs map[string]any
				json.Unmarshal(it.Run.Outputs, &outs)
				if string(it.Run.Status) != exp.status || !reflect.DeepEqual(outs, exp.outputs) || float64(it.Run.TotalSteps) != exp.steps {
					t.Fatalf("run %s stored %s %v %d; HTTP said %+v", it.Run.ID, it.Run.Status, outs, it.Run.TotalSteps, exp)
				}
				nodes, err := store.NodeExecutionList(ctx, &repo.NodeExecutionListParams{AppID: it.Run.AppID, RunID: it.Run.ID})
				if err != nil {
					t.Fatal(err)
				}
				if float64(len(nodes)) != exp.steps {
					t.Fatalf("run %s: %d node executions, want %v", it.Run.ID, len(nodes), exp.steps)
				}
				for _, node := range nodes {
					if node.Status != repo.StatusSucceeded || node.FinishedAt.IsZero() {
						t.Fatalf("node %s of run %s: %s", node.NodeID, it.Run.ID, node.Status)
					}
				}
			}
			checkConsole(t, addr, mode, "011d426b-e2e2-42bb-8167-17112d960102", runs.Items[0].Run.ID, n)
			svc.stop(t)
		})
	}
}

const consoleTestKey = "console-e2e-key-0123456789"

// checkConsole reads the console of the real server: the app's runs page
// lists the stored runs, a run's page shows its node executions, and the
// persister page shows the queue in async mode.
func checkConsole(t *testing.T, addr, mode, appID, runID string, runs int) {
	t.Helper()
	page := func(path string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+"/console"+path, nil)
		req.Header.Set("Authorization", "Bearer "+consoleTestKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("console %s: %d %s", path, resp.StatusCode, body)
		}
		return string(body)
	}
	if list := page("/apps/" + appID + "/runs"); !strings.Contains(list, runID) || !strings.Contains(list, fmt.Sprint(runs)) {
		t.Errorf("console runs page of %s mode lists neither run %s nor the total %d:\n%s", mode, runID, runs, list)
	}
	if detail := page("/apps/" + appID + "/runs/" + runID); !strings.Contains(detail, runID) || !strings.Contains(detail, "timeline") {
		t.Errorf("console run page of %s mode:\n%s", mode, detail)
	}
	health := page("/health")
	if async := strings.Contains(health, `id="queue"`); async != (mode == "async") {
		t.Errorf("console persister page in %s mode shows the queue: %v\n%s", mode, async, health)
	}
}

// callRun runs the app once over HTTP and returns the run id and what the
// response said about the run.
func callRun(t *testing.T, addr, key, query, mode string) (string, struct {
	status  string
	outputs map[string]any
	steps   float64
}) {
	t.Helper()
	body := fmt.Sprintf(`{"inputs": {"query": %q}, "user": "e2e", "response_mode": %q}`, query, mode)
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/workflows/run", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("run: %d %s", resp.StatusCode, raw)
	}
	var data struct {
		ID      string         `json:"id"`
		Status  string         `json:"status"`
		Outputs map[string]any `json:"outputs"`
		Steps   float64        `json:"total_steps"`
	}
	if mode == "streaming" {
		frames := strings.Split(strings.TrimSpace(string(raw)), "\n\n")
		last := strings.TrimPrefix(frames[len(frames)-1], "data: ")
		var ev struct {
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal([]byte(last), &ev); err != nil || ev.Event != "workflow_finished" {
			t.Fatalf("last frame %s", last)
		}
		json.Unmarshal(ev.Data, &data)
	} else {
		var b struct {
			Data json.RawMessage `json:"data"`
		}
		json.Unmarshal(raw, &b)
		json.Unmarshal(b.Data, &data)
	}
	return data.ID, struct {
		status  string
		outputs map[string]any
		steps   float64
	}{data.Status, data.Outputs, data.Steps}
}

func getRun(t *testing.T, addr, key, id string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/workflows/run/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&m) != nil {
		t.Fatalf("GET run %s: %d", id, resp.StatusCode)
	}
	return m
}

// queuedStatus returns the status of run id's latest version pending in
// queue ("" if none).
func queuedStatus(t *testing.T, insp *asynq.Inspector, queue, id string) string {
	t.Helper()
	tasks, err := insp.ListPendingTasks(queue, asynq.PageSize(1000))
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return "" // nothing was ever enqueued
	}
	if err != nil {
		t.Fatal(err)
	}
	var latest *repo.WorkflowRun
	for _, task := range tasks {
		b, err := async.DecodeBatch(task.Payload)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Runs {
			if r.ID == id && (latest == nil || repo.Supersedes(r.Status, r.Seq, latest.Status, latest.Seq)) {
				latest = r
			}
		}
	}
	if latest == nil {
		return ""
	}
	return string(latest.Status)
}

type quietAsynq struct{}

func (quietAsynq) Debug(...any) {}
func (quietAsynq) Info(...any)  {}
func (quietAsynq) Warn(...any)  {}
func (quietAsynq) Error(...any) {}
func (quietAsynq) Fatal(...any) {}
