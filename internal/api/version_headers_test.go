package api_test

import (
	"testing"

	"github.com/flowrun/flowrun/internal/api"
)

func TestVersionHeadersOnEveryResponse(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	tests := []struct {
		name, method, path, key, body string
		status                        int
	}{
		{"welcome", "GET", "/v1/", "", "", 200},
		{"healthz", "GET", "/healthz", "", "", 200},
		{"info", "GET", "/v1/info", chain3Key, "", 200},
		{"blocking run", "POST", "/v1/workflows/run", chain3Key, `{"inputs": {"query": "x"}, "user": "u"}`, 200},
		{"streaming run", "POST", "/v1/workflows/run", chain3Key, `{"inputs": {"query": "x"}, "user": "u", "response_mode": "streaming"}`, 200},
		{"bad key", "GET", "/v1/info", "nope", "", 401},
		{"unknown route", "GET", "/v1/nope", chain3Key, "", 404},
		{"wrong method", "DELETE", "/v1/info", chain3Key, "", 405},
		{"admin refused", "GET", "/admin/apps", "nope", "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := b.do(tt.method, tt.path, tt.key, tt.body)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Values(api.VersionHeader); len(got) != 1 || got[0] != "1.17.1" {
				t.Errorf("X-Version %q, want [1.17.1]", got)
			}
			if got := rec.Header().Values(api.EnvHeader); len(got) != 1 || got[0] != "PRODUCTION" {
				t.Errorf("X-Env %q, want [PRODUCTION]", got)
			}
		})
	}
}

func TestVersionHeadersFollowConfig(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *api.Config) { c.ServerVersion, c.DeployEnv = "9.9.9", "DEVELOPMENT" }})
	rec := b.do("GET", "/v1/", "", "")
	if v, e := rec.Header().Get("X-Version"), rec.Header().Get("X-Env"); v != "9.9.9" || e != "DEVELOPMENT" {
		t.Fatalf("X-Version %q X-Env %q", v, e)
	}
	if want := "{\"welcome\": \"Dify OpenAPI\", \"api_version\": \"v1\", \"server_version\": \"9.9.9\"}\n"; rec.Body.String() != want {
		t.Fatalf("body %q, want %q", rec.Body, want)
	}
}
