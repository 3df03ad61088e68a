// Package compose holds no code: its test checks docker-compose.yml and
// the apps directory it seeds from (there is no Docker engine in CI to
// run them, so they are checked structurally).
package compose_test

import (
	"context"
	"os"
	"path"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/run"
)

// composeFile is the subset of the compose specification checked here.
type composeFile struct {
	Services map[string]struct {
		Environment map[string]string `yaml:"environment"`
		// Ports and Volumes are in the short syntax, which the file uses.
		Ports   []string `yaml:"ports"`
		Volumes []string `yaml:"volumes"`
	} `yaml:"services"`
}

const appsDir = "apps" // deploy/compose/apps, next to this test

func readCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return c
}

// TestComposePublishesOnLoopbackOnly: every published port is bound to
// 127.0.0.1 on the host.
func TestComposePublishesOnLoopbackOnly(t *testing.T) {
	c := readCompose(t)
	published := 0
	for name, s := range c.Services {
		for _, p := range s.Ports {
			published++
			if parts := strings.Split(p, ":"); len(parts) != 3 || parts[0] != "127.0.0.1" {
				t.Errorf("service %s publishes %q: want 127.0.0.1:<host port>:<container port>", name, p)
			}
		}
	}
	if published == 0 {
		t.Fatal("no service publishes a port: the api should, on loopback")
	}
}

// TestComposeServesItsOwnAppsWithoutPublishedKeys: the api seeds from
// deploy/compose/apps (mounted read-only), whose apps compile and carry
// no key; keys come from the admin API, whose key the operator must set.
func TestComposeServesItsOwnAppsWithoutPublishedKeys(t *testing.T) {
	c := readCompose(t)
	api, ok := c.Services["api"]
	if !ok {
		t.Fatal("no api service")
	}
	dir := api.Environment["APPS_DIR"]
	mounted := false
	for _, v := range api.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && path.Clean(parts[1]) == path.Clean(dir) {
			if path.Clean(parts[0]) != "deploy/compose/"+appsDir || len(parts) != 3 || parts[2] != "ro" {
				t.Fatalf("APPS_DIR %s is mounted from %q: want ./deploy/compose/%s, read-only", dir, v, appsDir)
			}
			mounted = true
		}
	}
	if !mounted {
		t.Fatalf("APPS_DIR %q is not mounted from ./deploy/compose/%s", dir, appsDir)
	}
	if got := api.Environment["ADMIN_API_KEY"]; !strings.HasPrefix(got, "${FLOWRUN_ADMIN_API_KEY:?") {
		t.Fatalf("ADMIN_API_KEY = %q: want the operator's FLOWRUN_ADMIN_API_KEY, required", got)
	}

	data, err := os.ReadFile(path.Join(appsDir, app.IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	var idx app.Index
	if err := yaml.Unmarshal(data, &idx); err != nil {
		t.Fatal(err)
	}
	for _, e := range idx.Apps {
		if len(e.Keys) > 0 {
			t.Errorf("app %s publishes keys %v", e.ID, e.Keys)
		}
	}
	store := app.NewMemory(nil)
	n, err := app.LoadDir(context.Background(), appsDir, run.New(run.Config{}, nil), store)
	if err != nil || n == 0 || n != len(idx.Apps) {
		t.Fatalf("loading %s: %d of %d apps, %v", appsDir, n, len(idx.Apps), err)
	}
	// Neither file names a key published with the examples.
	examples, err := os.ReadFile("../../examples/" + app.IndexFile)
	if err != nil {
		t.Fatal(err)
	}
	var published app.Index
	if err := yaml.Unmarshal(examples, &published); err != nil {
		t.Fatal(err)
	}
	compose, _ := os.ReadFile("../../docker-compose.yml")
	for _, e := range published.Apps {
		for _, k := range e.Keys {
			if strings.Contains(string(compose), k) || strings.Contains(string(data), k) {
				t.Errorf("published example key %s appears in the compose deployment", k)
			}
		}
	}
}
