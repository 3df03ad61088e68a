// Command bench measures flowrun in its three persistence modes (memory,
// sync, async) against ceilings measured in the same run, and writes
// docs/benchmarks.md, docs/benchmarks.json and docs/benchmarks-latency.svg.
//
//	go run ./cmd/bench                 # the full run (make bench), ~13 min
//	go run ./cmd/bench -profile smoke  # every figure, tiny counts (make bench-smoke)
//
// It builds cmd/api and cmd/persister, starts a throwaway PostgreSQL and
// Redis with scripts/services.sh (or uses -database-url/-redis-url, in
// which it creates its own database and queue), and drives the real
// binaries over HTTP with a closed-loop load generator. See the Method
// section of docs/benchmarks.md for what each figure is.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flowrun/flowrun/internal/chaos"
)

// The ceiling server (a) is this binary re-executed with roleEnv set.
const (
	roleEnv      = "FLOWRUN_BENCH_ROLE"
	roleCeiling  = "ceiling-server"
	bodyBytesEnv = "FLOWRUN_BENCH_BODY_BYTES"
)

func main() {
	if os.Getenv(roleEnv) == roleCeiling {
		os.Exit(ceilingServerMain())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if cfg.Render != "" {
		if err := rerender(cfg.Render, cfg.OutDir); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	rep, err := runBench(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if err := validate(rep); err != nil {
		fmt.Fprintln(os.Stderr, "bench: figures missing:\n"+err.Error())
		os.Exit(1)
	}
	for _, t := range rep.Targets {
		met := "not met"
		if t.Met {
			met = "met"
		}
		fmt.Fprintf(os.Stderr, "target %-50s %10.4g %-5s (%s): %s\n", t.Name, t.Value, t.Unit, t.Want, met)
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s in %.0f s\n", filepath.Join(cfg.OutDir, "benchmarks.md"), rep.DurationS)
}

// config is the run's configuration (flags; see parseFlags).
type config struct {
	Profile     string
	Command     string
	RepoDir     string
	OutDir      string
	DatabaseURL string
	RedisURL    string
	BinDir      string
	BuildFlags  string
	PGDurable   bool
	Keep        bool
	APILogLevel string
	// APIEnv is extra environment for the api ("KEY=VALUE"), for A/B runs.
	APIEnv        []string
	PersisterEnv  []string
	Note          string
	Render        string
	Modes         []string
	Workflows     []string
	ResponseModes []string
	Clients       []int
	Warmup        time.Duration
	Window        time.Duration
	SoakRuns      int
	SoakClients   int
	LagRate       int
	LagDuration   time.Duration
	LagMethod     string
	QueueRate     int
	QueueDuration time.Duration
	DrainRuns     int
	NaiveDuration time.Duration
	NaiveClients  int
}

// profile returns the defaults of a profile: "full" is the reference run
// (about 9 minutes on 2 cores), "smoke" produces every figure with tiny
// counts (CI).
func profile(name string) (config, error) {
	c := config{
		Profile:       name,
		PGDurable:     true,
		APILogLevel:   "info",
		Modes:         []string{"memory", "sync", "async"},
		Workflows:     []string{"echo", "chain3", "diamond", "branch"},
		ResponseModes: []string{"blocking", "streaming"},
		Clients:       []int{1, 16, 64},
		SoakClients:   64,
		NaiveClients:  16,
		LagMethod:     "poll",
	}
	switch name {
	case "full":
		c.Warmup, c.Window = 500*time.Millisecond, 3*time.Second
		c.SoakRuns = 100_000
		c.LagRate, c.LagDuration = 1000, 15*time.Second
		c.QueueRate, c.QueueDuration = 2000, 60*time.Second
		c.DrainRuns = 20_000
		c.NaiveDuration = 5 * time.Second
	case "smoke":
		c.Warmup, c.Window = 10*time.Millisecond, 60*time.Millisecond
		c.SoakRuns, c.SoakClients = 200, 16
		c.LagRate, c.LagDuration = 200, 500*time.Millisecond
		c.QueueRate, c.QueueDuration = 200, time.Second
		c.DrainRuns = 100
		c.NaiveDuration = 200 * time.Millisecond
	default:
		return c, fmt.Errorf("unknown profile %q (want full or smoke)", name)
	}
	return c, nil
}

func parseFlags(args []string, out io.Writer) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	prof := fs.String("profile", "full", "defaults for everything below: full (reference, ~13 min on 2 cores) or smoke (tiny counts)")
	repoDir := fs.String("repo", "", "repository root (default: the nearest directory above the working directory with go.mod)")
	outDir := fs.String("out", "docs", "where benchmarks.md, benchmarks.json and benchmarks-latency.svg are written (empty: not written)")
	dbURL := fs.String("database-url", os.Getenv("BENCH_DATABASE_URL"), "PostgreSQL to use instead of starting one (a role that may CREATE DATABASE; env BENCH_DATABASE_URL)")
	redisURL := fs.String("redis-url", os.Getenv("BENCH_REDIS_URL"), "Redis to use instead of starting one (env BENCH_REDIS_URL)")
	binDir := fs.String("bin-dir", "", "directory with prebuilt api and persister binaries (default: build them; such a run is never a reference run)")
	buildFlags := fs.String("build-flags", "", "extra go build flags for the binaries (e.g. -race)")
	durable := fs.Bool("pg-durable", true, "started PostgreSQL keeps fsync/synchronous_commit on and Redis appends to its AOF (false: test.sh's fast settings)")
	keep := fs.Bool("keep", false, "keep the work directory (process logs), the database and the services")
	logLevel := fs.String("api-log-level", "info", "the api's LOG_LEVEL (info, its default, logs every request)")
	fs.String("api-env", "", "extra api environment, comma-separated KEY=VALUE pairs (a run with any is not a reference run)")
	fs.String("persister-env", "", "extra persister environment, as -api-env")
	note := fs.String("note", "", "a note printed at the top of the generated document")
	render := fs.String("render", "", "measure nothing: re-render benchmarks.md and the plot into -out from this benchmarks.json")
	modes := fs.String("modes", "", "persistence modes, comma-separated")
	workflows := fs.String("workflows", "", "workflows of the bench set, comma-separated")
	rmodes := fs.String("response-modes", "", "blocking,streaming")
	clients := fs.String("clients", "", "closed-loop client counts, comma-separated")
	warmup := fs.Duration("warmup", 0, "warm-up before each measurement window")
	window := fs.Duration("duration", 0, "measurement window of each cell")
	soakRuns := fs.Int("soak-runs", -1, "runs of the RSS soak per mode (0: no soak)")
	soakClients := fs.Int("soak-clients", 0, "clients of the soak")
	lagRate := fs.Int("lag-rate", 0, "open-loop runs/s of the persistence lag measurement")
	lagDur := fs.Duration("lag-duration", 0, "length of the persistence lag measurement")
	lagMethod := fs.String("lag-method", "", "how committed runs are seen: poll (primary-key lookups every 5 ms) or notify (a trigger's NOTIFY, which serialises commits)")
	queueRate := fs.Int("queue-rate", 0, "open-loop runs/s of the queue depth measurement")
	queueDur := fs.Duration("queue-duration", 0, "length of the queue depth measurement")
	drainRuns := fs.Int("drain-runs", 0, "runs pre-filled into the queue for the drain rate")
	naiveDur := fs.Duration("naive-duration", 0, "measurement window of the in-process sync loops (ceiling b)")
	naiveClients := fs.Int("naive-clients", 0, "goroutines of the in-process sync loops")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c, err := profile(*prof)
	if err != nil {
		return c, err
	}
	c.Command = commandLine(args)
	c.RepoDir, c.OutDir, c.DatabaseURL, c.RedisURL = *repoDir, *outDir, *dbURL, *redisURL
	c.BinDir, c.BuildFlags, c.PGDurable, c.Keep, c.APILogLevel, c.Note, c.Render = *binDir, *buildFlags, *durable, *keep, *logLevel, *note, *render
	if c.RepoDir == "" {
		if c.RepoDir, err = chaos.ModuleRoot(); err != nil {
			return c, fmt.Errorf("%w: pass -repo", err)
		}
	}
	splitList(*modes, &c.Modes)
	for name, env := range map[string]*[]string{"api-env": &c.APIEnv, "persister-env": &c.PersisterEnv} {
		splitList(fs.Lookup(name).Value.String(), env)
		for _, kv := range *env {
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
				return c, fmt.Errorf("-%s: %q is not KEY=VALUE", name, kv)
			}
		}
	}
	splitList(*workflows, &c.Workflows)
	splitList(*rmodes, &c.ResponseModes)
	if *clients != "" {
		c.Clients = nil
		for _, s := range strings.Split(*clients, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 {
				return c, fmt.Errorf("-clients: bad count %q", s)
			}
			c.Clients = append(c.Clients, n)
		}
	}
	setDur(&c.Warmup, *warmup)
	setDur(&c.Window, *window)
	if *soakRuns >= 0 {
		c.SoakRuns = *soakRuns
	}
	setInt(&c.SoakClients, *soakClients)
	setInt(&c.LagRate, *lagRate)
	setDur(&c.LagDuration, *lagDur)
	if *lagMethod != "" {
		c.LagMethod = *lagMethod
	}
	setInt(&c.QueueRate, *queueRate)
	setDur(&c.QueueDuration, *queueDur)
	setInt(&c.DrainRuns, *drainRuns)
	setDur(&c.NaiveDuration, *naiveDur)
	setInt(&c.NaiveClients, *naiveClients)
	return c, c.check()
}

func (c config) check() error {
	for _, m := range c.Modes {
		if m != "memory" && m != "sync" && m != "async" {
			return fmt.Errorf("unknown mode %q", m)
		}
	}
	for _, w := range c.Workflows {
		if _, ok := benchApps[w]; !ok {
			return fmt.Errorf("unknown workflow %q (want echo, chain3, diamond or branch)", w)
		}
	}
	for _, r := range c.ResponseModes {
		if r != "blocking" && r != "streaming" {
			return fmt.Errorf("unknown response mode %q", r)
		}
	}
	if c.LagMethod != "poll" && c.LagMethod != "notify" {
		return fmt.Errorf("unknown lag method %q (want poll or notify)", c.LagMethod)
	}
	if c.Window <= 0 || c.LagRate <= 0 || c.QueueRate <= 0 || c.DrainRuns <= 0 || c.NaiveClients <= 0 || c.SoakClients <= 0 {
		return errors.New("durations, rates and counts must be positive")
	}
	return nil
}

func (c config) settings() Settings {
	return Settings{
		Modes: c.Modes, Workflows: c.Workflows, Clients: c.Clients, ResponseModes: c.ResponseModes,
		WarmupS: c.Warmup.Seconds(), WindowS: c.Window.Seconds(),
		SoakRuns: c.SoakRuns, SoakClients: c.SoakClients,
		LagRate: c.LagRate, LagS: c.LagDuration.Seconds(), LagMethod: c.LagMethod,
		QueueRate: c.QueueRate, QueueS: c.QueueDuration.Seconds(),
		DrainRuns: c.DrainRuns, NaiveS: c.NaiveDuration.Seconds(), NaiveClients: c.NaiveClients,
		BuildFlags: c.BuildFlags,
	}
}

// commandLine is how the run was started, for the report: -note (shown
// on its own) is left out, arguments are quoted for a shell when needed.
func commandLine(args []string) string {
	out := []string{"go", "run", "./cmd/bench"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-note" || a == "--note" {
			i++
			continue
		}
		if strings.HasPrefix(a, "-note=") || strings.HasPrefix(a, "--note=") {
			continue
		}
		if strings.ContainsAny(a, " \t'\"$`\\*?;&|<>()") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

// isReference reports whether s has the full profile's settings (the
// services and build flags aside).
func isReference(s Settings) bool {
	full, _ := profile("full")
	f := full.settings()
	s.BuildFlags, s.OwnServices = "", false
	return reflect.DeepEqual(s, f)
}

func splitList(s string, dst *[]string) {
	if s == "" {
		return
	}
	*dst = nil
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*dst = append(*dst, v)
		}
	}
}

func setDur(dst *time.Duration, v time.Duration) {
	if v > 0 {
		*dst = v
	}
}

func setInt(dst *int, v int) {
	if v > 0 {
		*dst = v
	}
}

// rerender writes benchmarks.md and the plot again from a report (targets
// re-evaluated), after a change to the rendering.
func rerender(jsonPath, outDir string) error {
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		return err
	}
	var r Report
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("%s: %w", jsonPath, err)
	}
	r.Targets = evaluateTargets(&r)
	return writeOutputs(outDir, &r)
}

// ceilingServerMain is ceiling (a): a bare net/http server whose only
// handler reads the request body and answers a fixed JSON body of
// FLOWRUN_BENCH_BODY_BYTES bytes. It logs `msg=listening addr=…` like the
// api and exits on SIGTERM.
func ceilingServerMain() int {
	size, _ := strconv.Atoi(os.Getenv(bodyBytesEnv))
	body := jsonBody(size)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body)
		}),
	}
	fmt.Fprintf(os.Stderr, "level=INFO msg=listening addr=%s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// jsonBody returns a JSON object of exactly n bytes (at least 12).
func jsonBody(n int) []byte {
	const head, tail = `{"pad": "`, `"}`
	pad := max(n-len(head)-len(tail), 1)
	return []byte(head + strings.Repeat("x", pad) + tail)
}
