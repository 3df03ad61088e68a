package main

import (
	"bufio"
	"bytes"
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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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
	b.rep.Reference = isReference(b.rep.Settings) && cfg.PGDurable && cfg.APILogLevel == "info" && len(cfg.APIEnv) == 0 && len(cfg.PersisterEnv) == 0 && cfg.BinDir == ""
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

// randHex returns n random bytes in hex.
func randHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}
