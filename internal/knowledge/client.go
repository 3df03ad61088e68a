package knowledge

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"strings"
	"time"
)

// Defaults of Options.
const (
	DefaultTimeout          = 60 * time.Second
	DefaultConnectTimeout   = 10 * time.Second
	DefaultMaxResponseBytes = 4 << 20
	maxRedirects            = 10
	// maxErrorText bounds the response text an error quotes.
	maxErrorText = 1000
)

// Options are the dependencies and limits every backend shares.
type Options struct {
	// Dial connects to a destination. cmd/api passes the http-request
	// node's SSRF guard (httpreq.Dialer), so that backends reach exactly
	// what that node may reach. Required.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds one retrieval, response included, unless its entry
	// sets one (default DefaultTimeout); ConnectTimeout each connection
	// (DefaultConnectTimeout).
	Timeout        time.Duration
	ConnectTimeout time.Duration
	// MaxResponseBytes bounds a response body (DefaultMaxResponseBytes);
	// a larger one fails the retrieval.
	MaxResponseBytes int64
}

// client posts JSON to backends.
type client struct {
	hc      *http.Client
	timeout time.Duration
	max     int64
}

func newClient(o Options) *client {
	connect := cmp.Or(o.ConnectTimeout, DefaultConnectTimeout)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, connect)
			defer cancel()
			return o.Dial(ctx, network, addr)
		},
		TLSHandshakeTimeout: connect,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &client{
		hc: &http.Client{Transport: tr, CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return nil
		}},
		timeout: cmp.Or(o.Timeout, DefaultTimeout),
		max:     cmp.Or(o.MaxResponseBytes, DefaultMaxResponseBytes),
	}
}

// close drops idle connections.
func (c *client) close() { c.hc.CloseIdleConnections() }

// statusError is a response other than 200: its status and body text.
type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string {
	if strings.TrimSpace(e.body) == "" {
		return fmt.Sprintf("HTTP %d", e.status)
	}
	return e.body
}

// post sends body as JSON with a Bearer key (none when key is empty),
// within timeout, and returns the 200 response's body. Any other status
// is a *statusError.
func (c *client) post(ctx context.Context, url, key string, timeout time.Duration, body any) ([]byte, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, cmp.Or(timeout, c.timeout), fmt.Errorf("no answer within %s", cmp.Or(timeout, c.timeout)))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("POST %s: %w", url, context.Cause(ctx))
		}
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.max+1))
	if err != nil {
		return nil, fmt.Errorf("POST %s: reading the response: %w", url, err)
	}
	if int64(len(data)) > c.max {
		return nil, fmt.Errorf("POST %s: the response exceeds %d bytes", url, c.max)
	}
	if resp.StatusCode != http.StatusOK {
		text := string(data)
		if len(text) > maxErrorText {
			text = text[:maxErrorText] + "…"
		}
		return nil, &statusError{status: resp.StatusCode, body: text}
	}
	return data, nil
}

// decode reads a JSON response, numbers as json.Number so that an
// integer in a record's metadata stays an integer.
func decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}
