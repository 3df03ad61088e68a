package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/dbtest"
	"github.com/flowrun/flowrun/internal/record"
	"github.com/flowrun/flowrun/internal/run"
)

// hold is the state of the test-hold node: it blocks until its run is
// stopped or the test releases every hold. The tests using it set
// environment variables, so they never run in parallel.
var hold struct {
	mu      sync.Mutex
	started chan string   // the run id of each hold that started
	release chan struct{} // closed to end every hold
}

func resetHold() {
	hold.mu.Lock()
	hold.started, hold.release = make(chan string, 100), make(chan struct{})
	hold.mu.Unlock()
}

var holdNode = run.NodeType{Name: "test-hold", Build: func(*run.Build) (run.Executor, error) {
	return run.ExecutorFunc(func(ctx context.Context, _ *run.Exec) (*run.Result, error) {
		hold.mu.Lock()
		started, release := hold.started, hold.release
		hold.mu.Unlock()
		started <- ""
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-release:
			return &run.Result{Outputs: run.Vars{{Name: "output", Value: "released"}}}, nil
		}
	}), nil
}}

const holdApps = `apps:
- id: 9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c01
  workflow_id: 9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c02
  file: hold.yml
  keys: [app-cluster-hold]
- id: 9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c03
  workflow_id: 9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c04
  file: hold-chat.yml
  keys: [app-cluster-hold-chat]
`

const holdDSL = `app: {mode: workflow, name: hold}
workflow:
  graph:
    nodes:
    - {id: start, data: {type: start, title: Start, variables: []}}
    - {id: hold, data: {type: test-hold, title: Hold}}
    - id: end
      data: {type: end, title: End, outputs: [{variable: answer, value_selector: [hold, output], value_type: string}]}
    edges:
    - {id: e1, source: start, target: hold}
    - {id: e2, source: hold, target: end}
`

const holdChatDSL = `app: {mode: advanced-chat, name: hold-chat}
workflow:
  graph:
    nodes:
    - {id: start, data: {type: start, title: Start, variables: []}}
    - {id: hold, data: {type: test-hold, title: Hold}}
    - {id: answer, data: {type: answer, title: Answer, answer: '{{#hold.output#}}'}}
    edges:
    - {id: e1, source: start, target: hold}
    - {id: e2, source: hold, target: answer}
`

// releaseHolds ends every hold, once.
func releaseHolds() {
	hold.mu.Lock()
	defer hold.mu.Unlock()
	select {
	case <-hold.release:
	default:
		close(hold.release)
	}
}

// startReplicas starts two api replicas in mode that share only
// PostgreSQL (a schema of their own) and, in async mode, Redis (a queue
// and key prefix of their own), as replicas of one deployment do.
func startReplicas(t *testing.T, mode string, maxActive string) (a, b *service) {
	t.Helper()
	replicaEnv(t, mode, maxActive)
	return startMain(t, holdNode), startMain(t, holdNode)
}

// replicaEnv sets the environment of startReplicas' replicas, which a
// replica started in a process of its own inherits, and resets the holds.
func replicaEnv(t *testing.T, mode string, maxActive string) {
	t.Helper()
	redisURL := os.Getenv("TEST_REDIS_URL")
	if redisURL == "" {
		t.Fatal("TEST_REDIS_URL is not set: run the tests with scripts/test.sh")
	}
	dir := t.TempDir()
	for name, data := range map[string]string{"apps.yaml": holdApps, "hold.yml": holdDSL, "hold-chat.yml": holdChatDSL} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range map[string]string{
		"APPS_DIR": dir, "ADDR": "127.0.0.1:0", "WORKFLOW_REPO_MODE": mode,
		"DATABASE_URL": dbtest.SchemaURL(t), "MIGRATE_ON_START": "true",
		"REDIS_URL": redisURL, "ASYNC_QUEUE": "cluster-" + uuid.NewString()[:8], "ASYNC_SPOOL_DIR": t.TempDir(),
		"APP_MAX_ACTIVE_REQUESTS": maxActive, "ADMIN_API_KEY": "", "CONSOLE_KEY": "", "METRICS_ADDR": "",
	} {
		t.Setenv(k, v)
	}
	resetHold()
	t.Cleanup(releaseHolds)
}

// post sends body to path on addr with key and returns the response.
func post(t *testing.T, addr, key, path, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// postBody is post, read whole.
func postBody(t *testing.T, addr, key, path, body string) (int, string) {
	t.Helper()
	resp := post(t, addr, key, path, body)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// heldStream starts a streaming run on addr and returns its task id once
// its hold node runs, and a function that reads the rest of the stream
// and returns its workflow_finished status.
func heldStream(t *testing.T, addr, key, path, body string) (taskID string, finish func() string) {
	t.Helper()
	return held(t, post(t, addr, key, path, body))
}

// held is heldStream's reading of the response.
func held(t *testing.T, resp *http.Response) (taskID string, finish func() string) {
	t.Helper()
	t.Cleanup(func() { resp.Body.Close() })
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev struct {
		Event  string `json:"event"`
		TaskID string `json:"task_id"`
		Data   struct {
			NodeID string `json:"node_id"`
			Status string `json:"status"`
		} `json:"data"`
	}
	next := func() bool {
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				ev.Data.NodeID, ev.Data.Status = "", ""
				if err := json.Unmarshal([]byte(line), &ev); err != nil {
					t.Fatalf("event %s: %v", line, err)
				}
				return true
			}
		}
		return false
	}
	for next() {
		if ev.Event == "node_started" && ev.Data.NodeID == "hold" {
			return ev.TaskID, func() string {
				// A stop that does not arrive fails the test instead of
				// hanging it: the holds are released, the run succeeds.
				timeout := time.AfterFunc(30*time.Second, releaseHolds)
				defer timeout.Stop()
				for next() {
					if ev.Event == "workflow_finished" {
						return ev.Data.Status
					}
				}
				t.Fatal("the stream ended without workflow_finished")
				return ""
			}
		}
	}
	t.Fatalf("the stream ended before its hold node started (status %d)", resp.StatusCode)
	return "", nil
}

const success = `{"result": "success"}`

// tooMany reports whether code and body are Dify's refusal of a run of
// the hold app past a limit of limit active runs.
func tooMany(code int, body string, limit int) bool {
	return code == http.StatusTooManyRequests && strings.Contains(body, `"code": "too_many_requests"`) &&
		strings.Contains(body, fmt.Sprintf("The current maximum concurrent requests allowed for 9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c01 is %d.", limit))
}

// A stop sent to the other replica ends the run "stopped", in sync mode
// (PostgreSQL LISTEN/NOTIFY) and async mode (Redis pub/sub), for workflow
// runs and chat messages; another user's stop does nothing; a stop of an
// unknown task answers success, as Dify does.
func TestClusterStop(t *testing.T) {
	for _, mode := range []string{"sync", "async"} {
		t.Run(mode, func(t *testing.T) {
			a, b := startReplicas(t, mode, "0")
			for _, c := range []struct {
				name, key, path, body, stop string
			}{
				{"workflow", "app-cluster-hold", "/v1/workflows/run", `{"inputs": {}, "user": "u1", "response_mode": "streaming"}`, "/v1/workflows/tasks/%s/stop"},
				{"chat", "app-cluster-hold-chat", "/v1/chat-messages", `{"inputs": {}, "query": "hi", "user": "u1", "response_mode": "streaming"}`, "/v1/chat-messages/%s/stop"},
			} {
				taskID, finish := heldStream(t, a.addr, c.key, c.path, c.body)
				stopPath := strings.Replace(c.stop, "%s", taskID, 1)
				// Another user's stop is ignored, as in Dify (and answered alike).
				if code, body := postBody(t, b.addr, c.key, stopPath, `{"user": "u2"}`); code != 200 || body != success {
					t.Fatalf("%s: another user's stop: %d %s", c.name, code, body)
				}
				if code, body := postBody(t, b.addr, c.key, stopPath, `{"user": "u1"}`); code != 200 || body != success {
					t.Fatalf("%s: stop on the other replica: %d %s", c.name, code, body)
				}
				if status := finish(); status != "stopped" {
					t.Fatalf("%s: the run ended %q, want stopped", c.name, status)
				}
			}
			if mode == "sync" {
				// The end user of a's runs is known to b too (async: once the
				// persister has written the app logs).
				id := record.EndUserID("9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c01", "u1")
				if code, body := get(t, b.addr, "app-cluster-hold", "/v1/end-users/"+id); code != 200 || !strings.Contains(body, `"session_id": "u1"`) {
					t.Fatalf("the other replica's end user: %d %s", code, body)
				}
			}
			start := time.Now()
			code, body := postBody(t, b.addr, "app-cluster-hold", "/v1/workflows/tasks/"+uuid.NewString()+"/stop", `{"user": "u1"}`)
			if code != 200 || body != success {
				t.Fatalf("stop of an unknown task: %d %s", code, body)
			}
			t.Logf("stop of an unknown task answered in %s", time.Since(start))
			if code, body := postBody(t, b.addr, "app-cluster-hold", "/v1/workflows/tasks/"+strings.Repeat("x", 100000)+"/stop", `{"user": "u1"}`); code != 200 || body != success {
				t.Fatalf("stop of a forged giant task id: %d %.200s", code, body)
			}
			a.stop(t)
			b.stop(t)
		})
	}
}

// APP_MAX_ACTIVE_REQUESTS holds across replicas under concurrent load:
// of 12 runs sent at once to two replicas, exactly 3 run and the rest get
// Dify's 429; once they end, their slots are free again.
func TestClusterLimit(t *testing.T) {
	const limit, runs = 3, 12
	for _, mode := range []string{"sync", "async"} {
		t.Run(mode, func(t *testing.T) {
			a, b := startReplicas(t, mode, "3")
			type result struct {
				code int
				body string
			}
			results := make(chan result, runs)
			var wg sync.WaitGroup
			for i := range runs {
				addr := []string{a.addr, b.addr}[i%2]
				wg.Go(func() {
					// No t.Fatal off the test's goroutine: a failed request is a result.
					req, _ := http.NewRequest("POST", "http://"+addr+"/v1/workflows/run", strings.NewReader(`{"inputs": {}, "user": "u"}`))
					req.Header.Set("Authorization", "Bearer app-cluster-hold")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						results <- result{0, err.Error()}
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					results <- result{resp.StatusCode, string(body)}
				})
			}
			deadline := time.After(60 * time.Second)
			for range limit {
				select {
				case <-hold.started:
				case <-deadline:
					t.Fatal("fewer runs than the limit started")
				}
			}
			for range runs - limit {
				select {
				case r := <-results:
					if !tooMany(r.code, r.body, limit) {
						t.Fatalf("a run past the limit: %d %s", r.code, r.body)
					}
				case <-deadline:
					t.Fatal("runs past the limit were not refused")
				}
			}
			select {
			case <-hold.started:
				t.Fatal("a run past the limit started")
			default:
			}
			releaseHolds()
			wg.Wait()
			close(results)
			for r := range results {
				if r.code != 200 || !strings.Contains(r.body, `"status": "succeeded"`) {
					t.Fatalf("a run within the limit: %d %s", r.code, r.body)
				}
			}
			// The slots are back: a run goes through on each replica.
			for _, s := range []*service{a, b} {
				if code, body := postBody(t, s.addr, "app-cluster-hold", "/v1/workflows/run", `{"inputs": {}, "user": "u"}`); code != 200 {
					t.Fatalf("a run after the others ended: %d %s", code, body)
				}
			}
			a.stop(t)
			b.stop(t)
		})
	}
}
