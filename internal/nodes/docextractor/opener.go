package docextractor

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ErrNoStore is wrapped by RemoteOpener's error for a file whose bytes
// are in a file store (local_file, tool_file).
var ErrNoStore = errors.New("no file store")

// RemoteOpener reads the files whose bytes are behind a URL: data: URLs
// in place, and remote_url files with an HTTP GET through Client, which
// should be the http-request node's SSRF-guarded client. Other files
// (uploads, tool files) need the file store's Opener.
type RemoteOpener struct {
	Client *http.Client
}

// Open returns the bytes of f.
func (o RemoteOpener) Open(ctx context.Context, _ string, f map[string]any) (io.ReadCloser, error) {
	u, _ := f["remote_url"].(string)
	if u == "" {
		u, _ = f["url"].(string)
	}
	method, _ := f["transfer_method"].(string)
	switch {
	case strings.HasPrefix(u, "data:"):
		b, err := dataURL(u)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	case method != "remote_url":
		return nil, fmt.Errorf("%w is configured for %s files", ErrNoStore, method)
	case u == "":
		return nil, errors.New("Missing URL for remote file")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := o.Client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		resp.Body.Close()
		return nil, statusError(resp, u)
	}
	return resp.Body, nil
}

// statusError is httpx's raise_for_status message.
func statusError(resp *http.Response, u string) error {
	kind := "Server error"
	switch resp.StatusCode / 100 {
	case 1:
		kind = "Informational response"
	case 3:
		kind = "Redirect response"
	case 4:
		kind = "Client error"
	}
	return fmt.Errorf("%s '%d %s' for url '%s'\nFor more information check: https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/%d",
		kind, resp.StatusCode, http.StatusText(resp.StatusCode), u, resp.StatusCode)
}

// dataURL decodes an RFC 2397 data: URL.
func dataURL(u string) ([]byte, error) {
	meta, data, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
	if !ok {
		return nil, errors.New("invalid data URL: no comma")
	}
	if strings.HasSuffix(meta, ";base64") {
		data = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
				return -1
			}
			return r
		}, data)
		if b, err := base64.StdEncoding.DecodeString(data); err == nil {
			return b, nil
		}
		b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(data, "="))
		if err != nil {
			return nil, fmt.Errorf("invalid data URL: %w", err)
		}
		return b, nil
	}
	s, err := url.PathUnescape(data)
	if err != nil {
		return nil, fmt.Errorf("invalid data URL: %w", err)
	}
	return []byte(s), nil
}
