package main

import (
	"context"
	"net"
	"os"
	"path"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/run"
)

// composeDoc is the part of docker-compose.yml the tests check (ports and
// volumes in the short syntax, which the file uses).
type composeDoc struct {
	Services map[string]struct {
		Build       any               `yaml:"build"`
		Image       string            `yaml:"image"`
		Entrypoint  []string          `yaml:"entrypoint"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Ports       []string `yaml:"ports"`
		Volumes     []string `yaml:"volumes"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		StopGracePeriod string `yaml:"stop_grace_period"`
		PullPolicy      string `yaml:"pull_policy"`
		Restart         string `yaml:"restart"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

// composeAppsDir is the apps directory the compose deployment seeds from.
const composeAppsDir = "deploy/compose/apps"

func readCompose(t *testing.T) (composeDoc, []byte) {
	t.Helper()
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc composeDoc
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	return doc, data
}

// TestComposeFile checks docker-compose.yml without a Docker engine: it
// parses, every service the API needs is there with the dependencies in
// the right order, and every variable it sets is one the binaries read.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	doc, _ := readCompose(t)
	for _, name := range []string{"postgres", "redis", "migrate", "api", "persister"} {
		if _, ok := doc.Services[name]; !ok {
			t.Fatalf("service %s missing", name)
		}
	}
	if c := doc.Services["redis"].Command; !strings.Contains(strings.Join(c, " "), "--appendonly yes") {
		t.Errorf("redis must run with the append-only file on: %v", c)
	}
	if got := doc.Services["migrate"].Entrypoint; !reflect.DeepEqual(got, []string{"/usr/local/bin/persister", "migrate", "up"}) {
		t.Errorf("migrate entrypoint %v", got)
	}
	for _, svc := range []string{"api", "persister"} {
		if doc.Services[svc].DependsOn["migrate"].Condition != "service_completed_successfully" {
			t.Errorf("%s must wait for migrate to complete", svc)
		}
	}
	if doc.Services["api"].Environment["WORKFLOW_REPO_MODE"] != "async" {
		t.Error("the compose api runs in async mode")
	}
	// Every variable set in the file is read by a binary.
	known := envNames(t, reflect.TypeOf(config{}))
	for _, k := range []string{"DATABASE_URL", "REDIS_URL", "PERSISTER_METRICS_ADDR", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} {
		known[k] = true
	}
	for name, svc := range doc.Services {
		for k := range svc.Environment {
			if !known[k] {
				t.Errorf("service %s sets %s, which no binary reads", name, k)
			}
		}
		for _, v := range svc.Volumes {
			src := strings.SplitN(v, ":", 2)[0]
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(path.Join("../..", src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			} else if _, ok := doc.Volumes[src]; !ok {
				t.Errorf("service %s uses undeclared volume %s", name, src)
			}
		}
	}
	if _, err := os.Stat("../../Dockerfile"); err != nil {
		t.Error("Dockerfile missing")
	}
}

// TestComposeIsSafeByDefault: the compose deployment publishes its ports
// on 127.0.0.1 only, and serves the apps of its own directory (mounted
// read-only), which compile and publish no key: keys come from the admin
// API, whose key the operator must set. No key published with the
// examples appears in the deployment.
func TestComposeIsSafeByDefault(t *testing.T) {
	t.Parallel()
	doc, raw := readCompose(t)
	published := 0
	for name, s := range doc.Services {
		for _, p := range s.Ports {
			published++
			if parts := strings.Split(p, ":"); len(parts) != 3 || parts[0] != "127.0.0.1" {
				t.Errorf("service %s publishes %q: want 127.0.0.1:<host port>:<container port>", name, p)
			}
		}
	}
	if published == 0 {
		t.Error("no service publishes a port: the api should, on loopback")
	}

	api := doc.Services["api"]
	dir := api.Environment["APPS_DIR"]
	mounted := false
	for _, v := range api.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && path.Clean(parts[1]) == path.Clean(dir) {
			if path.Clean(parts[0]) != composeAppsDir || len(parts) != 3 || parts[2] != "ro" {
				t.Fatalf("APPS_DIR %s is mounted from %q: want ./%s, read-only", dir, v, composeAppsDir)
			}
			mounted = true
		}
	}
	if !mounted {
		t.Fatalf("APPS_DIR %q is not mounted from ./%s", dir, composeAppsDir)
	}
	if got := api.Environment["ADMIN_API_KEY"]; !strings.HasPrefix(got, "${FLOWRUN_ADMIN_API_KEY:?") {
		t.Errorf("ADMIN_API_KEY = %q: want the operator's FLOWRUN_ADMIN_API_KEY, required", got)
	}

	seed := readIndex(t, path.Join("../..", composeAppsDir))
	for _, e := range seed.Apps {
		if len(e.Keys) > 0 {
			t.Errorf("app %s of %s publishes keys %v", e.ID, composeAppsDir, e.Keys)
		}
	}
	n, err := app.LoadDir(context.Background(), path.Join("../..", composeAppsDir), run.New(run.Config{}, nil), app.NewMemory(nil))
	if err != nil || n == 0 || n != len(seed.Apps) {
		t.Fatalf("loading %s: %d of %d apps, %v", composeAppsDir, n, len(seed.Apps), err)
	}
	index, _ := os.ReadFile(path.Join("../..", composeAppsDir, app.IndexFile))
	for _, e := range readIndex(t, "../../examples").Apps {
		for _, k := range e.Keys {
			if strings.Contains(string(raw), k) || strings.Contains(string(index), k) {
				t.Errorf("key %s, published with the examples, appears in the compose deployment", k)
			}
		}
	}
}

func readIndex(t *testing.T, dir string) app.Index {
	t.Helper()
	data, err := os.ReadFile(path.Join(dir, app.IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	var idx app.Index
	if err := yaml.Unmarshal(data, &idx); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return idx
}

func envNames(t *testing.T, typ reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := range typ.NumField() {
		if name := typ.Field(i).Tag.Get("envconfig"); name != "" {
			out[name] = true
		}
	}
	return out
}

// TestComposeStarts checks what a first `docker compose up` on fresh
// volumes needs, and a `docker compose stop`: healthchecks over the TCP
// paths clients use (PostgreSQL's image first runs a socket-only server
// while it initialises), one image built once, migrate ordered after a
// healthy PostgreSQL, api and persister healthchecks on their own
// listeners, and grace periods above their shutdown budgets.
func TestComposeStarts(t *testing.T) {
	t.Parallel()
	doc, _ := readCompose(t)
	hc := func(name string) string { return strings.Join(doc.Services[name].Healthcheck.Test, " ") }
	if got := hc("postgres"); !strings.Contains(got, "pg_isready") || !strings.Contains(got, "-h 127.0.0.1") {
		t.Errorf("postgres healthcheck %q: want pg_isready over TCP (-h 127.0.0.1)", got)
	}
	if got := hc("redis"); !strings.Contains(got, "-h 127.0.0.1") {
		t.Errorf("redis healthcheck %q: want redis-cli over TCP", got)
	}
	if doc.Services["migrate"].DependsOn["postgres"].Condition != "service_healthy" {
		t.Error("migrate must wait for a healthy PostgreSQL")
	}

	built := 0
	image := doc.Services["migrate"].Image
	for name, svc := range doc.Services {
		if svc.Build != nil {
			built++
		}
		if name == "migrate" || name == "api" || name == "persister" {
			if svc.Image == "" || svc.Image != image {
				t.Errorf("service %s runs image %q, want the one image %q", name, svc.Image, image)
			}
			if name != "migrate" && (svc.Build != nil || svc.PullPolicy != "never") {
				t.Errorf("service %s must use the image migrate builds (no build, pull_policy: never)", name)
			}
		}
	}
	if built != 1 {
		t.Errorf("%d services build an image, want 1", built)
	}

	api := doc.Services["api"]
	budget := duration(t, api.Environment["SHUTDOWN_TIMEOUT"]) + duration(t, api.Environment["SHUTDOWN_GRACE"])
	if grace := duration(t, api.StopGracePeriod); grace <= budget {
		t.Errorf("api stop_grace_period %v must exceed SHUTDOWN_TIMEOUT + SHUTDOWN_GRACE = %v", grace, budget)
	}
	pers := doc.Services["persister"]
	if grace := duration(t, pers.StopGracePeriod); grace <= duration(t, pers.Environment["SHUTDOWN_TIMEOUT"]) {
		t.Errorf("persister stop_grace_period %v must exceed its SHUTDOWN_TIMEOUT", grace)
	}
	for name, want := range map[string]string{
		"api":       portOf(t, api.Environment["ADDR"]) + "/readyz",
		"persister": portOf(t, pers.Environment["PERSISTER_METRICS_ADDR"]) + "/healthz",
	} {
		if got := hc(name); !strings.Contains(got, "http://127.0.0.1:"+want) {
			t.Errorf("%s healthcheck %q: want a GET of http://127.0.0.1:%s", name, got, want)
		}
	}
}

func duration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("duration %q: %v", s, err)
	}
	return d
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return port
}
