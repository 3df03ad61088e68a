package knowledge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrInvalidConfig is wrapped by every configuration error.
var ErrInvalidConfig = errors.New("invalid knowledge configuration")

// Backend kinds (a dataset entry's kind).
const (
	// KindExternal is Dify's External Knowledge API.
	KindExternal = "external"
	// KindDify is a Dify instance's dataset retrieve API.
	KindDify = "dify"
)

// Config is the operator's knowledge configuration, the content of
// knowledge.yaml (docs/knowledge.md).
type Config struct {
	Datasets []DatasetConfig `json:"datasets"`
}

// DatasetConfig is one dataset entry.
type DatasetConfig struct {
	// ID is the dataset id as the DSL's dataset_ids spell it.
	ID string `json:"id"`
	// Name is the dataset_name of its results (default: ID);
	// Description tells the routing model of single retrieval what the
	// dataset holds (default: Dify's "useful for when you want to answer
	// queries about the <name>").
	Name        string `json:"name"`
	Description string `json:"description"`
	// Kind is KindExternal or KindDify.
	Kind string `json:"kind"`
	// APIKey is the Bearer key; "${VAR}" in it is replaced by the
	// environment variable VAR, which must be set.
	APIKey string `json:"api_key"`
	// Timeout bounds one retrieval, a Go duration (default
	// Options.Timeout).
	Timeout string `json:"timeout"`

	// Endpoint (KindExternal) is the API's base: flowrun posts to
	// <endpoint>/retrieval. KnowledgeID is the knowledge_id sent. TopK
	// (default 2), ScoreThreshold and ScoreThresholdEnabled are the
	// dataset's external retrieval settings: the threshold is sent only
	// when enabled, 0.0 otherwise.
	Endpoint              string   `json:"endpoint"`
	KnowledgeID           string   `json:"knowledge_id"`
	TopK                  *int     `json:"top_k"`
	ScoreThreshold        *float64 `json:"score_threshold"`
	ScoreThresholdEnabled bool     `json:"score_threshold_enabled"`

	// BaseURL (KindDify) is the service API's base
	// (https://api.dify.ai/v1); Dataset the remote dataset id (default:
	// ID); RetrievalModel the retrieval_model sent as is (default: none,
	// so that the dataset's own settings apply).
	BaseURL        string         `json:"base_url"`
	Dataset        string         `json:"dataset"`
	RetrievalModel map[string]any `json:"retrieval_model"`
}

// envRef is a ${VAR} reference in an api_key.
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// ParseConfig parses knowledge.yaml. Unknown fields, a missing or
// duplicate id, an unknown kind, fields of the other kind, a bad URL or
// duration and an unset ${VAR} are errors naming the entry. lookup reads
// the environment (os.LookupEnv).
func ParseConfig(data []byte, lookup func(string) (string, bool)) (*Config, error) {
	var doc any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	cfg := &Config{}
	if doc == nil {
		return cfg, nil
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	jd := json.NewDecoder(bytes.NewReader(raw))
	jd.DisallowUnknownFields()
	if err := jd.Decode(cfg); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, strings.TrimPrefix(err.Error(), "json: "))
	}
	seen := map[string]bool{}
	var errs []error
	for i := range cfg.Datasets {
		d := &cfg.Datasets[i]
		if err := d.check(lookup); err != nil {
			errs = append(errs, fmt.Errorf("%w: datasets[%d] (id %q): %w", ErrInvalidConfig, i, d.ID, err))
			continue
		}
		if seen[d.ID] {
			errs = append(errs, fmt.Errorf("%w: datasets[%d]: id %q is configured twice", ErrInvalidConfig, i, d.ID))
		}
		seen[d.ID] = true
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// check validates d and expands its api_key.
func (d *DatasetConfig) check(lookup func(string) (string, bool)) error {
	if strings.TrimSpace(d.ID) == "" {
		return errors.New("id is required")
	}
	var missing []string
	d.APIKey = envRef.ReplaceAllStringFunc(d.APIKey, func(ref string) string {
		name := envRef.FindStringSubmatch(ref)[1]
		v, ok := lookup(name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return fmt.Errorf("api_key: environment variable %s is not set", strings.Join(missing, ", "))
	}
	if d.Timeout != "" {
		t, err := time.ParseDuration(d.Timeout)
		if err != nil || t <= 0 {
			return fmt.Errorf("timeout: %q is not a positive duration (e.g. 30s)", d.Timeout)
		}
	}
	switch d.Kind {
	case KindExternal:
		if err := foreign(map[string]bool{"base_url": d.BaseURL != "", "dataset": d.Dataset != "", "retrieval_model": d.RetrievalModel != nil}); err != nil {
			return err
		}
		if d.KnowledgeID == "" {
			return errors.New("knowledge_id is required")
		}
		if d.TopK != nil && *d.TopK < 1 {
			return errors.New("top_k must be at least 1")
		}
		return checkURL("endpoint", d.Endpoint)
	case KindDify:
		if err := foreign(map[string]bool{"endpoint": d.Endpoint != "", "knowledge_id": d.KnowledgeID != "", "top_k": d.TopK != nil,
			"score_threshold": d.ScoreThreshold != nil, "score_threshold_enabled": d.ScoreThresholdEnabled}); err != nil {
			return err
		}
		if d.APIKey == "" {
			return errors.New("api_key is required (a dataset API key)")
		}
		return checkURL("base_url", d.BaseURL)
	case "":
		return errors.New("kind is required (external or dify)")
	}
	return fmt.Errorf("unknown kind %q (known: dify, external)", d.Kind)
}

// foreign reports fields set that belong to the other kind.
func foreign(set map[string]bool) error {
	var names []string
	for _, n := range []string{"base_url", "dataset", "retrieval_model", "endpoint", "knowledge_id", "top_k", "score_threshold", "score_threshold_enabled"} {
		if set[n] {
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		return fmt.Errorf("%s: not a field of this kind", strings.Join(names, ", "))
	}
	return nil
}

// checkURL requires an absolute http(s) URL.
func checkURL(field, s string) error {
	if s == "" {
		return fmt.Errorf("%s is required", field)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: %q is not an http or https URL", field, s)
	}
	return nil
}
