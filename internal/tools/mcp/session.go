package mcp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// session returns the provider's session, opening one when there is
// none. Concurrent callers share it; one of them opens it while the
// others wait (or give up when their ctx ends).
func (p *Provider) session(ctx context.Context) (*mcp.ClientSession, error) {
	if s := p.sess.Load(); s != nil {
		return s, nil
	}
	select {
	case p.connecting <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-p.connecting }()
	if p.closed.Load() {
		return nil, ErrClosed
	}
	if s := p.sess.Load(); s != nil {
		return s, nil
	}
	cctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	defer context.AfterFunc(p.life, cancel)()
	s, err := p.client.Connect(cctx, p.transport(), nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &connectError{err}
	}
	p.sess.Store(s)
	return s, nil
}

// drop forgets session s, if it is still the current one, and closes it
// in the background (Close waits for it).
func (p *Provider) drop(s *mcp.ClientSession) {
	if p.sess.CompareAndSwap(s, nil) {
		p.closing.Go(func() { _ = s.Close() })
	}
}

// do runs op on the session. When op fails because the session broke
// (not because the server answered with an error, nor because ctx or
// op's own deadline ended), the session is dropped so that the next call
// opens a new one; op is run once more on a new session when retry
// allows it for that error.
func (p *Provider) do(ctx context.Context, retry func(error) bool, op func(context.Context, *mcp.ClientSession) error) error {
	for attempt := 0; ; attempt++ {
		s, err := p.session(ctx)
		if err != nil {
			return err
		}
		err = op(ctx, s)
		if err == nil || !broken(err) {
			return err
		}
		p.drop(s)
		if attempt > 0 || ctx.Err() != nil || !retry(err) {
			return err
		}
	}
}

// broken reports whether err, from a call on a session, means that the
// session is no longer usable.
func broken(err error) bool {
	_, answered := serverError(err)
	var le *limitError
	return !answered && !errors.As(err, &le) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// unsent reports whether err means that the server cannot have run the
// request: the connection was closed before it was sent, the request
// failed before an answer began (a closed keep-alive connection, an HTTP
// error status such as 404 for a session the server forgot). Only such
// calls are sent again on a new session; a tool call may not be
// idempotent.
func unsent(err error) bool {
	return errors.Is(err, mcp.ErrSessionMissing) || errors.Is(err, mcp.ErrConnectionClosed) || errors.Is(err, errRejected)
}

// always allows a retry after any broken session (listing is idempotent).
func always(error) bool { return true }

func (p *Provider) timeout() time.Duration { return time.Duration(p.cfg.Timeout) }

// transport returns a new transport to the server: SSE for a URL whose
// path ends in /sse, streamable HTTP otherwise. The streamable transport
// opens no standalone SSE stream (flowrun only needs the answers to its
// own requests) and does not resume broken streams itself: a broken
// session is replaced by a new one (do).
func (p *Provider) transport() mcp.Transport {
	if p.sse {
		return &detached{
			Transport: &mcp.SSEClientTransport{Endpoint: p.cfg.URL, HTTPClient: p.http, MaxEventSize: int(p.opts.MaxResponseBytes)},
			life:      p.life,
		}
	}
	return &mcp.StreamableClientTransport{
		Endpoint:             p.cfg.URL,
		HTTPClient:           p.http,
		MaxRetries:           -1,
		DisableStandaloneSSE: true,
		MaxEventSize:         int(p.opts.MaxResponseBytes),
	}
}

// newHTTPClient returns the HTTP client of a provider's transports: it
// bounds dialing and TLS handshakes by the configured timeout, sends the
// configured headers, and caps response bodies.
func (p *Provider) newHTTPClient() *http.Client {
	base := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: p.timeout(), KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: p.timeout(),
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: 100,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{Transport: &roundTripper{base: base, headers: p.cfg.Headers, max: p.opts.MaxResponseBytes, hit: func() { p.oversized.Add(1) }}}
}

// detached is a transport whose connection outlives the context it is
// opened with (the SSE transport ties its stream to it): the connection
// lives until it is closed or the provider is, and the opening context
// only bounds the opening.
type detached struct {
	mcp.Transport
	life context.Context
}

func (t *detached) Connect(ctx context.Context) (mcp.Connection, error) {
	connCtx, cancel := context.WithCancel(t.life)
	stop := context.AfterFunc(ctx, cancel)
	conn, err := t.Transport.Connect(connCtx)
	if !stop() {
		err = errors.Join(ctx.Err(), err)
	}
	if err != nil {
		if conn != nil {
			_ = conn.Close()
		}
		cancel()
		return nil, err
	}
	return &cancelOnClose{Connection: conn, cancel: cancel}, nil
}

// cancelOnClose ends a detached connection's context when it is closed.
type cancelOnClose struct {
	mcp.Connection
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.Connection.Close()
	c.cancel()
	return err
}
