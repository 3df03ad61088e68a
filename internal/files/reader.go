package files

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/flowrun/flowrun/internal/repo"
)

// Sentinel errors of Reader.Open (wrapped; test with errors.Is).
var (
	// ErrNotFound: the file's upload is not one of the app's (unknown,
	// expired, or another app's).
	ErrNotFound = errors.New("file not found")
	// ErrTooLarge: the file has more bytes than the reader's limit.
	ErrTooLarge = errors.New("file too large")
	// ErrFetch: a remote file could not be fetched (refused by the SSRF
	// guard, unreachable, or a status other than 2xx).
	ErrFetch = errors.New("file could not be fetched")
	// ErrInvalid: the value is not a file flowrun can read (no transfer
	// method, no URL, a malformed data: URL).
	ErrInvalid = errors.New("invalid file")
)

// Opener is what Reader needs of a repo.FileStore.
type Opener interface {
	Open(ctx context.Context, appID, id string) (*repo.Upload, io.ReadCloser, error)
}

// ReaderConfig configures a Reader.
type ReaderConfig struct {
	// Store holds the uploads (nil: every upload is ErrNotFound).
	Store Opener
	// Client fetches remote files. It must dial through the SSRF guard
	// (httpreq.Dialer); nil refuses every remote file.
	Client *http.Client
	// MaxBytes bounds a remote file or data: URL (default 10 MiB, the
	// http-request node's HTTP_REQUEST_NODE_MAX_BINARY_SIZE).
	MaxBytes int64
}

// DefaultMaxBytes is ReaderConfig.MaxBytes's default.
const DefaultMaxBytes = 10 << 20

// Reader returns the bytes of files. It is safe for concurrent use.
type Reader struct {
	cfg ReaderConfig
}

// NewReader returns a Reader.
func NewReader(cfg ReaderConfig) *Reader {
	cfg.MaxBytes = cmp.Or(cfg.MaxBytes, DefaultMaxBytes)
	return &Reader{cfg: cfg}
}

// Open returns the bytes of file f (a File value or mapping) as app appID
// may read them; the caller closes the reader. A data: URL in remote_url
// or url is decoded; local_file and tool_file read the app's upload
// (related_id, or upload_file_id / tool_file_id); remote_url is fetched
// with GET. Errors wrap ErrNotFound, ErrTooLarge, ErrFetch or ErrInvalid
// (or the store's repo.ErrUnavailable).
func (r *Reader) Open(ctx context.Context, appID string, f map[string]any) (io.ReadCloser, error) {
	remote, plain := str(f["remote_url"]), str(f["url"])
	for _, u := range []string{remote, plain} {
		if strings.HasPrefix(u, "data:") {
			data, err := r.dataURL(u)
			if err != nil {
				return nil, err
			}
			return io.NopCloser(bytes.NewReader(data)), nil
		}
	}
	switch tm := str(f["transfer_method"]); tm {
	case "local_file", "tool_file":
		id := cmp.Or(str(f["related_id"]), str(f["upload_file_id"]), str(f["tool_file_id"]))
		return r.upload(ctx, appID, id)
	case "remote_url":
		if id := str(f["related_id"]); id != "" {
			// A remote_url mapping that named an upload (Dify accepts
			// upload_file_id with remote_url too).
			if rc, err := r.upload(ctx, appID, id); err == nil {
				return rc, nil
			}
		}
		return r.remote(ctx, cmp.Or(remote, plain))
	default:
		return nil, fmt.Errorf("%w: transfer_method %q", ErrInvalid, tm)
	}
}

func (r *Reader) upload(ctx context.Context, appID, id string) (io.ReadCloser, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: the file names no upload", ErrInvalid)
	}
	if r.cfg.Store == nil || appID == "" {
		return nil, fmt.Errorf("%w: upload %s", ErrNotFound, id)
	}
	_, rc, err := r.cfg.Store.Open(ctx, appID, id)
	if errors.Is(err, repo.ErrNotFound) {
		return nil, fmt.Errorf("%w: upload %s: %w", ErrNotFound, id, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading upload %s: %w", id, err)
	}
	return rc, nil
}

func (r *Reader) remote(ctx context.Context, target string) (io.ReadCloser, error) {
	if target == "" {
		return nil, fmt.Errorf("%w: Missing file remote_url", ErrInvalid)
	}
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		return nil, fmt.Errorf("%w: cannot fetch file from %q: not an http(s) URL", ErrInvalid, target)
	}
	if r.cfg.Client == nil {
		return nil, fmt.Errorf("%w: cannot fetch file from %s: remote files are not enabled", ErrFetch, target)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot fetch file from %q: %w", ErrInvalid, target, err)
	}
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, fmt.Errorf("%w: cannot fetch file from %s: %w", ErrFetch, target, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: cannot fetch file from %s: status code %d", ErrFetch, target, resp.StatusCode)
	}
	if resp.ContentLength > r.cfg.MaxBytes {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s has %d bytes, more than %d", ErrTooLarge, target, resp.ContentLength, r.cfg.MaxBytes)
	}
	return &limitedBody{rc: resp.Body, left: r.cfg.MaxBytes, limit: r.cfg.MaxBytes}, nil
}

// limitedBody fails with ErrTooLarge once more than limit bytes arrive.
type limitedBody struct {
	rc    io.ReadCloser
	left  int64
	limit int64
}

// Read implements io.Reader.
func (l *limitedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.rc.Read(p)
	if int64(n) > l.left {
		return int(l.left), fmt.Errorf("%w: more than %d bytes", ErrTooLarge, l.limit)
	}
	l.left -= int64(n)
	return n, err
}

// Close implements io.Closer.
func (l *limitedBody) Close() error { return l.rc.Close() }

func (r *Reader) dataURL(s string) ([]byte, error) {
	// A base64 payload decodes to at most 3/4 of its length.
	if int64(len(s))*3/4 > r.cfg.MaxBytes+4 {
		return nil, fmt.Errorf("%w: data: URL of more than %d bytes", ErrTooLarge, r.cfg.MaxBytes)
	}
	data, err := DecodeDataURL(s)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot decode the data: URL: %w", ErrInvalid, err)
	}
	if int64(len(data)) > r.cfg.MaxBytes {
		return nil, fmt.Errorf("%w: data: URL of %d bytes, more than %d", ErrTooLarge, len(data), r.cfg.MaxBytes)
	}
	return data, nil
}

// DecodeDataURL decodes "data:[<mediatype>][;base64],<data>".
func DecodeDataURL(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, "data:")
	if !ok {
		return nil, errors.New("not a data: URL")
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, errors.New("missing ','")
	}
	if strings.HasSuffix(strings.ToLower(meta), ";base64") {
		out, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			if out, err2 := base64.RawStdEncoding.DecodeString(data); err2 == nil {
				return out, nil
			}
			return nil, err
		}
		return out, nil
	}
	out, err := url.PathUnescape(data)
	if err != nil {
		return nil, err
	}
	return []byte(out), nil
}

// str is v if it is a string, else "".
func str(v any) string {
	s, _ := v.(string)
	return s
}
