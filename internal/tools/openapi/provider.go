package openapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/flowrun/flowrun/internal/tools"
)

// Kind is the provider kind this package implements (tools.yaml's kind).
const Kind = "openapi"

// Defaults, as in Dify (API_TOOL_DEFAULT_CONNECT_TIMEOUT,
// API_TOOL_DEFAULT_READ_TIMEOUT; PLUGIN_MAX_FILE_SIZE bounds file
// responses) and the http-request node (its text size).
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultReadTimeout    = 60 * time.Second
	DefaultMaxTextSize    = 1 << 20
	DefaultMaxFileSize    = 50 << 20
	defaultMaxRedirects   = 20
)

// Options are the dependencies and limits of every openapi provider.
type Options struct {
	// Dial connects to a destination. cmd/api passes the http-request
	// node's SSRF guard (httpreq.Dialer), so tools reach exactly what the
	// node may reach. Required.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// ConnectTimeout bounds each connection (default 10 s); ReadTimeout
	// bounds the wait for the response's headers (default 60 s).
	ConnectTimeout time.Duration
	ReadTimeout    time.Duration
	// MaxTextSize bounds a response read as text or JSON (default 1 MiB,
	// the http-request node's HTTP_REQUEST_NODE_MAX_TEXT_SIZE);
	// MaxFileSize one sent as an attachment (default 50 MiB).
	MaxTextSize int64
	MaxFileSize int64
}

// Factory returns the openapi kind's factory. Its providers share one
// HTTP client built on o.Dial.
func Factory(o Options) tools.Factory {
	client := newClient(o)
	o.MaxTextSize = cmp.Or(o.MaxTextSize, DefaultMaxTextSize)
	o.MaxFileSize = cmp.Or(o.MaxFileSize, DefaultMaxFileSize)
	return func(_ context.Context, pc *tools.ProviderConfig) (tools.Provider, error) {
		if o.Dial == nil {
			return nil, errors.New("openapi: no dialer configured")
		}
		var c tools.OpenAPIConfig
		if err := pc.Decode(&c); err != nil {
			return nil, err
		}
		return New(&c, pc.Dir, client, o)
	}
}

// newClient returns the client every provider uses: o.Dial, no proxy,
// redirects followed as httpx does (Dify sets follow_redirects).
func newClient(o Options) *http.Client {
	tr := &http.Transport{
		DialContext:           o.Dial,
		ResponseHeaderTimeout: cmp.Or(o.ReadTimeout, DefaultReadTimeout),
		TLSHandshakeTimeout:   cmp.Or(o.ConnectTimeout, DefaultConnectTimeout),
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	if o.Dial != nil {
		connect := cmp.Or(o.ConnectTimeout, DefaultConnectTimeout)
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, connect)
			defer cancel()
			return o.Dial(ctx, network, addr)
		}
	}
	return &http.Client{Transport: tr, CheckRedirect: func(_ *http.Request, via []*http.Request) error {
		if len(via) >= defaultMaxRedirects {
			return errors.New("Exceeded maximum allowed redirects.") //nolint:staticcheck // httpx's text
		}
		return nil
	}}
}

// Provider is one OpenAPI document's tools.
type Provider struct {
	tools  []tools.Tool
	ops    map[string]*operation
	client *http.Client
	auth   auth
	opt    Options
}

// New returns the provider of configuration c; dir is where a relative
// SchemaFile is read from. The document is parsed once, here.
func New(c *tools.OpenAPIConfig, dir string, client *http.Client, o Options) (*Provider, error) {
	a, err := newAuth(c)
	if err != nil {
		return nil, err
	}
	schema := []byte(c.Schema)
	switch {
	case c.Schema != "" && c.SchemaFile != "":
		return nil, errors.New("set schema or schema_file, not both")
	case c.SchemaFile != "":
		path := c.SchemaFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		if schema, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("schema_file: %w", err)
		}
	case c.Schema == "":
		return nil, errors.New("schema or schema_file is required")
	}
	list, ops, err := parse(schema)
	if err != nil {
		return nil, err
	}
	p := &Provider{tools: list, ops: make(map[string]*operation, len(ops)), client: client, auth: a, opt: o}
	for _, op := range ops {
		if _, dup := p.ops[op.id]; !dup { // Dify finds the first of a name
			p.ops[op.id] = op
		}
	}
	return p, nil
}

// Tools lists one tool per operation, in document order.
func (p *Provider) Tools(context.Context) ([]tools.Tool, error) { return p.tools, nil }

// Invoke sends the operation's request and emits its response: a file
// response (Content-Disposition: attachment) as a blob; a JSON object as a
// json message followed by the body as text; anything else as text. A
// status of 400 or more fails with Dify's ToolInvokeError text.
func (p *Provider) Invoke(ctx context.Context, call *tools.Call, emit tools.Emit) error {
	op, ok := p.ops[call.Tool]
	if !ok {
		return fmt.Errorf("%w: tool %s not found", tools.ErrToolNotFound, call.Tool)
	}
	req, err := p.request(ctx, op, call.Args)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return tools.InvokeErrorf("%w", err)
	}
	defer resp.Body.Close()
	msgs, err := p.messages(resp)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return err
	}
	for _, m := range msgs {
		if err := emit(m); err != nil {
			return err
		}
	}
	return nil
}
