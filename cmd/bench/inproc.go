package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flowrun/flowrun/internal/record"
	"github.com/flowrun/flowrun/internal/repo"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
	"github.com/flowrun/flowrun/internal/run"
)

// chain3 app of examples/apps.yaml.
const (
	chain3AppID      = "433c5666-65ca-4d27-b7bd-944f92f47d0e"
	chain3WorkflowID = "72ae29e8-3828-4026-91af-b1337ee0e007"
)

// inProcess measures ceiling (b), the naive sync baseline, and the same
// loop with flowrun's own sync recorder, both inside the bench process: a
// closed loop of NaiveClients goroutines, each running chain3 with the
// engine and writing its records to PostgreSQL through a pool of 16
// connections (the api's DATABASE_MAX_CONNS default).
//
//   - naive: every record an event produces is written on its own, as it
//     happens, with one autocommit statement (the store's guarded upsert
//     with a one-row batch: one round trip, one commit, per record).
//   - batched: record.Sync's recorder with the sql store, exactly as sync mode
//     wires it (writes pipelined per run, coalesced, one multi-row upsert
//     per write).
func (b *bench) inProcess(ctx context.Context) error {
	data, err := os.ReadFile(filepath.Join(b.cfg.RepoDir, "examples", "chain3.yml"))
	if err != nil {
		return err
	}
	eng := run.New(run.Config{MaxParallel: 10, MaxSteps: 500, Timeout: 20 * time.Minute, LoopMaxCount: 100,
		Logger: slog.New(slog.DiscardHandler)}, nil)
	wf, err := eng.Compile(data)
	if err != nil {
		return err
	}
	pcfg, err := pgxpool.ParseConfig(b.dbURL)
	if err != nil {
		return err
	}
	pcfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := reposql.New(pool)

	for _, naive := range []bool{true, false} {
		if err := b.truncate(ctx); err != nil {
			return err
		}
		var statements atomic.Int64
		res := closedLoopFunc(ctx, b.cfg.NaiveClients, b.cfg.Warmup, b.cfg.NaiveDuration, nil, func() func(int) result {
			return func(int) result {
				start := time.Now()
				err := runOnce(ctx, eng, wf, store, naive, &statements)
				return result{latency: time.Since(start), err: err, end: time.Now()}
			}
		})
		ip := &InProcess{Workflow: "chain3", Clients: b.cfg.NaiveClients, Runs: res.runs, Errors: res.errors, FirstError: res.firstEr,
			WindowS: round3(res.window.Seconds()), Latency: percentiles(res.lat)}
		if res.window > 0 {
			ip.RunsPerS = round3(float64(res.runs) / res.window.Seconds())
		}
		if res.total > 0 {
			ip.WritesPerRun = round3(float64(statements.Load()) / float64(res.total))
		}
		name := "batched (flowrun sync, in-process)"
		if naive {
			name = "naive (b)"
			b.rep.Ceilings.Naive = ip
		} else {
			b.rep.Ceilings.Batched = ip
		}
		b.log.Info(name, "runs_per_s", ip.RunsPerS, "p50_us", p50(ip.Latency), "writes_per_run", ip.WritesPerRun, "errors", ip.Errors)
	}
	return nil
}

// runOnce runs chain3 once with its records written naively or through
// the recorder; statements counts the write round trips.
func runOnce(ctx context.Context, eng *run.Engine, wf *run.Workflow, store *reposql.Store, naive bool, statements *atomic.Int64) error {
	inputs, err := wf.PrepareInputs(map[string]any{"query": "hello"})
	if err != nil {
		return err
	}
	id := uuid.NewString()
	p := run.Params{RunID: id, TaskID: uuid.NewString(), WorkflowID: chain3WorkflowID, AppID: chain3AppID, UserID: "bench", Inputs: inputs}
	src := record.Source{RunID: id, AppID: chain3AppID, WorkflowID: chain3WorkflowID, SessionID: "bench",
		TriggeredFrom: "app-run", CreatedFrom: "service-api"}
	counting := countingWriter{w: store, n: statements}
	var info *run.RunInfo
	if naive {
		var werr error
		info = eng.Run(ctx, wf, p, run.ListenerFunc(func(e *run.Event) {
			b := record.Convert(&src, e)
			if b == nil {
				return
			}
			for _, r := range b.Runs {
				werr = errors.Join(werr, counting.Write(ctx, &repo.Batch{Runs: []*repo.WorkflowRun{r}}))
			}
			for _, n := range b.NodeExecutions {
				werr = errors.Join(werr, counting.Write(ctx, &repo.Batch{NodeExecutions: []*repo.NodeExecution{n}}))
			}
			for _, l := range b.AppLogs {
				werr = errors.Join(werr, counting.Write(ctx, &repo.Batch{AppLogs: []*repo.AppLog{l}}))
			}
		}))
		err = werr
	} else {
		rec := record.Sync(counting).Recorder(ctx, src, nil)
		info = eng.Run(ctx, wf, p, rec)
		err = rec.Wait()
	}
	if err != nil {
		return err
	}
	if info == nil || info.Status != run.StatusSucceeded {
		return fmt.Errorf("run did not succeed: %+v", info)
	}
	return nil
}

// countingWriter counts writes (each is one statement round trip for the
// sql store).
type countingWriter struct {
	w repo.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(ctx context.Context, b *repo.Batch) error {
	c.n.Add(1)
	return c.w.Write(ctx, b)
}
