package async

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
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

// BenchmarkWriteAck measures what a run waits in Write for its final batch
// (one chain3 run, 7 records) against a real Redis, with AckBuffered and
// AckEnqueued, from 1 and 16 goroutines. ns/op is wall time over runs (the
// inverse of throughput); µs/write is the mean time one Write took, what
// the run's answer waits; writes/task is how many runs shared an enqueue.
func BenchmarkWriteAck(b *testing.B) {
	for _, ack := range []Ack{AckBuffered, AckEnqueued} {
		for _, par := range []int{1, 16} {
			b.Run(fmt.Sprintf("ack=%s/goroutines=%d", ack, par), func(b *testing.B) {
				opt := redisOpt(b)
				client := asynq.NewClient(opt)
				defer client.Close()
				queue := "bench-" + uuid.NewString()[:8]
				insp := asynq.NewInspector(opt)
				defer func() {
					insp.DeleteQueue(queue, true)
					insp.Close()
				}()
				sw := &switchable{q: client}
				w, err := New(sw, Config{Queue: queue, Ack: ack, Logger: quiet()})
				if err != nil {
					b.Fatal(err)
				}
				w.Start(context.Background())
				batches := make([]*repo.Batch, b.N)
				for i := range batches {
					batches[i] = chainBatch(1)
				}
				var (
					next    atomic.Int64
					waited  atomic.Int64
					wg      sync.WaitGroup
					errOnce sync.Once
					werr    error
				)
				b.ResetTimer()
				for range par {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
							start := time.Now()
							if err := w.Write(context.Background(), batches[i]); err != nil {
								errOnce.Do(func() { werr = err })
							}
							waited.Add(int64(time.Since(start)))
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				if werr != nil {
					b.Fatal(werr)
				}
				if err := w.Stop(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(waited.Load())/float64(b.N)/1e3, "µs/write")
				b.ReportMetric(float64(b.N)/float64(max(sw.n.Load(), 1)), "writes/task")
			})
		}
	}
}

// BenchmarkDecodeBatch measures the persister side's decoding of one task
// of 70 chain3 runs (490 records).
func BenchmarkDecodeBatch(b *testing.B) {
	p, err := EncodeBatch(chainBatch(70))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := DecodeBatch(p); err != nil {
			b.Fatal(err)
		}
	}
}
