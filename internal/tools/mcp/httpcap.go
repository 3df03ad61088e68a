package mcp

import (
	"fmt"
	"io"
	"net/http"

	"github.com/dustin/go-humanize"
)

// roundTripper adds the configured headers to each request (unless the
// SDK set them) and caps each response body but the SSE transport's
// stream, which MaxEventSize bounds event by event.
type roundTripper struct {
	base    http.RoundTripper
	headers map[string]string
	max     int64
	hit     func()
}

func (t *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(t.headers) > 0 {
		req = req.Clone(req.Context())
		for k, v := range t.headers {
			if req.Header.Get(k) == "" {
				req.Header.Set(k, v)
			}
		}
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil || req.Method == http.MethodGet {
		return resp, err
	}
	resp.Body = &cappedBody{r: resp.Body, left: t.max, max: t.max, hit: t.hit}
	return resp, nil
}

// tooLargeError is a response beyond the cap.
type tooLargeError struct{ max int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("the MCP server's response exceeds %s", humanize.IBytes(uint64(e.max)))
}

// cappedBody fails reads past max bytes with a tooLargeError.
type cappedBody struct {
	r    io.ReadCloser
	left int64
	max  int64
	over bool
	hit  func()
}

func (c *cappedBody) Read(b []byte) (int, error) {
	if c.over {
		return 0, &tooLargeError{c.max}
	}
	if int64(len(b)) > c.left+1 {
		b = b[:c.left+1]
	}
	n, err := c.r.Read(b)
	if int64(n) <= c.left {
		c.left -= int64(n)
		return n, err
	}
	n, c.left, c.over = int(c.left), 0, true
	c.hit()
	return n, &tooLargeError{c.max}
}

func (c *cappedBody) Close() error { return c.r.Close() }
