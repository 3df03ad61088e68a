package llm

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
)

// Defaults for Config.
const (
	// DefaultConnectTimeout bounds dialing the model server.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultIdleTimeout bounds the wait for the response headers and for
	// each streamed chunk: Dify's OpenAI plugin reads with a 300 s timeout.
	DefaultIdleTimeout = 300 * time.Second
)

// Structured output modes of a Provider (Dify picks one from the model's
// schema; flowrun cannot ask the upstream, so it is configured).
const (
	// StructuredOutputPrompt puts the JSON schema into the system prompt,
	// as Dify does for models without native structured output.
	StructuredOutputPrompt = "prompt"
	// StructuredOutputJSONSchema sends response_format json_schema, as
	// Dify does for models that support it.
	StructuredOutputJSONSchema = "json_schema"
)

// ErrInvalidConfig is wrapped by every error Register returns for a bad
// Config.
var ErrInvalidConfig = errors.New("invalid llm config")

// Config configures the LLM-backed node types. cmd/ fills it from the
// environment (see docs/nodes.md); the package never reads it.
type Config struct {
	// Providers maps a Dify model provider, as written in the DSL's
	// model.provider ("langgenius/openai/openai" or "openai"), to the
	// OpenAI-compatible server that serves it. A plugin-style name also
	// matches the entry of its last segment ("openai").
	Providers map[string]Provider
	// DefaultProvider names the entry of Providers used for a provider
	// not found there ("": such nodes fail when they run, as in Dify
	// when a provider is not set up).
	DefaultProvider string
	// HTTPClient sends the requests (nil: a client whose dialer uses
	// ConnectTimeout). Tests pass an httptest server's client.
	HTTPClient *http.Client
	// ConnectTimeout bounds dialing (default DefaultConnectTimeout);
	// unused when HTTPClient is set.
	ConnectTimeout time.Duration
	// IdleTimeout bounds the wait for the response headers and for each
	// further streamed chunk (default DefaultIdleTimeout).
	IdleTimeout time.Duration
	// Timeout bounds one whole model call (0: only the run's and the
	// node's own timeouts apply).
	Timeout time.Duration
	// CountTokens counts prompt tokens to fit conversation memory into
	// the model's context (Provider.ContextSize), with the GPT-2 encoding
	// as Dify's OpenAI-compatible plugin does. false, Dify's default
	// (PLUGIN_BASED_TOKEN_COUNTING_ENABLED unset), counts every prompt as
	// 0 tokens, so memory is bounded by its window only.
	CountTokens bool
}

// Provider is one OpenAI-compatible upstream.
type Provider struct {
	// BaseURL is the API root; requests go to BaseURL + "/chat/completions"
	// (e.g. "https://api.openai.com/v1").
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>" when not empty.
	APIKey string
	// Models maps a Dify model name (model.name in the DSL) to the
	// upstream model; names not in the map are sent unchanged.
	Models map[string]string
	// StructuredOutput is StructuredOutputPrompt (default) or
	// StructuredOutputJSONSchema.
	StructuredOutput string
	// NoToolCalls makes parameter-extractor nodes use prompt reasoning
	// even when configured for function_call, for upstreams without tool
	// support (Dify decides from the model's features).
	NoToolCalls bool
	// ContextSize is the context window, in tokens, of this upstream's
	// models, which Dify reads from a model's schema (context_size); it
	// bounds conversation memory when Config.CountTokens is set. 0: the
	// models declare none, and memory may take 2000 tokens, as in Dify.
	ContextSize int
	// ContextSizes overrides ContextSize for some models, by Dify model
	// name (model.name in the DSL).
	ContextSizes map[string]int
}

func (c Config) withDefaults() Config {
	c.ConnectTimeout = cmp.Or(c.ConnectTimeout, DefaultConnectTimeout)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	if c.HTTPClient == nil {
		d := &net.Dialer{Timeout: c.ConnectTimeout, KeepAlive: 30 * time.Second}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = d.DialContext
		t.MaxIdleConnsPerHost = 32
		c.HTTPClient = &http.Client{Transport: t}
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	for name, p := range c.Providers {
		if p.BaseURL == "" {
			errs = append(errs, fmt.Errorf("provider %q: BaseURL is required", name))
		}
		if p.ContextSize < 0 {
			errs = append(errs, fmt.Errorf("provider %q: ContextSize must not be negative", name))
		}
		for m, n := range p.ContextSizes {
			if n < 0 {
				errs = append(errs, fmt.Errorf("provider %q: ContextSizes[%q] must not be negative", name, m))
			}
		}
		switch p.StructuredOutput {
		case "", StructuredOutputPrompt, StructuredOutputJSONSchema:
		default:
			errs = append(errs, fmt.Errorf("provider %q: StructuredOutput %q is not %q or %q", name, p.StructuredOutput, StructuredOutputPrompt, StructuredOutputJSONSchema))
		}
	}
	if c.DefaultProvider != "" {
		if _, ok := c.Providers[c.DefaultProvider]; !ok {
			errs = append(errs, fmt.Errorf("DefaultProvider %q is not one of Providers", c.DefaultProvider))
		}
	}
	if c.ConnectTimeout < 0 || c.IdleTimeout < 0 || c.Timeout < 0 {
		errs = append(errs, errors.New("timeouts must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// model is a resolved model: which server, which upstream name.
type model struct {
	client *openai.Client
	// provider is the short provider name used in error messages
	// ("[openai] Rate Limit Error, ...").
	provider string
	// dify is the provider as written in the DSL; name the Dify model name.
	dify, name string
	upstream   string
	prov       Provider
	// contextSize is the model's context window in tokens (0: unknown).
	contextSize int
}

// providerName returns the last segment of a plugin-style provider name.
func providerName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// resolve finds the server for a DSL model. The error is reported when the
// node runs, as Dify reports an unconfigured provider.
func (c *Config) resolve(mc modelConfig) (*model, error) {
	short := providerName(mc.Provider)
	p, ok := c.Providers[mc.Provider]
	if !ok {
		p, ok = c.Providers[short]
	}
	if !ok && c.DefaultProvider != "" {
		p, ok = c.Providers[c.DefaultProvider]
	}
	if !ok {
		return nil, fail("ProviderTokenNotInitError", "Model provider %s is not configured.", mc.Provider)
	}
	up := mc.Name
	if m, ok := p.Models[mc.Name]; ok && m != "" {
		up = m
	}
	size := p.ContextSize
	if n, ok := p.ContextSizes[mc.Name]; ok {
		size = n
	}
	return &model{
		client:   &openai.Client{BaseURL: p.BaseURL, APIKey: p.APIKey, HTTP: c.HTTPClient, IdleTimeout: c.IdleTimeout},
		provider: short, dify: mc.Provider, name: mc.Name, upstream: up, prov: p, contextSize: size,
	}, nil
}
