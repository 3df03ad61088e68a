// Package mcp is the tool provider of kind mcp: a Model Context Protocol
// server whose tools flowrun calls, as Dify's MCP tool provider does. It
// speaks streamable HTTP (or SSE, for a URL whose path ends in /sse)
// through the maintained Go SDK, github.com/modelcontextprotocol/go-sdk.
//
// A Provider keeps one session per server, shared by concurrent calls and
// opened again when the server drops it; it lists the server's tools
// (cached for Options.ListTTL) and maps each call's result to Dify's tool
// messages (docs/tools.md, "MCP servers").
package mcp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/flowrun/flowrun/internal/tools"
)

// Defaults of the configuration and options.
const (
	// DefaultTimeout bounds connecting and listing tools (Dify's
	// timeout).
	DefaultTimeout = 30 * time.Second
	// DefaultSSEReadTimeout bounds one tool call (Dify's
	// sse_read_timeout).
	DefaultSSEReadTimeout = 300 * time.Second
	// DefaultMaxResponseBytes caps one HTTP response body from the server,
	// and one SSE event: the http-request node's file limit, since results
	// may carry base64 images.
	DefaultMaxResponseBytes = 10 << 20
	// DefaultListTTL is how long a listing of the server's tools is used.
	DefaultListTTL = time.Minute
	// DefaultMaxTools bounds how many tools one listing accepts, across
	// its pages.
	DefaultMaxTools = 10000
)

// ErrClosed is returned by a provider used after Close.
var ErrClosed = errors.New("mcp provider closed")

// Options are the operator-wide settings of every MCP provider (the
// per-server ones are in tools.MCPConfig). Zero fields take the defaults.
type Options struct {
	// MaxResponseBytes caps one HTTP response body from a server and one
	// SSE event; a larger result fails the call.
	MaxResponseBytes int64
	// ListTTL is how long a tools/list answer is used.
	ListTTL time.Duration
	// MaxTools bounds the tools one listing accepts (a server paging
	// forever is cut off there).
	MaxTools int
	// ClientName is the name flowrun gives itself in initialize.
	ClientName string
}

func (o Options) withDefaults() Options {
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.ListTTL <= 0 {
		o.ListTTL = DefaultListTTL
	}
	if o.MaxTools <= 0 {
		o.MaxTools = DefaultMaxTools
	}
	if o.ClientName == "" {
		o.ClientName = "flowrun"
	}
	return o
}

// Kind is the provider kind this package implements, the kind of a
// tools.yaml entry.
const Kind = "mcp"

// Factory returns the tools.Factory of kind mcp: it decodes a
// tools.MCPConfig and returns a Provider. It does not contact the server:
// a server that is down at start makes its tools fail at run time.
func Factory(opts Options) tools.Factory {
	return func(_ context.Context, pc *tools.ProviderConfig) (tools.Provider, error) {
		var c tools.MCPConfig
		if err := pc.Decode(&c); err != nil {
			return nil, err
		}
		return New(c, opts)
	}
}

// Provider is the tools of one MCP server. It is safe for concurrent use.
type Provider struct {
	cfg    tools.MCPConfig
	opts   Options
	sse    bool
	client *mcp.Client
	http   *http.Client
	// oversized counts responses cut at MaxResponseBytes.
	oversized atomic.Int64

	// connecting is held while a session is opened; sess is the current
	// one (nil before the first call and after a drop).
	connecting chan struct{}
	sess       atomic.Pointer[mcp.ClientSession]
	closing    sync.WaitGroup // sessions being closed after a drop
	closeOnce  sync.Once
	closed     atomic.Bool
	// life is cancelled by Close, ending a connect in progress.
	life context.Context
	stop context.CancelFunc

	cache listing
}

// New returns the provider of the server cfg describes, after checking
// cfg.
func New(cfg tools.MCPConfig, opts Options) (*Provider, error) {
	u, err := url.Parse(cfg.URL)
	switch {
	case cfg.URL == "":
		return nil, errors.New("url is required")
	case err != nil:
		return nil, fmt.Errorf("url: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("url %q: scheme must be http or https", cfg.URL)
	case u.Host == "":
		return nil, fmt.Errorf("url %q has no host", cfg.URL)
	}
	for k := range cfg.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			return nil, fmt.Errorf("headers: bad header name %q", k)
		}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = tools.Duration(DefaultTimeout)
	}
	if cfg.SSEReadTimeout == 0 {
		cfg.SSEReadTimeout = tools.Duration(DefaultSSEReadTimeout)
	}
	opts = opts.withDefaults()
	p := &Provider{
		cfg:        cfg,
		opts:       opts,
		sse:        path.Base(strings.TrimRight(u.Path, "/")) == "sse",
		connecting: make(chan struct{}, 1),
	}
	p.life, p.stop = context.WithCancel(context.Background())
	p.http = p.newHTTPClient()
	p.client = mcp.NewClient(&mcp.Implementation{Name: opts.ClientName, Version: "1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { p.cache.invalidate() },
	})
	return p, nil
}

// Close closes the session. Calls after Close fail with ErrClosed.
func (p *Provider) Close() error {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		p.stop()
		// Wait for a connect in progress, so that its session is closed too.
		p.connecting <- struct{}{}
		if s := p.sess.Swap(nil); s != nil {
			_ = s.Close()
		}
		<-p.connecting
		p.closing.Wait()
		p.http.CloseIdleConnections()
	})
	return nil
}
