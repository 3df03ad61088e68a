package async

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/flowrun/flowrun/internal/dbtest"
	"github.com/flowrun/flowrun/internal/repo"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
)

// chainBatch returns the final records of runs chain3-like runs: per run
// the run, five node executions and the app log, with JSON of the sizes
// chain3 produces.
func chainBatch(runs int) *repo.Batch {
	b := &repo.Batch{}
	now := time.Now()
	for range runs {
		id := uuid.NewString()
		in := []byte(`{"query":"hello","sys.files":[],"sys.user_id":"bench","sys.app_id":"chain3","sys.workflow_id":"wf-chain3","sys.workflow_run_id":"` + id + `"}`)
		b.Runs = append(b.Runs, &repo.WorkflowRun{ID: id, TenantID: "t", AppID: "chain3", WorkflowID: "wf", Type: "workflow",
			TriggeredFrom: "app-run", Version: "v", Inputs: in, Outputs: []byte(`{"answer":"hello-1-2-3"}`), Status: repo.StatusSucceeded,
			ElapsedTime: 0.001, TotalSteps: 5, CreatedByRole: repo.RoleEndUser, CreatedBy: "u", SessionID: "bench",
			CreatedAt: now, FinishedAt: now, Seq: 12})
		for i := range 5 {
			b.NodeExecutions = append(b.NodeExecutions, &repo.NodeExecution{ID: uuid.NewString(), TenantID: "t", AppID: "chain3",
				WorkflowID: "wf", TriggeredFrom: "workflow-run", WorkflowRunID: id, Index: int64(i + 1), NodeID: fmt.Sprintf("n%d", i),
				NodeType: "template-transform", Title: "step", Status: repo.StatusSucceeded, ElapsedTime: 0.0001,
				Inputs: []byte(`{"arg1":"hello-1"}`), ProcessData: []byte(`{}`), Outputs: []byte(`{"output":"hello-1-2"}`),
				CreatedByRole: repo.RoleEndUser, CreatedBy: "u", CreatedAt: now, FinishedAt: now, Seq: int64(3 + 2*i)})
		}
		b.AppLogs = append(b.AppLogs, &repo.AppLog{ID: uuid.NewString(), TenantID: "t", AppID: "chain3", WorkflowID: "wf",
			WorkflowRunID: id, CreatedFrom: "service-api", CreatedByRole: repo.RoleEndUser, CreatedBy: "u", SessionID: "bench", CreatedAt: now, Seq: 1})
	}
	return b
}

// BenchmarkPersistBatch measures the persister's handler on a task of 70
// chain3 runs (490 records): decode, then one transaction into a real
// PostgreSQL. records/s is the drain rate of one handler goroutine.
func BenchmarkPersistBatch(b *testing.B) {
	h := NewHandler(reposql.New(dbtest.Pool(b)), quiet(), nil)
	tasks := make([]*asynq.Task, 0, b.N)
	for range b.N {
		p, err := EncodeBatch(chainBatch(70))
		if err != nil {
			b.Fatal(err)
		}
		tasks = append(tasks, asynq.NewTask(TaskType, p))
	}
	b.ResetTimer()
	for i := range b.N {
		if err := h.ProcessTask(context.Background(), tasks[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*490)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkEncodeBatch measures the api side's encoding of one task.
func BenchmarkEncodeBatch(b *testing.B) {
	batch := chainBatch(70)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeBatch(batch); err != nil {
			b.Fatal(err)
		}
	}
}
