package knowledge

import (
	"errors"
	"strings"
	"testing"
)

func noEnv(string) (string, bool) { return "", false }

func TestParseConfig(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig([]byte(`
datasets:
- {id: a, kind: external, endpoint: 'https://kb.example/api', api_key: 'k-${KEY}', knowledge_id: x, timeout: 5s}
- {id: b, name: B, kind: dify, base_url: 'http://dify.internal/v1', api_key: dataset-1, retrieval_model: {top_k: 2}}
`), func(n string) (string, bool) { return "secret", n == "KEY" })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Datasets) != 2 || cfg.Datasets[0].APIKey != "k-secret" || cfg.Datasets[1].RetrievalModel["top_k"] != 2.0 {
		t.Fatalf("cfg = %+v", cfg)
	}
	if cfg, err := ParseConfig(nil, noEnv); err != nil || len(cfg.Datasets) != 0 {
		t.Fatalf("empty file: %v %v", cfg, err)
	}
}

// TestParseConfigErrors: every problem names its entry and why.
func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ yaml, want string }{
		{`datasets: [{id: a, kind: external, endpoint: 'http://x', knowledge_id: k, api_key: '${NOPE}'}]`, `datasets[0] (id "a"): api_key: environment variable NOPE is not set`},
		{`datasets: [{id: a, kind: external, endpoint: 'ftp://x', knowledge_id: k}]`, `endpoint: "ftp://x" is not an http or https URL`},
		{`datasets: [{id: a, kind: external, endpoint: 'http://x'}]`, `knowledge_id is required`},
		{`datasets: [{id: a, kind: external, endpoint: 'http://x', knowledge_id: k, base_url: 'http://y'}]`, `base_url: not a field of this kind`},
		{`datasets: [{id: a, kind: dify, base_url: 'http://y'}]`, `api_key is required`},
		{`datasets: [{id: a, kind: dify, base_url: 'http://y', api_key: k, top_k: 3}]`, `top_k: not a field of this kind`},
		{`datasets: [{id: a, kind: vector, base_url: 'http://y'}]`, `unknown kind "vector" (known: dify, external)`},
		{`datasets: [{kind: dify}]`, `id is required`},
		{`datasets: [{id: a, kind: dify, base_url: 'http://y', api_key: k, timeout: soon}]`, `timeout: "soon" is not a positive duration`},
		{`datasets: [{id: a, kind: dify, base_url: 'http://y', api_key: k}, {id: a, kind: dify, base_url: 'http://y', api_key: k}]`, `datasets[1]: id "a" is configured twice`},
		{`datasets: [{id: a, kind: dify, colour: red}]`, `unknown field "colour"`},
		{`stores: []`, `unknown field "stores"`},
	} {
		_, err := ParseConfig([]byte(c.yaml), noEnv)
		if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.yaml, err, c.want)
		}
	}
}
