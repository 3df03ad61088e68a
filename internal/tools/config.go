package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrInvalidConfig is wrapped by every configuration error.
var ErrInvalidConfig = errors.New("invalid tool configuration")

// Config is the operator's tool configuration, the content of tools.yaml
// (docs/tools.md):
//
//	providers:
//	- id: langgenius/tavily/tavily     # the DSL's provider_id
//	  kind: mcp                        # builtin, mcp, openapi, workflow
//	  aliases: [tavily]                # other provider ids meaning this one
//	  url: http://127.0.0.1:8808/mcp   # fields of the kind
type Config struct {
	Providers []ProviderConfig
	// Dir is the directory relative paths in the entries are read from
	// (tools.yaml's).
	Dir string
}

// ProviderConfig is one provider entry.
type ProviderConfig struct {
	ID      string
	Kind    string
	Aliases []string
	// Spec holds the entry's other fields, which the kind's factory
	// decodes with Decode.
	Spec map[string]any
	// Dir is Config.Dir.
	Dir string
}

// Decode decodes the kind-specific fields into v, a pointer to a struct
// with json tags. An unknown field is an error naming it.
func (pc *ProviderConfig) Decode(v any) error {
	data, err := json.Marshal(pc.Spec)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return fmt.Errorf("field %s: cannot use %s as %s", te.Field, te.Value, te.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return errors.New(strings.TrimPrefix(err.Error(), "json: "))
		}
		return err
	}
	return nil
}

// ParseConfig parses tools.yaml. Structural problems (unknown top-level
// keys, an entry that is not a mapping, a missing id or kind) are errors;
// kind-specific fields are checked by Build.
func ParseConfig(data []byte, dir string) (*Config, error) {
	var doc struct {
		Providers []map[string]any `yaml:"providers"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	cfg := &Config{Dir: dir}
	for i, m := range doc.Providers {
		pc := ProviderConfig{Dir: dir, Spec: map[string]any{}}
		var errs []string
		for k, v := range m {
			switch k {
			case "id":
				pc.ID, _ = v.(string)
				if pc.ID == "" {
					errs = append(errs, "id must be a non-empty string")
				}
			case "kind":
				pc.Kind, _ = v.(string)
				if pc.Kind == "" {
					errs = append(errs, "kind must be a non-empty string")
				}
			case "aliases":
				l, ok := v.([]any)
				for _, a := range l {
					s, isStr := a.(string)
					ok = ok && isStr && s != ""
					pc.Aliases = append(pc.Aliases, s)
				}
				if !ok {
					errs = append(errs, "aliases must be a list of non-empty strings")
				}
			default:
				pc.Spec[k] = v
			}
		}
		if _, ok := m["id"]; !ok {
			errs = append(errs, "id is required")
		}
		if _, ok := m["kind"]; !ok {
			errs = append(errs, "kind is required")
		}
		if len(errs) > 0 {
			slices.Sort(errs)
			return nil, fmt.Errorf("%w: providers[%d]: %s", ErrInvalidConfig, i, strings.Join(errs, "; "))
		}
		cfg.Providers = append(cfg.Providers, pc)
	}
	return cfg, nil
}

// Factory builds a provider from its configuration entry. It reports bad
// fields with a plain error; Build adds where the entry is.
type Factory func(ctx context.Context, pc *ProviderConfig) (Provider, error)

// Kinds maps a provider kind (an entry's kind) to its factory.
type Kinds map[string]Factory

// Build returns a registry with the providers of cfg (which may be nil),
// each built by the factory of its kind, plus every default whose id cfg
// does not configure (aliases cfg claims are dropped from the default).
// Every problem is reported, each naming its entry. On error the
// providers built so far are closed.
func Build(ctx context.Context, cfg *Config, kinds Kinds, defaults []ProviderConfig) (*Registry, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	reg := NewRegistry()
	claimed := map[string]bool{}
	for _, pc := range cfg.Providers {
		claimed[pc.ID] = true
		for _, a := range pc.Aliases {
			claimed[a] = true
		}
	}
	var errs []error
	add := func(where string, pc *ProviderConfig) {
		f, ok := kinds[pc.Kind]
		if !ok {
			errs = append(errs, fmt.Errorf("%w: %s: unknown kind %q (known: %s)", ErrInvalidConfig, where, pc.Kind, strings.Join(slices.Sorted(maps.Keys(kinds)), ", ")))
			return
		}
		p, err := f(ctx, pc)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, where, err))
			return
		}
		if err := reg.Add(pc.ID, p, pc.Aliases...); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, where, err))
			if c, ok := p.(interface{ Close() error }); ok {
				_ = c.Close()
			}
		}
	}
	for i := range cfg.Providers {
		pc := &cfg.Providers[i]
		add(fmt.Sprintf("providers[%d] (id %q, kind %s)", i, pc.ID, pc.Kind), pc)
	}
	for _, d := range defaults {
		if claimed[d.ID] {
			continue
		}
		d.Aliases = slices.DeleteFunc(slices.Clone(d.Aliases), func(a string) bool { return claimed[a] })
		if d.Dir == "" {
			d.Dir = cfg.Dir
		}
		add(fmt.Sprintf("default provider %q", d.ID), &d)
	}
	if len(errs) > 0 {
		_ = reg.Close()
		return nil, errors.Join(errs...)
	}
	return reg, nil
}

// Duration is a time span in a kind's fields: a Go duration string
// ("30s", "2m") or a number of seconds.
type Duration time.Duration

// UnmarshalJSON reads "30s" or 30.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case float64:
		*d = Duration(x * float64(time.Second))
	case string:
		t, err := time.ParseDuration(x)
		if err != nil {
			return fmt.Errorf("bad duration %q (want e.g. 30s)", x)
		}
		*d = Duration(t)
	default:
		return fmt.Errorf("bad duration %s (want e.g. 30s)", b)
	}
	if *d < 0 {
		return fmt.Errorf("negative duration %s", b)
	}
	return nil
}
