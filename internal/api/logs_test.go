package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/record"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/memory"
)

func runBlocking(t *testing.T, b *bundle, key, query, user string) (taskID, runID string) {
	t.Helper()
	rec := b.do("POST", "/v1/workflows/run", key, fmt.Sprintf(`{"inputs": {"query": %q}, "user": %q}`, query, user))
	if rec.Code != http.StatusOK {
		t.Fatalf("run: %d %s", rec.Code, rec.Body)
	}
	var body struct {
		TaskID string `json:"task_id"`
		RunID  string `json:"workflow_run_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	return body.TaskID, body.RunID
}

func TestGetRunFromRecords(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	_, id := runBlocking(t, b, chain3Key, "hi <b>", "u1")
	rec := b.do("GET", "/v1/workflows/run/"+id, chain3Key, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if out, _ := got["outputs"].(map[string]any); got["status"] != "succeeded" || out["answer"] != "hi <b>-1-2-3" || got["total_steps"] != 5.0 {
		t.Fatalf("get run: %s", rec.Body)
	}
	if in, _ := got["inputs"].(string); !strings.HasPrefix(in, `{"query": "hi <b>", "sys.files": [], "sys.user_id": "u1"`) {
		t.Fatalf("inputs %q: want a json.dumps string", in)
	}
	// Another app's key does not see the run.
	if rec := b.do("GET", "/v1/workflows/run/"+id, echoKey, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("other app: %d", rec.Code)
	}
}

func TestNodeExecutions(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	_, id := runBlocking(t, b, chain3Key, "x", "u1")
	rec := b.do("GET", "/v1/workflows/run/"+id+"/node-executions", chain3Key, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var got struct {
		Data []struct {
			NodeID      string         `json:"node_id"`
			Index       int            `json:"index"`
			Status      string         `json:"status"`
			Outputs     map[string]any `json:"outputs"`
			Predecessor *string        `json:"predecessor_node_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := []string{"start", "step1", "step2", "step3", "end"}
	if len(got.Data) != len(want) {
		t.Fatalf("%d node executions: %s", len(got.Data), rec.Body)
	}
	for i, n := range got.Data {
		if n.NodeID != want[i] || n.Index != i+1 || n.Status != "succeeded" {
			t.Fatalf("node %d: %+v", i, n)
		}
	}
	if got.Data[4].Outputs["answer"] != "x-1-2-3" || *got.Data[1].Predecessor != "start" {
		t.Fatalf("end outputs %v", got.Data[4].Outputs)
	}
	if rec := b.do("GET", "/v1/workflows/run/00000000-0000-4000-8000-000000000000/node-executions", chain3Key, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown run: %d", rec.Code)
	}
}

func TestLogs(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	var ids []string
	for i := range 5 {
		_, id := runBlocking(t, b, echoKey, fmt.Sprintf("q%d", i), fmt.Sprintf("user-%d", i%2))
		ids = append(ids, id)
	}
	type page struct {
		Page    int  `json:"page"`
		Limit   int  `json:"limit"`
		Total   int  `json:"total"`
		HasMore bool `json:"has_more"`
		Data    []struct {
			WorkflowRun struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"workflow_run"`
			CreatedFrom string `json:"created_from"`
			EndUser     struct {
				SessionID string `json:"session_id"`
			} `json:"created_by_end_user"`
		} `json:"data"`
	}
	get := func(q string) page {
		t.Helper()
		rec := b.do("GET", "/v1/workflows/logs"+q, echoKey, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("logs%s: %d %s", q, rec.Code, rec.Body)
		}
		var p page
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := get("?page=1&limit=2")
	if p.Total != 5 || !p.HasMore || len(p.Data) != 2 || p.Limit != 2 {
		t.Fatalf("page 1: %+v", p)
	}
	if p.Data[0].CreatedFrom != "service-api" || p.Data[0].WorkflowRun.Status != "succeeded" {
		t.Fatalf("entry: %+v", p.Data[0])
	}
	if p := get("?page=3&limit=2"); len(p.Data) != 1 || p.HasMore {
		t.Fatalf("page 3: %+v", p)
	}
	if p := get("?created_by_end_user_session_id=user-1"); p.Total != 2 {
		t.Fatalf("session filter: %+v", p)
	}
	if p := get("?keyword=" + ids[2]); p.Total != 1 || p.Data[0].WorkflowRun.ID != ids[2] {
		t.Fatalf("keyword by run id: %+v", p)
	}
	if p := get("?status=failed"); p.Total != 0 {
		t.Fatalf("status filter: %+v", p)
	}
	for q, msg := range map[string]string{
		"?status=weird":                    "status",
		"?limit=0":                         "between 1 and 100",
		"?page=x":                          "valid integer",
		"?created_at__before=yesterday":    "isoformat",
		"?created_by_account=a@example.co": "Account not found: a@example.co",
	} {
		rec := b.do("GET", "/v1/workflows/logs"+q, echoKey, "")
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "invalid_param") || !strings.Contains(rec.Body.String(), msg) {
			t.Errorf("logs%s: %d %s", q, rec.Code, rec.Body)
		}
	}
}

// failing is a store whose writes fail, as PostgreSQL does when it is down.
type failing struct{ *memory.Store }

func (failing) Write(context.Context, *repo.Batch) error {
	return fmt.Errorf("dial tcp: %w", repo.ErrUnavailable)
}

// writeOnly hides every method of a writer but Write.
type writeOnly struct{ repo.Writer }

// TestDurableModeReportsUnwrittenRecords: sync mode (pipelined writes) and
// async mode with ASYNC_ACK=enqueued (inline writes) tell the client when
// a run's records could not be written.
func TestDurableModeReportsUnwrittenRecords(t *testing.T) {
	t.Parallel()
	for _, inline := range []bool{false, true} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) {
			t.Parallel()
			m, _ := memory.New(memory.Config{})
			b := setup(t, options{mutate: func(c *api.Config) {
				// Write only: a memory.Store would take an inline
				// recorder's records lazily (record.Deferrer), as in memory
				// mode, and never write them.
				w := writeOnly{failing{m}}
				c.Records, c.Reader = record.Sync(w), m
				if inline {
					c.Records = record.Async(w, record.AsyncConfig{Durable: true})
				}
			}})
			rec := b.do("POST", "/v1/workflows/run", echoKey, `{"inputs": {"query": "x"}, "user": "u"}`)
			if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"code": "persistence_unavailable"`) {
				t.Fatalf("blocking: %d %s", rec.Code, rec.Body)
			}
			rec = b.do("POST", "/v1/workflows/run", echoKey, `{"inputs": {"query": "x"}, "user": "u", "response_mode": "streaming"}`)
			frames := strings.Split(strings.TrimSpace(rec.Body.String()), "\n\n")
			last := frames[len(frames)-1]
			if !strings.Contains(last, `"event":"error"`) || !strings.Contains(last, `"code":"persistence_unavailable"`) {
				t.Fatalf("streaming: last frame %s", last)
			}
		})
	}
}
