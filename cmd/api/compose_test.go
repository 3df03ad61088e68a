package main

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestComposeFile checks docker-compose.yml without a Docker engine: it
// parses, every service the API needs is there with the dependencies in
// the right order, and every variable it sets is one the binaries read.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Build       any               `yaml:"build"`
			Image       string            `yaml:"image"`
			Entrypoint  []string          `yaml:"entrypoint"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			DependsOn   map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
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
			vol := strings.SplitN(v, ":", 2)[0]
			if _, ok := doc.Volumes[vol]; !ok {
				t.Errorf("service %s uses undeclared volume %s", name, vol)
			}
		}
	}
	if _, err := os.Stat("../../Dockerfile"); err != nil {
		t.Error("Dockerfile missing")
	}
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
