package httpreq

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/htmlindex"
)

// ErrTooLarge is wrapped by the error of a response (or a remote file)
// larger than its size cap.
var ErrTooLarge = errors.New("response too large")

// response is a response read within its size cap.
type response struct {
	status  int
	header  http.Header
	te      []string
	content []byte
	isFile  bool
}

// readResponse reads and closes resp's body, decoding its
// Content-Encoding. It stops reading past the size cap that applies (the
// binary cap for a file response, else the text cap).
func (cs *clients) readResponse(resp *http.Response) (*response, error) {
	defer resp.Body.Close()
	r := &response{status: resp.StatusCode, header: resp.Header, te: resp.TransferEncoding}
	encoding := strings.TrimSpace(resp.Header.Get("Content-Encoding"))
	br := bufio.NewReaderSize(decodeContent(encoding, resp.Body), 1024)
	sample, err := br.Peek(1024)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, readError(err)
	}
	r.isFile = isFileResponse(resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"), sample)
	limit := cs.cfg.MaxTextSize
	if r.isFile {
		limit = cs.cfg.MaxBinarySize
	}
	// A declared length over the cap fails before any byte is read (a
	// HEAD response declares the length of a body it does not carry).
	identity := encoding == "" || strings.EqualFold(encoding, "identity")
	head := resp.Request != nil && resp.Request.Method == http.MethodHead
	if identity && !head && resp.ContentLength > limit {
		return nil, sizeError(r.isFile, limit, readableSize(resp.ContentLength))
	}
	data, err := io.ReadAll(io.LimitReader(br, limit+1))
	if err != nil {
		return nil, readError(err)
	}
	if int64(len(data)) > limit {
		return nil, sizeError(r.isFile, limit, "more than "+readableSize(limit))
	}
	r.content = data
	return r, nil
}

func readError(err error) error {
	return classifyError("", fmt.Errorf("reading the response: %w", err))
}

func sizeError(isFile bool, limit int64, current string) error {
	kind := "Text"
	if isFile {
		kind = "File"
	}
	return nodeErr(ErrTypeResponseSize, &sentinelError{
		msg:      fmt.Sprintf("%s size is too large, max size is %.2f MB, but current size is %s.", kind, float64(limit)/1024/1024, current),
		sentinel: ErrTooLarge,
	})
}

// sentinelError keeps Dify's message while wrapping one of our sentinels.
type sentinelError struct {
	msg      string
	sentinel error
}

func (e *sentinelError) Error() string { return e.msg }
func (e *sentinelError) Unwrap() error { return e.sentinel }

// readableSize is Dify's Response.readable_size.
func readableSize(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d bytes", n)
	case n < 1024*1024:
		return fmt.Sprintf("%.2f KB", float64(n)/1024)
	}
	return fmt.Sprintf("%.2f MB", float64(n)/1024/1024)
}

// decodeContent undoes gzip and deflate content codings (applied in the
// order listed, so undone in reverse); other codings are left as they are,
// as httpx's identity decoder does.
func decodeContent(encoding string, body io.Reader) io.Reader {
	if encoding == "" {
		return body
	}
	codings := strings.Split(encoding, ",")
	r := body
	for i := len(codings) - 1; i >= 0; i-- {
		switch strings.ToLower(strings.TrimSpace(codings[i])) {
		case "gzip", "x-gzip":
			r = &lazyReader{src: r, open: func(src io.Reader) (io.Reader, error) { return gzip.NewReader(src) }}
		case "deflate":
			r = &lazyReader{src: r, open: openDeflate}
		}
	}
	return r
}

// openDeflate reads zlib-wrapped deflate, or raw deflate when the stream
// has no zlib header (httpx's DeflateDecoder does the same).
func openDeflate(src io.Reader) (io.Reader, error) {
	br := bufio.NewReader(src)
	h, err := br.Peek(2)
	if err == nil && h[0]&0x0f == 8 && (uint16(h[0])<<8|uint16(h[1]))%31 == 0 {
		return zlib.NewReader(br)
	}
	return flate.NewReader(br), nil
}

// lazyReader opens its decoder on the first Read, so an empty body (a HEAD
// response) decodes to nothing instead of failing on a missing header.
type lazyReader struct {
	src  io.Reader
	open func(io.Reader) (io.Reader, error)
	r    io.Reader
	err  error
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.r == nil && l.err == nil {
		br := bufio.NewReader(l.src)
		if _, err := br.Peek(1); err != nil {
			l.err = err
		} else {
			l.r, l.err = l.open(br)
		}
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.r.Read(p)
}

// text decodes the body as httpx's Response.text: the charset of the
// Content-Type when known, else UTF-8, invalid bytes replaced.
func (r *response) text() string {
	if _, params, err := mime.ParseMediaType(r.header.Get("Content-Type")); err == nil {
		if cs := strings.ToLower(strings.TrimSpace(params["charset"])); cs != "" && cs != "utf-8" && cs != "utf8" {
			if enc, err := htmlindex.Get(cs); err == nil {
				if out, err := enc.NewDecoder().Bytes(r.content); err == nil {
					return string(out)
				}
			}
		}
	}
	if utf8.Valid(r.content) {
		return string(r.content)
	}
	return strings.ToValidUTF8(string(r.content), "\uFFFD")
}

// headerMap is dict(httpx.Response.headers): lower-case names, repeated
// headers joined with ", ".
func (r *response) headerMap() map[string]any {
	out := make(map[string]any, len(r.header)+1)
	for k, vs := range r.header {
		out[strings.ToLower(k)] = strings.Join(vs, ", ")
	}
	if len(r.te) > 0 {
		out["transfer-encoding"] = strings.Join(r.te, ", ")
	}
	return out
}

// Media types Dify's Response.is_file treats as text when they are
// application/*.
var textApplicationTypes = []string{"json", "xml", "javascript", "x-www-form-urlencoded", "yaml", "graphql"}

var textMarkers = [][]byte{[]byte("{"), []byte("["), []byte("<"), []byte("function"), []byte("var "), []byte("const "), []byte("let ")}

// isFileResponse is Dify's Response.is_file: a Content-Disposition
// attachment or filename makes a file; text/* and text-like application/*
// are text; image, audio and video types and known binary application/*
// types are files.
func isFileResponse(contentType, disposition string, sample []byte) bool {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	if dispositionIsFile(disposition) {
		return true
	}
	if strings.HasPrefix(ct, "text/") {
		return false
	}
	if strings.HasPrefix(ct, "application/") {
		for _, t := range textApplicationTypes {
			if strings.Contains(ct, t) {
				return false
			}
		}
		if looksLikeText(sample) {
			return false
		}
		return knownApplicationTypes[ct]
	}
	main, _, _ := strings.Cut(ct, "/")
	switch main {
	case "image", "audio", "video":
		return true
	}
	return strings.Contains(ct, "image/") || strings.Contains(ct, "audio/") || strings.Contains(ct, "video/")
}

// looksLikeText: the first KiB is valid UTF-8 and holds a text marker.
func looksLikeText(sample []byte) bool {
	if !utf8.Valid(sample) {
		return false
	}
	for _, m := range textMarkers {
		if bytes.Contains(sample, m) {
			return true
		}
	}
	return false
}

func dispositionIsFile(cd string) bool {
	if strings.TrimSpace(cd) == "" {
		return false
	}
	disp, params, err := mime.ParseMediaType(cd)
	if err != nil {
		lower := strings.ToLower(cd)
		return strings.HasPrefix(strings.TrimSpace(lower), "attachment") || strings.Contains(lower, "filename")
	}
	_, hasName := params["filename"]
	return disp == "attachment" || hasName
}

// dispositionFilename returns the filename parameter of a
// Content-Disposition header (RFC 2231 forms decoded).
func dispositionFilename(cd string) string {
	if _, params, err := mime.ParseMediaType(cd); err == nil {
		return params["filename"]
	}
	return ""
}
