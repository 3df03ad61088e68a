package chaos

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed apps/slow.yml
var slowDSL []byte

// App is an app the load generator runs.
type App struct {
	Name string
	ID   string
	Key  string
	file string
}

// Apps served by every api the harness starts: four of the examples and
// the slow loop (apps/slow.yml).
var (
	AppEcho    = App{"echo", "35a953c7-4255-4b7a-bcab-983e6f30c43f", "app-flowrun-echo-local-only", "echo.yml"}
	AppChain3  = App{"chain3", "433c5666-65ca-4d27-b7bd-944f92f47d0e", "app-flowrun-chain3-local-only", "chain3.yml"}
	AppDiamond = App{"diamond", "44afcde3-18a6-437b-8842-9937074327e4", "app-flowrun-diamond-local-only", "diamond.yml"}
	AppBranch  = App{"branch", "011d426b-e2e2-42bb-8167-17112d960102", "app-flowrun-branch-local-only", "branch.yml"}
	AppSlow    = App{"slow", "7c0a55e2-6d1e-4b8e-9d55-2f6f0c3b1a01", "app-flowrun-chaos-slow-local-only", "slow.yml"}
)

var workflowIDs = map[string]string{
	AppEcho.ID:    "899bd8ac-3b4b-4b53-8e79-8cb2e3541f07",
	AppChain3.ID:  "72ae29e8-3828-4026-91af-b1337ee0e007",
	AppDiamond.ID: "0d3d7671-51cc-4263-94c9-97645780c4cb",
	AppBranch.ID:  "81baef1e-eab7-4732-9257-5546aab5e6ac",
	AppSlow.ID:    "1f3c9a7e-0b2d-4e5f-8a6b-3c4d5e6f7a80",
}

// Binaries are the built api and persister.
type Binaries struct {
	API, Persister string
	// Root is the module root (examples/ is read from it).
	Root string
}

// Env is one scenario's world: its own PostgreSQL, Redis, apps directory,
// api instances and persister, all under Dir.
type Env struct {
	Dir   string
	Bin   Binaries
	PG    *Postgres
	Redis *Redis
	Pool  *pgxpool.Pool
	// Logf reports progress (t.Logf, or a printer).
	Logf func(format string, args ...any)

	apps string
	all  []*Proc
}

// NewEnv starts PostgreSQL and Redis under a new directory in base and
// migrates the database.
func NewEnv(ctx context.Context, base string, bin Binaries, logf func(string, ...any)) (*Env, error) {
	dir, err := os.MkdirTemp(base, "env-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, Bin: bin, Logf: logf, apps: filepath.Join(dir, "apps")}
	if err := e.writeApps(); err != nil {
		return nil, err
	}
	if e.PG, err = NewPostgres(ctx, dir); err != nil {
		return nil, err
	}
	if e.Redis, err = NewRedis(ctx, dir); err != nil {
		e.Close()
		return nil, err
	}
	migrate := exec.CommandContext(ctx, bin.Persister, "migrate", "up")
	migrate.Env = []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + e.DatabaseURL()}
	if out, err := migrate.CombinedOutput(); err != nil {
		e.Close()
		return nil, fmt.Errorf("persister migrate up: %v\n%s", err, out)
	}
	cfg, err := pgxpool.ParseConfig(e.DatabaseURL())
	if err != nil {
		e.Close()
		return nil, err
	}
	cfg.MaxConns = 4
	if e.Pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// DatabaseURL is the flowrun database's URL.
func (e *Env) DatabaseURL() string { return e.PG.URL("flowrun") }

func (e *Env) writeApps() error {
	if err := os.MkdirAll(e.apps, 0o755); err != nil {
		return err
	}
	yaml := "apps:\n"
	for _, a := range []App{AppEcho, AppChain3, AppDiamond, AppBranch} {
		b, err := os.ReadFile(filepath.Join(e.Bin.Root, "examples", a.file))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(e.apps, a.file), b, 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(e.apps, AppSlow.file), slowDSL, 0o644); err != nil {
		return err
	}
	for _, a := range []App{AppEcho, AppChain3, AppDiamond, AppBranch, AppSlow} {
		yaml += fmt.Sprintf("- id: %s\n  workflow_id: %s\n  file: %s\n  keys: [%s]\n", a.ID, workflowIDs[a.ID], a.file, a.Key)
	}
	return os.WriteFile(filepath.Join(e.apps, "apps.yaml"), []byte(yaml), 0o644)
}

// APIConfig configures an api instance.
type APIConfig struct {
	// Mode is WORKFLOW_REPO_MODE: sync or async.
	Mode string
	// Heartbeat and LostAfter are INSTANCE_HEARTBEAT_INTERVAL and
	// INSTANCE_LOST_AFTER (zero: the api's defaults).
	Heartbeat, LostAfter time.Duration
	// ShutdownTimeout is SHUTDOWN_TIMEOUT (zero: the default).
	ShutdownTimeout time.Duration
	// Ack is ASYNC_ACK: buffered or enqueued ("": the default, buffered).
	Ack string
}

// API is one api instance on a fixed port, so clients can keep using it
// across restarts.
type API struct {
	*Proc
	Port int
	Cfg  APIConfig
	// Instances are the instance (lease) ids of its starts, in order.
	Instances []string
}

// Instance is the instance id of the current (or last) start.
func (a *API) Instance() string {
	if len(a.Instances) == 0 {
		return ""
	}
	return a.Instances[len(a.Instances)-1]
}

// URL is the instance's base URL.
func (a *API) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", a.Port) }

// NewAPI starts a new api instance and waits until it is ready.
func (e *Env) NewAPI(ctx context.Context, cfg APIConfig) (*API, error) {
	n := len(e.all)
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		env := []string{
			"PATH=" + os.Getenv("PATH"),
			"ADDR=127.0.0.1:" + strconv.Itoa(port),
			"APPS_DIR=" + e.apps,
			"WORKFLOW_REPO_MODE=" + cfg.Mode,
			"DATABASE_URL=" + e.DatabaseURL(),
			"REDIS_URL=" + e.Redis.URL(),
			"ASYNC_SPOOL_DIR=" + filepath.Join(e.Dir, fmt.Sprintf("spool-%d", n)),
			// The slow app's loop breaks itself; its cap must allow it.
			"LOOP_NODE_MAX_COUNT=1000",
			"WORKFLOW_MAX_EXECUTION_STEPS=5000",
			"LOG_LEVEL=warn",
		}
		if cfg.Heartbeat > 0 {
			env = append(env, "INSTANCE_HEARTBEAT_INTERVAL="+cfg.Heartbeat.String())
		}
		if cfg.LostAfter > 0 {
			env = append(env, "INSTANCE_LOST_AFTER="+cfg.LostAfter.String())
		}
		if cfg.ShutdownTimeout > 0 {
			env = append(env, "SHUTDOWN_TIMEOUT="+cfg.ShutdownTimeout.String())
		}
		if cfg.Ack != "" {
			env = append(env, "ASYNC_ACK="+cfg.Ack)
		}
		a := &API{Port: port, Cfg: cfg, Proc: &Proc{
			Name: fmt.Sprintf("api-%d", n), Path: e.Bin.API, Env: env, Dir: e.Dir,
			Log: filepath.Join(e.Dir, fmt.Sprintf("api-%d.log", n)),
		}}
		if lastErr = e.StartAPI(ctx, a); lastErr == nil {
			e.all = append(e.all, a.Proc)
			return a, nil
		}
		a.Kill()
	}
	return nil, lastErr
}

// StartAPI (re)starts a on its port and waits for GET /readyz to answer
// 200.
func (e *Env) StartAPI(ctx context.Context, a *API) error {
	before, err := e.instances(ctx)
	if err != nil {
		return err
	}
	if err := a.Start(); err != nil {
		return err
	}
	err = waitFor(ctx, 60*time.Second, 20*time.Millisecond, func(ctx context.Context) error {
		if !a.Running() {
			return fmt.Errorf("%s exited: %s", a.Name, a.Tail(3000))
		}
		return httpOK(ctx, a.URL()+"/readyz")
	})
	if err != nil {
		return err
	}
	after, err := e.instances(ctx)
	if err != nil {
		return err
	}
	for id := range after {
		if !before[id] {
			a.Instances = append(a.Instances, id)
			return nil
		}
	}
	return fmt.Errorf("%s: no new row in instances after start", a.Name)
}

// instances lists the registered instance ids.
func (e *Env) instances(ctx context.Context) (map[string]bool, error) {
	rows, err := e.Pool.Query(ctx, `SELECT id::text FROM instances`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids[id] = true
	}
	return ids, rows.Err()
}

// Persister is the persister process.
type Persister struct {
	*Proc
	MetricsPort int
}

// NewPersister starts a persister and waits until it is healthy.
func (e *Env) NewPersister(ctx context.Context) (*Persister, error) {
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p := &Persister{MetricsPort: port, Proc: &Proc{
			Name: "persister", Path: e.Bin.Persister, Dir: e.Dir,
			Log: filepath.Join(e.Dir, "persister.log"),
			Env: []string{
				"PATH=" + os.Getenv("PATH"),
				"DATABASE_URL=" + e.DatabaseURL(),
				"REDIS_URL=" + e.Redis.URL(),
				"PERSISTER_METRICS_ADDR=127.0.0.1:" + strconv.Itoa(port),
				"LOG_LEVEL=warn",
			},
		}}
		if lastErr = e.StartPersister(ctx, p); lastErr == nil {
			e.all = append(e.all, p.Proc)
			return p, nil
		}
		p.Kill()
	}
	return nil, lastErr
}

// StartPersister (re)starts p and waits for its /healthz.
func (e *Env) StartPersister(ctx context.Context, p *Persister) error {
	if err := p.Start(); err != nil {
		return err
	}
	return waitFor(ctx, 60*time.Second, 20*time.Millisecond, func(ctx context.Context) error {
		if !p.Running() {
			return fmt.Errorf("persister exited: %s", p.Tail(3000))
		}
		return httpOK(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", p.MetricsPort))
	})
}

// Close stops every process of the environment (api and persister
// first, gracefully) and removes nothing: the directory keeps the logs.
func (e *Env) Close() {
	for _, p := range e.all {
		p.Stop(syscall.SIGTERM, 30*time.Second)
	}
	if e.Pool != nil {
		e.Pool.Close()
	}
	e.Redis.Close()
	e.PG.Close()
}

func httpOK(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return nil
}
