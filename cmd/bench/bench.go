package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// recordTables are the tables the api (sync) and the persister (async)
// write.
var recordTables = []string{"workflow_runs", "workflow_node_executions", "workflow_app_logs"}

// bench holds one run's state.
type bench struct {
	cfg  config
	log  *slog.Logger
	work string

	apiBin, persisterBin string
	adminURL, dbURL      string
	redisURL             string
	dbName, queue        string
	servicesDir          string
	dbCreated            bool

	pool   *pgxpool.Pool
	pgPID  int // the local PostgreSQL's postmaster, 0 if unknown
	insp   *asynq.Inspector
	client *http.Client
	rep    *Report
	ceil   *ceiling // ceiling (a), once started
}

// runBench performs a whole bench run and returns its report. The report is
// returned (and written) even when some phase failed, with that error.
func runBench(ctx context.Context, cfg config, log *slog.Logger) (*Report, error) {
	began := time.Now()
	b := &bench{cfg: cfg, log: log, rep: &Report{Generated: began.UTC().Round(time.Second), Profile: cfg.Profile, Note: cfg.Note, Command: cfg.Command}}
	b.rep.Settings = cfg.settings()
	b.rep.Reference = isReference(b.rep.Settings) && cfg.PGDurable && cfg.APILogLevel == "info" && len(cfg.APIEnv) == 0 && len(cfg.PersisterEnv) == 0
	b.rep.Machine = machineInfo()
	b.rep.Config = map[string]map[string]string{}

	// As root, PostgreSQL runs as `postgres` and must enter the directory.
	base := os.TempDir()
	if os.Geteuid() == 0 {
		base = "/tmp"
	}
	work, err := os.MkdirTemp(base, "flowrun-bench-")
	if err != nil {
		return nil, err
	}
	b.work = work
	_ = os.Chmod(work, 0o755)
	defer func() {
		if cfg.Keep {
			log.Info("kept work directory (logs)", "dir", work)
			return
		}
		os.RemoveAll(work)
	}()

	if err := b.setup(ctx); err != nil {
		b.teardown()
		return nil, err
	}
	defer b.teardown()

	var runErr error
	for _, mode := range cfg.Modes {
		if err := b.runMode(ctx, mode); err != nil {
			runErr = fmt.Errorf("mode %s: %w", mode, err)
			break
		}
	}
	if runErr == nil && len(cfg.Clients) > 0 {
		runErr = b.httpCeiling(ctx)
	}
	if runErr == nil {
		runErr = b.inProcess(ctx)
	}
	b.rep.Targets = evaluateTargets(b.rep)
	b.rep.Machine.LoadAfter = loadavg()
	b.rep.DurationS = round3(time.Since(began).Seconds())
	if cfg.OutDir != "" {
		if err := writeOutputs(cfg.OutDir, b.rep); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	return b.rep, runErr
}

// setup starts or connects the services, builds the binaries and creates
// the bench's own database and queue.
func (b *bench) setup(ctx context.Context) error {
	b.adminURL, b.redisURL = b.cfg.DatabaseURL, b.cfg.RedisURL
	if b.adminURL == "" || b.redisURL == "" {
		dir := filepath.Join(b.work, "services")
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		args := []string{filepath.Join(b.cfg.RepoDir, "scripts", "services.sh"), "start", dir}
		if b.cfg.PGDurable {
			args = append(args, "durable")
		}
		b.log.Info("starting PostgreSQL and Redis", "script", "scripts/services.sh")
		cmd := exec.CommandContext(ctx, "bash", args...)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			// Stop whatever did start.
			_ = exec.Command("bash", filepath.Join(b.cfg.RepoDir, "scripts", "services.sh"), "stop", dir).Run()
			return fmt.Errorf("scripts/services.sh start: %w", err)
		}
		b.servicesDir = dir
		for _, line := range strings.Split(string(out), "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
			switch {
			case k == "DATABASE_URL" && b.adminURL == "":
				b.adminURL = v
			case k == "REDIS_URL" && b.redisURL == "":
				b.redisURL = v
			}
		}
		b.rep.Settings.OwnServices = true
	}
	if b.adminURL == "" || b.redisURL == "" {
		return errors.New("no PostgreSQL or Redis URL")
	}

	if err := b.build(ctx); err != nil {
		return err
	}

	id := randHex(4)
	b.dbName = "flowrun_bench_" + id
	b.queue = "flowrun-bench-" + id
	admin, err := pgx.Connect(ctx, b.adminURL)
	if err != nil {
		return fmt.Errorf("connect PostgreSQL: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+b.dbName); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	b.dbCreated = true
	u, err := url.Parse(b.adminURL)
	if err != nil {
		return err
	}
	u.Path = "/" + b.dbName
	b.dbURL = u.String()

	mig := exec.CommandContext(ctx, b.persisterBin, "migrate", "up")
	mig.Env = []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + b.dbURL}
	if out, err := mig.CombinedOutput(); err != nil {
		return fmt.Errorf("persister migrate up: %w\n%s", err, out)
	}
	pcfg, err := pgxpool.ParseConfig(b.dbURL)
	if err != nil {
		return err
	}
	pcfg.MaxConns = 24
	if b.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return err
	}
	if b.rep.Postgres, err = postgresInfo(ctx, b.pool); err != nil {
		return err
	}
	b.pgPID = postmasterPID(ctx, b.pool)
	if b.rep.Redis, err = redisInfo(ctx, b.redisURL); err != nil {
		return err
	}
	opt, err := asynq.ParseRedisURI(b.redisURL)
	if err != nil {
		return err
	}
	b.insp = asynq.NewInspector(opt)
	b.client = newHTTPClient(max(slices.Max(append([]int{64}, b.cfg.Clients...)), b.cfg.SoakClients))
	return nil
}

func (b *bench) teardown() {
	b.stopCeiling()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if b.pool != nil {
		b.pool.Close()
	}
	if b.insp != nil {
		if err := b.insp.DeleteQueue(b.queue, true); err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			b.log.Warn("delete queue", "queue", b.queue, "err", err)
		}
		b.insp.Close()
	}
	if b.dbCreated && !b.cfg.Keep {
		if admin, err := pgx.Connect(ctx, b.adminURL); err == nil {
			if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+b.dbName+" WITH (FORCE)"); err != nil {
				b.log.Warn("drop database", "db", b.dbName, "err", err)
			}
			admin.Close(ctx)
		}
	}
	if b.servicesDir != "" && !b.cfg.Keep {
		cmd := exec.Command("bash", filepath.Join(b.cfg.RepoDir, "scripts", "services.sh"), "stop", b.servicesDir)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			b.log.Warn("stop services", "err", err)
		}
	}
}

// build compiles cmd/api and cmd/persister into the work directory (or
// uses -bin-dir).
func (b *bench) build(ctx context.Context) error {
	if b.cfg.BinDir != "" {
		b.apiBin, b.persisterBin = filepath.Join(b.cfg.BinDir, "api"), filepath.Join(b.cfg.BinDir, "persister")
		return nil
	}
	dir := filepath.Join(b.work, "bin")
	args := []string{"build"}
	args = append(args, strings.Fields(b.cfg.BuildFlags)...)
	args = append(args, "-o", dir+"/", "./cmd/api", "./cmd/persister")
	b.log.Info("building", "cmd", "go "+strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = b.cfg.RepoDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	b.apiBin, b.persisterBin = filepath.Join(dir, "api"), filepath.Join(dir, "persister")
	return nil
}

// procs of one mode.
type modeProcs struct {
	api, persister   *process
	base             string
	metrics          string // api metrics address
	persisterMetrics string // persister metrics address
}

func (b *bench) apiEnv(mode, metrics string) []string {
	env := map[string]string{
		"ADDR":               "127.0.0.1:0",
		"APPS_DIR":           filepath.Join(b.cfg.RepoDir, "examples"),
		"WORKFLOW_REPO_MODE": mode,
		"LOG_LEVEL":          b.cfg.APILogLevel,
		"METRICS_ADDR":       metrics,
	}
	if mode != "memory" {
		env["DATABASE_URL"] = b.dbURL
	}
	if mode == "async" {
		env["REDIS_URL"] = b.redisURL
		env["ASYNC_QUEUE"] = b.queue
	}
	setEnv(env, b.cfg.APIEnv)
	b.recordConfig("api ("+mode+")", env)
	return envList(env)
}

func (b *bench) persisterEnv(metrics string) []string {
	env := map[string]string{
		"DATABASE_URL":           b.dbURL,
		"REDIS_URL":              b.redisURL,
		"PERSISTER_QUEUE":        b.queue,
		"PERSISTER_METRICS_ADDR": metrics,
		"LOG_LEVEL":              "info",
	}
	setEnv(env, b.cfg.PersisterEnv)
	b.recordConfig("persister", env)
	return envList(env)
}

// setEnv sets each KEY=VALUE of kvs in env.
func setEnv(env map[string]string, kvs []string) {
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
}

func (b *bench) recordConfig(name string, env map[string]string) {
	m := map[string]string{}
	for k, v := range env {
		switch k {
		case "DATABASE_URL", "REDIS_URL", "APPS_DIR", "ASYNC_QUEUE", "PERSISTER_QUEUE", "METRICS_ADDR", "PERSISTER_METRICS_ADDR":
			v = "(bench's own)"
		}
		m[k] = v
	}
	b.rep.Config[name] = m
}

func envList(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

func (b *bench) startAPI(ctx context.Context, mode string) (*process, string, error) {
	metrics, err := freePort()
	if err != nil {
		return nil, "", err
	}
	env := b.apiEnv(mode, metrics)
	ready := logLine(listeningAddr)
	if b.cfg.APILogLevel != "info" && b.cfg.APILogLevel != "debug" {
		// The listening line is not logged: pick the port ourselves.
		addr, err := freePort()
		if err != nil {
			return nil, "", err
		}
		env = append(env, "ADDR="+addr)
		ready = func(*process) (string, bool) { return addr, httpGet("http://"+addr+"/healthz") == nil }
	}
	p, err := startProcess(ctx, "api-"+mode, b.apiBin, nil, env, b.work, ready)
	if err != nil {
		return nil, "", err
	}
	return p, metrics, nil
}

// startPersister starts the persister and records its metrics address in
// mp.
func (b *bench) startPersister(ctx context.Context, mp *modeProcs) (*process, error) {
	metrics, err := freePort()
	if err != nil {
		return nil, err
	}
	mp.persisterMetrics = metrics
	return startProcess(ctx, "persister", b.persisterBin, nil, b.persisterEnv(metrics), b.work, logLine(persisterStarted))
}

func httpGet(u string) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// truncate empties the record tables, so each mode starts from the same
// state.
func (b *bench) truncate(ctx context.Context) error {
	_, err := b.pool.Exec(ctx, "TRUNCATE "+strings.Join(recordTables, ", "))
	return err
}

// runMode measures one persistence mode: every cell, the soak, and for
// async the lag, the queue depth, the drain rate and the COPY ceiling.
func (b *bench) runMode(ctx context.Context, mode string) (err error) {
	b.log.Info("mode", "mode", mode)
	if err := b.truncate(ctx); err != nil {
		return err
	}
	api, metrics, err := b.startAPI(ctx, mode)
	if err != nil {
		return err
	}
	mp := &modeProcs{api: api, base: "http://" + api.addr, metrics: metrics}
	defer func() {
		// A server that fails to stop cleanly fails the run.
		if mp.persister != nil {
			err = errors.Join(err, mp.persister.stop(30*time.Second))
		}
		// net/http's Shutdown waits up to 5 s for connections that never
		// carried a request (the transport dials spares): close ours first.
		b.client.CloseIdleConnections()
		t := time.Now()
		err = errors.Join(err, api.stop(30*time.Second))
		b.log.Info("api stopped", "mode", mode, "took", time.Since(t).Round(time.Millisecond))
	}()
	if mode == "async" {
		if mp.persister, err = b.startPersister(ctx, mp); err != nil {
			return err
		}
	}
	if b.rep.Ceilings.BodyBytes == 0 {
		if n, err := b.bodySize(ctx, mp.base); err == nil {
			b.rep.Ceilings.BodyBytes = n
		}
	}

	for _, wf := range b.cfg.Workflows {
		for _, rm := range b.cfg.ResponseModes {
			for _, c := range b.cfg.Clients {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				// Memory mode's chain3 blocking cells are compared with
				// ceiling (a): measure it just before and just after.
				bracket := func() error {
					if mode != "memory" || wf != "chain3" || rm != "blocking" {
						return nil
					}
					if err := b.ceilingWindow(ctx, c, b.cfg.Window/2); err != nil {
						return fmt.Errorf("ceiling (a): %w", err)
					}
					return nil
				}
				if err := bracket(); err != nil {
					return err
				}
				cell, err := b.measureCell(ctx, mp, mode, wf, rm, c)
				if err != nil {
					return err
				}
				if err := bracket(); err != nil {
					return err
				}
				b.rep.Cells = append(b.rep.Cells, *cell)
			}
		}
	}
	ms := ModeSummary{Mode: mode}
	if b.cfg.SoakRuns > 0 {
		if ms.Soak, err = b.soak(ctx, mp); err != nil {
			return err
		}
	}
	if _, hwm, err := procMem(api.pid()); err == nil {
		ms.APIPeakRSSMB = round3(float64(hwm) / (1 << 20))
	}
	if mode == "async" {
		if b.rep.Lag, err = b.lag(ctx, mp); err != nil {
			return fmt.Errorf("persistence lag: %w", err)
		}
		if b.rep.Queue, err = b.queueDepth(ctx, mp); err != nil {
			return fmt.Errorf("queue depth: %w", err)
		}
		// Peak RSS before the persister is restarted by the drain.
		if _, hwm, err := procMem(mp.persister.pid()); err == nil {
			v := round3(float64(hwm) / (1 << 20))
			ms.PersisterPeakRSSMB = &v
		}
		if b.rep.Drain, err = b.drain(ctx, mp); err != nil {
			return fmt.Errorf("drain: %w", err)
		}
		if b.rep.Ceilings.Copy, err = b.copyCeiling(ctx); err != nil {
			return fmt.Errorf("COPY ceiling: %w", err)
		}
		if _, hwm, err := procMem(mp.persister.pid()); err == nil && ms.PersisterPeakRSSMB != nil {
			*ms.PersisterPeakRSSMB = max(*ms.PersisterPeakRSSMB, round3(float64(hwm)/(1<<20)))
		}
	}
	if mode == "async" {
		if v, err := apiMetric(mp, "flowrun_records_dropped_total"); err == nil {
			ms.APIDroppedRecords = &v
		}
	}
	ms.APIErrorLogLines, ms.FirstAPIErrorLine = api.errorLines()
	b.rep.Modes = append(b.rep.Modes, ms)
	return nil
}

// bodySize returns the size of a chain3 blocking response body.
func (b *bench) bodySize(ctx context.Context, base string) (int, error) {
	t := runTarget(base, "chain3", false)
	var buf bytes.Buffer
	r := t.do(ctx, b.client, 0, &buf, false)
	if r.err != nil {
		return 0, r.err
	}
	return buf.Len(), nil
}

func (b *bench) measureCell(ctx context.Context, mp *modeProcs, mode, wf, rm string, clients int) (*Cell, error) {
	t := runTarget(mp.base, wf, rm == "streaming")
	self := os.Getpid()
	var apiS, benchS cpuSnap
	var apiE, benchE time.Duration
	var persS cpuSnap
	if mp.persister != nil {
		persS = snapCPU(mp.persister.pid())
	}
	var pgS cpuSnap
	if mode != "memory" {
		pgS = snapPG(b.pgPID)
	}
	res := closedLoop(ctx, b.client, t, clients, b.cfg.Warmup, b.cfg.Window, func(start bool) {
		if start {
			apiS, benchS = snapCPU(mp.api.pid()), snapCPU(self)
			return
		}
		apiE, _ = procCPU(mp.api.pid())
		benchE, _ = procCPU(self)
	})
	cell := &Cell{
		Mode: mode, Workflow: wf, ResponseMode: rm, Clients: clients,
		Runs: res.runs, Errors: res.errors, FirstError: res.firstEr,
		WindowS: round3(res.window.Seconds()), Latency: percentiles(res.lat), TTFE: percentiles(res.ttfe),
	}
	if res.window > 0 {
		cell.RunsPerS = round3(float64(res.runs) / res.window.Seconds())
	}
	if res.runs > 0 {
		a := us(apiE-apiS.cpu) / float64(res.runs)
		s := us(benchE-benchS.cpu) / float64(res.runs)
		cell.APICPUus, cell.BenchCPUus = ptr(round3(a)), ptr(round3(s))
	}
	if mp.persister != nil {
		// The persister works behind the api: wait until it has written
		// every record of this cell, warm-up included, and charge its CPU
		// to every run of the cell.
		if _, err := b.waitDrained(ctx, mp, 2*time.Minute); err != nil {
			return nil, err
		}
		if v := persS.perRun(res.total); v != nil {
			cell.PersisterCPUus = ptr(round3(*v))
		}
	}
	// PostgreSQL's CPU, like the persister's, from before the warm-up to
	// the last record written, over every run.
	cell.PGCPUus = pgS.perUnit(snapPG(b.pgPID), int64(res.total))
	b.log.Info("cell", "mode", mode, "workflow", wf, "response", rm, "clients", clients,
		"runs_per_s", cell.RunsPerS, "p50_us", p50(cell.Latency), "errors", cell.Errors)
	if cell.Errors > 0 {
		b.log.Warn("cell had errors", "first", cell.FirstError)
	}
	return cell, nil
}

func p50(p *Percentiles) float64 {
	if p == nil {
		return 0
	}
	return p.P50
}

func ptr[T any](v T) *T { return &v }

// queueLen returns the tasks waiting in or being processed from the queue,
// and the tasks waiting for a retry.
func (b *bench) queueLen() (tasks, retry int, err error) {
	qi, err := b.insp.GetQueueInfo(b.queue)
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	return qi.Pending + qi.Active, qi.Retry, nil
}

// settle waits until the api has handed every record to Redis and the
// persister has emptied the queue.
func (b *bench) settle(ctx context.Context, mp *modeProcs, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		buffered, err := b.apiBuffered(mp)
		if err != nil {
			return err
		}
		tasks, _, err := b.queueLen()
		if err != nil {
			return err
		}
		if buffered == 0 && tasks == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("backlog not drained after %v: %d records in the api, %d tasks queued", limit, buffered, tasks)
		}
		if !sleepCtx(ctx, 20*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// apiBuffered reads flowrun_records_buffered from the api's metrics:
// records in the api's memory not yet enqueued.
func (b *bench) apiBuffered(mp *modeProcs) (int, error) {
	v, err := apiMetric(mp, "flowrun_records_buffered")
	return int(v), err
}

// apiMetric reads one unlabelled metric from the api's /metrics.
func apiMetric(mp *modeProcs, name string) (float64, error) {
	resp, err := http.Get("http://" + mp.metrics + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

// waitDrained waits until the api holds no buffered record and the queue
// is empty, twice in a row 10 ms apart (a batch being enqueued is in
// neither place for a moment). It returns how long that took.
func (b *bench) waitDrained(ctx context.Context, mp *modeProcs, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(limit)
	empty := 0
	for {
		buffered, err := b.apiBuffered(mp)
		if err != nil {
			return 0, fmt.Errorf("api metrics: %w", err)
		}
		tasks, retry, err := b.queueLen()
		if err != nil {
			return 0, err
		}
		if retry > 0 {
			return 0, fmt.Errorf("%d batches failed and wait for a retry; persister log:\n%s", retry, mp.persister.tail(10))
		}
		if buffered == 0 && tasks == 0 {
			empty++
			if empty == 2 {
				return time.Since(start), nil
			}
		} else {
			empty = 0
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("queue not drained after %s (%d tasks, %d buffered records)", limit, tasks, buffered)
		}
		if !sleepCtx(ctx, 10*time.Millisecond) {
			return 0, ctx.Err()
		}
	}
}

// soak sends SoakRuns chain3 blocking runs and samples the api's RSS.
func (b *bench) soak(ctx context.Context, mp *modeProcs) (*Soak, error) {
	t := runTarget(mp.base, "chain3", false)
	var progress atomic.Int64
	var mu sync.Mutex
	var samples []RSSSample
	maxBuffered := -1
	if rss, _, err := procMem(mp.api.pid()); err == nil {
		samples = append(samples, RSSSample{Runs: 0, RSSMB: round3(float64(rss) / (1 << 20))})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if rss, _, err := procMem(mp.api.pid()); err == nil {
				mu.Lock()
				samples = append(samples, RSSSample{Runs: int(progress.Load()), RSSMB: round3(float64(rss) / (1 << 20))})
				mu.Unlock()
			}
			if mp.persister != nil {
				if n, err := b.apiBuffered(mp); err == nil {
					maxBuffered = max(maxBuffered, n)
				}
			}
		}
	}()
	res := countLoop(ctx, b.client, t, b.cfg.SoakClients, b.cfg.SoakRuns, &progress)
	close(stop)
	wg.Wait()
	if rss, _, err := procMem(mp.api.pid()); err == nil {
		samples = append(samples, RSSSample{Runs: res.runs + res.errors, RSSMB: round3(float64(rss) / (1 << 20))})
	}
	s := &Soak{Runs: res.runs, Errors: res.errors, Clients: b.cfg.SoakClients, Latency: percentiles(res.lat)}
	if maxBuffered >= 0 {
		s.MaxBuffered = &maxBuffered
	}
	if res.window > 0 {
		s.RunsPerS = round3(float64(res.runs) / res.window.Seconds())
	}
	s.TrendPct = round3(rssTrend(samples, b.cfg.SoakRuns))
	// Keep at most ~60 points in the report.
	if step := len(samples) / 60; step > 1 {
		var thin []RSSSample
		for i := 0; i < len(samples); i += step {
			thin = append(thin, samples[i])
		}
		if thin[len(thin)-1] != samples[len(samples)-1] {
			thin = append(thin, samples[len(samples)-1])
		}
		samples = thin
	}
	s.Samples = samples
	if mp.persister != nil {
		if _, err := b.waitDrained(ctx, mp, 5*time.Minute); err != nil {
			return nil, err
		}
	}
	b.log.Info("soak", "runs", s.Runs, "runs_per_s", s.RunsPerS, "trend_pct", s.TrendPct)
	return s, nil
}

// rssTrend is the growth in percent of mean RSS over the last quarter of
// the soak against the second quarter (the first is warm-up); with too few
// samples, last against first.
func rssTrend(samples []RSSSample, n int) float64 {
	mean := func(lo, hi float64) (float64, int) {
		var sum float64
		var k int
		for _, s := range samples {
			f := float64(s.Runs) / float64(max(n, 1))
			if f >= lo && f <= hi {
				sum += s.RSSMB
				k++
			}
		}
		if k == 0 {
			return 0, 0
		}
		return sum / float64(k), k
	}
	q2, k2 := mean(0.25, 0.5)
	q4, k4 := mean(0.75, 1.0)
	if k2 == 0 || k4 == 0 {
		if len(samples) < 2 || samples[0].RSSMB == 0 {
			return 0
		}
		q2, q4 = samples[0].RSSMB, samples[len(samples)-1].RSSMB
	}
	return (q4 - q2) / q2 * 100
}

// queueDepth runs an open-loop rate and samples the queue.
func (b *bench) queueDepth(ctx context.Context, mp *modeProcs) (*QueueResult, error) {
	every := max(100*time.Millisecond, b.cfg.QueueDuration/60)
	var samples []QueueSample
	var sampleErr error
	stop := make(chan struct{})
	done := make(chan struct{})
	begin := time.Now()
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			tasks, _, err := b.queueLen()
			buffered, err2 := b.apiBuffered(mp)
			if err = errors.Join(err, err2); err != nil {
				sampleErr = err
				continue
			}
			samples = append(samples, QueueSample{T: round3(time.Since(begin).Seconds()), Tasks: tasks, Buffered: buffered})
		}
	}()
	res := openLoop(ctx, b.client, runTarget(mp.base, "chain3", false), b.cfg.QueueRate, b.cfg.QueueDuration, 2048, nil)
	close(stop)
	<-done
	if len(samples) < 2 && sampleErr != nil {
		return nil, sampleErr
	}
	after, err := b.waitDrained(ctx, mp, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	q := &QueueResult{Rate: b.cfg.QueueRate, DurationS: round3(b.cfg.QueueDuration.Seconds()), Sent: res.sent, Missed: res.missed,
		Errors: res.errors, Request: percentiles(res.lat), Samples: samples, DrainAfterS: round3(after.Seconds())}
	if res.elapsed > 0 {
		q.AchievedPS = round3(float64(res.runs) / res.elapsed.Seconds())
	}
	var q2, q4, b2, b4 []float64
	for _, s := range samples {
		q.MaxTasks = max(q.MaxTasks, s.Tasks)
		q.MaxBuffered = max(q.MaxBuffered, s.Buffered)
		f := s.T / b.cfg.QueueDuration.Seconds()
		switch {
		case f >= 0.25 && f < 0.5:
			q2, b2 = append(q2, float64(s.Tasks)), append(b2, float64(s.Buffered))
		case f >= 0.75:
			q4, b4 = append(q4, float64(s.Tasks)), append(b4, float64(s.Buffered))
		}
	}
	if len(samples) > 0 {
		q.FinalTasks, q.FinalBuffered = samples[len(samples)-1].Tasks, samples[len(samples)-1].Buffered
	}
	q.Q2Mean, q.Q4Mean = round3(meanOf(q2)), round3(meanOf(q4))
	q.Q2Buffered, q.Q4Buffered = round3(meanOf(b2)), round3(meanOf(b4))
	// Bounded: neither the queue nor the api's buffer grows from the
	// second quarter to the last (a stage that falls behind grows its
	// backlog linearly).
	q.Bounded = q.Q4Mean <= 1.5*q.Q2Mean+5 && q.Q4Buffered <= 1.5*q.Q2Buffered+1000
	b.log.Info("queue depth", "rate", q.Rate, "achieved", q.AchievedPS, "max_tasks", q.MaxTasks, "max_buffered", q.MaxBuffered,
		"q2", q.Q2Mean, "q4", q.Q4Mean, "q2_buffered", q.Q2Buffered, "q4_buffered", q.Q4Buffered)
	return q, nil
}

func meanOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// drain stops the persister, fills the queue with DrainRuns chain3 runs,
// restarts the persister and times how fast it empties the queue.
func (b *bench) drain(ctx context.Context, mp *modeProcs) (*DrainResult, error) {
	if err := mp.persister.stop(30 * time.Second); err != nil {
		return nil, err
	}
	if err := b.truncate(ctx); err != nil {
		return nil, err
	}
	fill := countLoop(ctx, b.client, runTarget(mp.base, "chain3", false), 16, b.cfg.DrainRuns, nil)
	if fill.errors > 0 {
		return nil, fmt.Errorf("pre-fill: %d errors: %s", fill.errors, fill.firstEr)
	}
	// Wait until the api has enqueued everything and the queue is stable.
	var tasks, last int
	for stable := 0; stable < 3; {
		buffered, err := b.apiBuffered(mp)
		if err != nil {
			return nil, err
		}
		if tasks, _, err = b.queueLen(); err != nil {
			return nil, err
		}
		if buffered == 0 && tasks == last {
			stable++
		} else {
			stable = 0
		}
		last = tasks
		sleepCtx(ctx, 20*time.Millisecond)
	}
	// A poller watches the queue from before the persister starts: the
	// clock runs from the last reading with the queue still full to the
	// first reading with it empty (every 5 ms), so it overstates the drain
	// by at most two polls.
	type reading struct {
		full, empty time.Time
		err         error
	}
	polled := make(chan reading, 1)
	go func() {
		var rd reading
		defer func() { polled <- rd }()
		deadline := time.Now().Add(10 * time.Minute)
		for {
			n, retry, err := b.queueLen()
			now := time.Now()
			switch {
			case err != nil:
				rd.err = err
				return
			case retry > 0:
				rd.err = fmt.Errorf("%d batches failed during the drain", retry)
				return
			case n >= tasks:
				rd.full = now
			case n == 0:
				rd.empty = now
				return
			}
			if now.After(deadline) {
				rd.err = fmt.Errorf("queue not drained after 10 minutes (%d tasks left)", n)
				return
			}
			if !sleepCtx(ctx, 5*time.Millisecond) {
				rd.err = ctx.Err()
				return
			}
		}
	}()
	p, err := b.startPersister(ctx, mp)
	if err != nil {
		<-polled
		return nil, err
	}
	mp.persister = p
	// Its CPU from its start (start-up included).
	cpu0, pg0 := cpuSnap{pid: p.pid()}, snapPG(b.pgPID)
	rd := <-polled
	pg1 := snapPG(b.pgPID)
	if rd.err != nil {
		return nil, fmt.Errorf("%w; persister log:\n%s", rd.err, p.tail(10))
	}
	t0, t1 := rd.full, rd.empty
	rows, err := b.countRows(ctx)
	if err != nil {
		return nil, err
	}
	d := &DrainResult{Runs: fill.runs, Tasks: tasks, Rows: rows, Seconds: round3(t1.Sub(t0).Seconds())}
	if secs := t1.Sub(t0).Seconds(); secs > 0 {
		d.RowsPerS = round3(float64(rows) / secs)
		d.RunsPerS = round3(float64(fill.runs) / secs)
	}
	if v := cpu0.perRun(int(rows)); v != nil {
		d.CPUusPerRw = ptr(round3(*v))
	}
	d.PGCPUusPerRow = pg0.perUnit(pg1, rows)
	b.log.Info("drain", "runs", d.Runs, "tasks", d.Tasks, "rows", d.Rows, "seconds", d.Seconds, "rows_per_s", d.RowsPerS)
	return d, nil
}

func (b *bench) countRows(ctx context.Context) (int64, error) {
	var total int64
	for _, t := range recordTables {
		var n int64
		if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// copyCeiling copies the rows the persister just wrote out of the record
// tables (COPY TO, text format, into memory) and times COPY FROM of those
// bytes into scratch tables with the same columns, defaults and indexes
// (LIKE … INCLUDING ALL), one table after the other on one connection.
func (b *bench) copyCeiling(ctx context.Context) (*CopyResult, error) {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	pg := conn.Conn().PgConn()
	data := map[string]*bytes.Buffer{}
	for _, t := range recordTables {
		buf := &bytes.Buffer{}
		// A partitioned table copies out through a query only.
		if _, err := pg.CopyTo(ctx, buf, "COPY (SELECT * FROM "+t+") TO STDOUT"); err != nil {
			return nil, err
		}
		data[t] = buf
		if _, err := conn.Exec(ctx, fmt.Sprintf("DROP TABLE IF EXISTS bench_copy_%[1]s; CREATE TABLE bench_copy_%[1]s (LIKE %[1]s INCLUDING ALL)", t)); err != nil {
			return nil, err
		}
	}
	defer func() {
		for _, t := range recordTables {
			b.pool.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS bench_copy_"+t)
		}
	}()
	res := &CopyResult{}
	start, pg0 := time.Now(), snapPG(b.pgPID)
	for _, t := range recordTables {
		res.Bytes += int64(data[t].Len())
		tag, err := pg.CopyFrom(ctx, data[t], "COPY bench_copy_"+t+" FROM STDIN")
		if err != nil {
			return nil, err
		}
		res.Rows += tag.RowsAffected()
	}
	secs := time.Since(start).Seconds()
	res.PGCPUusPerRow = pg0.perUnit(snapPG(b.pgPID), res.Rows)
	res.Seconds = round3(secs)
	if secs > 0 {
		res.RowsPerS = round3(float64(res.Rows) / secs)
	}
	b.log.Info("COPY ceiling", "rows", res.Rows, "seconds", res.Seconds, "rows_per_s", res.RowsPerS)
	return res, nil
}

// ceilingWindow measures ceiling (a) at clients for window (after the
// warm-up), starting its server on first use: a bare net/http handler in
// its own process (this binary, re-executed) answering a JSON body of a
// chain3 response's size. Memory mode's chain3 blocking cells are
// bracketed by two half windows each, so that the ratio compares
// measurements seconds apart, not minutes (see runMode).
func (b *bench) ceilingWindow(ctx context.Context, clients int, window time.Duration) error {
	if b.ceil == nil {
		size := b.rep.Ceilings.BodyBytes
		if size == 0 {
			size = 400
			b.rep.Ceilings.BodyBytes = size
		}
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		p, err := startProcess(ctx, "ceiling", exe, nil, []string{roleEnv + "=" + roleCeiling, bodyBytesEnv + "=" + strconv.Itoa(size)}, b.work, logLine(listeningAddr))
		if err != nil {
			return err
		}
		b.ceil = &ceiling{p: p, parts: map[int][]*ceilingPart{}}
	}
	p := b.ceil.p
	t := target{url: "http://" + p.addr + "/v1/workflows/run", bodies: runTarget("", "chain3", false).bodies, bare: true}
	part := &ceilingPart{}
	var srvS, benchS cpuSnap
	part.res = closedLoop(ctx, b.client, t, clients, b.cfg.Warmup, window, func(start bool) {
		if start {
			srvS, benchS = snapCPU(p.pid()), snapCPU(os.Getpid())
			return
		}
		srvE, _ := procCPU(p.pid())
		benchE, _ := procCPU(os.Getpid())
		part.srvCPU, part.benchCPU = srvE-srvS.cpu, benchE-benchS.cpu
	})
	b.ceil.parts[clients] = append(b.ceil.parts[clients], part)
	return nil
}

// ceiling is ceiling (a)'s server and the windows measured against it.
type ceiling struct {
	p     *process
	parts map[int][]*ceilingPart // by clients
}

// ceilingPart is one measurement window against the ceiling server.
type ceilingPart struct {
	res              *closedLoopResult
	srvCPU, benchCPU time.Duration
}

// httpCeiling completes ceiling (a): it measures a whole window at every
// client count that memory mode did not bracket, reports each count's
// windows as one cell, and stops the server.
func (b *bench) httpCeiling(ctx context.Context) error {
	defer b.stopCeiling()
	for _, c := range b.cfg.Clients {
		if b.ceil != nil && len(b.ceil.parts[c]) > 0 {
			continue
		}
		if err := b.ceilingWindow(ctx, c, b.cfg.Window); err != nil {
			return err
		}
	}
	for _, c := range b.cfg.Clients {
		cell := Cell{Mode: "ceiling-http", Workflow: "bare handler", ResponseMode: "blocking", Clients: c}
		var lat []time.Duration
		var window, srvCPU, benchCPU time.Duration
		for _, part := range b.ceil.parts[c] {
			r := part.res
			cell.Runs += r.runs
			cell.Errors += r.errors
			cell.FirstError = cmp.Or(cell.FirstError, r.firstEr)
			lat = append(lat, r.lat...)
			window += r.window
			srvCPU += part.srvCPU
			benchCPU += part.benchCPU
		}
		cell.Windows = len(b.ceil.parts[c])
		cell.WindowS, cell.Latency = round3(window.Seconds()), percentiles(lat)
		if window > 0 && cell.Runs > 0 {
			cell.RunsPerS = round3(float64(cell.Runs) / window.Seconds())
			cell.APICPUus = ptr(round3(us(srvCPU) / float64(cell.Runs)))
			cell.BenchCPUus = ptr(round3(us(benchCPU) / float64(cell.Runs)))
		}
		b.log.Info("ceiling (a)", "clients", c, "windows", cell.Windows, "req_per_s", cell.RunsPerS, "p50_us", p50(cell.Latency))
		b.rep.Ceilings.HTTP = append(b.rep.Ceilings.HTTP, cell)
	}
	return nil
}

// stopCeiling stops ceiling (a)'s server, if it runs.
func (b *bench) stopCeiling() {
	if b.ceil == nil || b.ceil.p == nil {
		return
	}
	b.client.CloseIdleConnections()
	if err := b.ceil.p.stop(10 * time.Second); err != nil {
		b.log.Warn("stop ceiling server", "err", err)
	}
	b.ceil.p = nil
}

// randHex returns n random bytes in hex.
func randHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}

func machineInfo() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), LoadBefore: loadavg(), ClockTicks: clkTck}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(v)
				if len(f) > 0 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					m.MemTotalMB = kb / 1024
				}
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	return m
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

var pgSettingNames = []string{
	"server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_level",
	"shared_buffers", "max_connections", "wal_buffers", "commit_delay", "max_wal_size",
	"checkpoint_timeout", "work_mem",
}

func postgresInfo(ctx context.Context, pool *pgxpool.Pool) (Server, error) {
	s := Server{Settings: map[string]string{}}
	rows, err := pool.Query(ctx, `SELECT n, current_setting(n) FROM unnest($1::text[]) AS n`, pgSettingNames)
	if err != nil {
		return s, fmt.Errorf("postgres settings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return s, err
		}
		if k == "server_version" {
			s.Version = v
			continue
		}
		s.Settings[k] = v
	}
	return s, rows.Err()
}

func redisInfo(ctx context.Context, u string) (Server, error) {
	s := Server{Settings: map[string]string{}}
	opt, err := redis.ParseURL(u)
	if err != nil {
		return s, err
	}
	c := redis.NewClient(opt)
	defer c.Close()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return s, fmt.Errorf("redis info: %w", err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			s.Version = v
		}
	}
	for _, k := range []string{"appendonly", "appendfsync", "save", "maxmemory"} {
		if m, err := c.ConfigGet(ctx, k).Result(); err == nil {
			s.Settings[k] = m[k]
		}
	}
	return s, nil
}
