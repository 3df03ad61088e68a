package httpreq

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strings"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/third_party/jsonrepair"
)

// contentTypes are the Content-Type headers Dify adds per body type unless
// the node sets one.
var contentTypes = map[string]string{
	bodyJSON:       "application/json",
	bodyURLEncoded: "application/x-www-form-urlencoded",
	bodyFormData:   "multipart/form-data",
	bodyRawText:    "text/plain",
}

// placeholderField forces a multipart body when form-data has no file, as
// Dify does.
const placeholderField = "__multipart_placeholder__"

func nodeErr(typ string, err error) error { return &run.NodeError{Type: typ, Err: err} }

func nodeErrf(typ, format string, args ...any) error {
	return &run.NodeError{Type: typ, Err: fmt.Errorf(format, args...)}
}

// Execute sends the request and reports the response.
func (n *node) Execute(ctx context.Context, x *run.Exec) (*run.Result, error) {
	pool := x.Pool
	var apiKey string
	if n.authType == "api-key" {
		apiKey = n.apiKey.Text(pool)
		if strings.TrimSpace(apiKey) == "" {
			return nil, nodeErrf(ErrTypeAuthorization, "API key is required for authorization but was empty. Please provide a valid API key.")
		}
	}
	rawURL := n.url.Text(pool)
	switch {
	case rawURL == "":
		return nil, nodeErrf(ErrTypeInvalidURL, "url is required")
	case !strings.HasPrefix(rawURL, "http://") && !strings.HasPrefix(rawURL, "https://"):
		return nil, nodeErrf(ErrTypeInvalidURL, "url should start with http:// or https://")
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, nodeErrf(ErrTypeInvalidURL, "invalid url %q", rawURL)
	}
	params := make([][2]string, len(n.params))
	for i, p := range n.params {
		params[i] = [2]string{p.key.Text(pool), p.value.Text(pool)}
	}
	headers := parseHeaders(n.headers.Text(pool))
	body, err := n.buildBody(ctx, pool)
	if err != nil {
		return nil, err
	}
	headers = n.assembleHeaders(headers, apiKey)
	if body.contentType != "" {
		headers.set("Content-Type", body.contentType)
	}
	pd := run.Vars{{Name: "request", Value: n.toLog(u, params, headers, body)}}
	fail := func(err error) (*run.Result, error) { return &run.Result{ProcessData: pd}, err }

	if len(params) > 0 {
		u.RawQuery = mergeQuery(u.RawQuery, params)
	}
	u.Fragment, u.RawFragment = "", ""
	var rd *bytes.Reader
	if body.content != nil {
		rd = bytes.NewReader(body.content)
	}
	req, err := newRequest(ctx, n.method, u.String(), rd)
	if err != nil {
		return fail(nodeErr(ErrTypeNode, err))
	}
	for _, h := range headers {
		switch k := http.CanonicalHeaderKey(h.key); k {
		case "Host":
			req.Host = h.value
		case "Content-Length", "Transfer-Encoding":
			// Computed from the body, as httpx does.
		default:
			req.Header.Add(k, h.value)
		}
	}
	if !headers.has("accept") {
		req.Header.Set("Accept", "*/*")
	}
	if !headers.has("accept-encoding") {
		req.Header.Set("Accept-Encoding", "gzip, deflate")
	}

	client, release := n.cs.client(n.timeouts)
	defer release()
	resp, err := client.Do(req)
	if err != nil {
		return fail(requestError(ctx, rawURL, err))
	}
	r, err := n.cs.readResponse(resp)
	if err != nil {
		if ctx.Err() != nil {
			return fail(context.Cause(ctx))
		}
		return fail(err)
	}
	files := []any{}
	text := ""
	if r.isFile {
		files = append(files, fileOutput(rawURL, r))
	} else {
		text = r.text()
	}
	res := &run.Result{
		ProcessData: pd,
		Outputs: run.Vars{
			{Name: "status_code", Value: int64(r.status)},
			{Name: "body", Value: text},
			{Name: "headers", Value: r.headerMap()},
			{Name: "files", Value: files},
		},
	}
	if (r.status < 200 || r.status > 299) && n.failOnStatus {
		return res, nodeErrf(ErrTypeResponseCode, "Request failed with status code %d", r.status)
	}
	return res, nil
}

// newRequest avoids handing a typed nil *bytes.Reader to http.NewRequest.
func newRequest(ctx context.Context, method, target string, body *bytes.Reader) (*http.Request, error) {
	if body == nil {
		return http.NewRequestWithContext(ctx, method, target, nil)
	}
	return http.NewRequestWithContext(ctx, method, target, body)
}

// requestError turns a failed round trip into the node's error.
func requestError(ctx context.Context, target string, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return classifyError(target, err)
}

// classifyError maps a transport error to the node's error type.
func classifyError(target string, err error) error {
	redact(err)
	var be *BlockedError
	switch {
	case errors.As(err, &be):
		return nodeErr(ErrTypeSSRF, blockedMessage(target, be))
	case errors.Is(err, ErrBlocked):
		return nodeErr(ErrTypeSSRF, blockedMessage(target, err))
	case errors.Is(err, errTooManyRedirects):
		return nodeErr(ErrTypeNode, errTooManyRedirects)
	}
	if isTimeout(err) {
		return nodeErr(ErrTypeNode, fmt.Errorf("Request timed out: %w", err)) //nolint:staticcheck // user-facing message
	}
	return nodeErr(ErrTypeNode, err)
}

// isTimeout reports whether any error in err's tree is a timeout. (A
// url.Error only asks its direct cause, which the transport sometimes
// wraps.)
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	timeout := false
	walkErrors(err, func(e error) {
		if t, ok := e.(interface{ Timeout() bool }); ok && t.Timeout() {
			timeout = true
		}
	})
	return timeout
}

// blockedMessage is Dify's ToolSSRFError message followed by the reason.
func blockedMessage(target string, cause error) error {
	return fmt.Errorf("Access to '%s' was blocked by SSRF protection. The URL may point to a private or local network address. (%w)", run.Clip(target), cause) //nolint:staticcheck // Dify's message
}

// header is one request header line; headerList keeps Python dict
// semantics: setting an existing key replaces its value in place.
type header struct{ key, value string }

type headerList []header

func (h *headerList) set(k, v string) {
	for i := range *h {
		if (*h)[i].key == k {
			(*h)[i].value = v
			return
		}
	}
	*h = append(*h, header{k, v})
}

func (h headerList) has(lower string) bool {
	for _, e := range h {
		if strings.ToLower(e.key) == lower {
			return true
		}
	}
	return false
}

func (h headerList) without(lower string) headerList {
	out := h[:0:0]
	for _, e := range h {
		if strings.ToLower(e.key) != lower {
			out = append(out, e)
		}
	}
	return out
}

// parseHeaders reads the rendered headers text: one "key:value" per line,
// key and value trimmed, a line without ':' is a key with an empty value,
// blank lines are skipped and a repeated key keeps its last value.
func parseHeaders(text string) headerList {
	var h headerList
	for _, line := range splitLines(text) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		h.set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return h
}

// assembleHeaders adds authorization and the body's default Content-Type,
// as Dify's _assembling_headers does.
func (n *node) assembleHeaders(h headerList, apiKey string) headerList {
	if n.authType == "api-key" {
		switch n.authScheme {
		case "bearer":
			h.set(n.authHeader, "Bearer "+apiKey)
		case "basic":
			cred := apiKey
			if strings.Contains(cred, ":") {
				cred = base64.StdEncoding.EncodeToString([]byte(cred))
			}
			h.set(n.authHeader, "Basic "+cred)
		case "custom":
			h.set(n.authHeader, apiKey)
		}
	}
	switch n.bodyType {
	case bodyFormData:
		// The multipart writer sets Content-Type with its boundary.
		h = h.without("content-type")
	case bodyJSON, bodyURLEncoded, bodyRawText:
		if !h.has("content-type") {
			h.set("Content-Type", contentTypes[n.bodyType])
		}
	}
	return h
}

// mergeQuery merges params into the URL's query as httpx does: a key given
// in params replaces every value the URL had for it, keeping its place.
func mergeQuery(raw string, params [][2]string) string {
	type kv struct {
		key    string
		values []string
	}
	var order []*kv
	byKey := map[string]*kv{}
	add := func(k, v string, replace map[string]bool) {
		e, ok := byKey[k]
		if !ok {
			e = &kv{key: k}
			byKey[k] = e
			order = append(order, e)
			if replace != nil {
				replace[k] = true
			}
		} else if replace != nil && !replace[k] {
			e.values = nil
			replace[k] = true
		}
		e.values = append(e.values, v)
	}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		add(k, v, nil)
	}
	replaced := map[string]bool{}
	for _, p := range params {
		add(p[0], p[1], replaced)
	}
	var b strings.Builder
	for _, e := range order {
		for _, v := range e.values {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(e.key))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	return b.String()
}

// reqBody is a built request body.
type reqBody struct {
	content     []byte // nil: no body
	contentType string // multipart only
	// for the request log
	text  string
	files []logFile
}

type logFile struct {
	field, name, mime string
	size              int
}

// formField is one entry of an ordered Python dict.
type formField struct{ key, value string }

func setField(fs []formField, k, v string) []formField {
	for i := range fs {
		if fs[i].key == k {
			fs[i].value = v
			return fs
		}
	}
	return append(fs, formField{k, v})
}

func (n *node) buildBody(ctx context.Context, pool *run.Pool) (*reqBody, error) {
	b := &reqBody{}
	exactlyOne := func() error {
		if len(n.items) != 1 {
			return nodeErrf(ErrTypeRequestBody, "%s body type should have exactly one item", n.bodyType)
		}
		return nil
	}
	switch n.bodyType {
	case "", bodyNone:
	case bodyRawText:
		if err := exactlyOne(); err != nil {
			return nil, err
		}
		b.text = n.items[0].value.Text(pool)
		b.content = []byte(b.text)
	case bodyJSON:
		if err := exactlyOne(); err != nil {
			return nil, err
		}
		s := n.items[0].value.Text(pool)
		js, err := jsonBody(s)
		if err != nil {
			return nil, nodeErrf(ErrTypeRequestBody, "Failed to parse JSON: %s", s)
		}
		b.content = js
		b.text = string(js)
	case bodyBinary:
		if err := exactlyOne(); err != nil {
			return nil, err
		}
		sel := n.items[0].file
		v, _ := pool.Get(sel)
		f, ok := v.(map[string]any)
		if len(sel) < 2 || !ok || !isFile(f) {
			return nil, nodeErrf(ErrTypeFileFetch, "cannot fetch file with selector %s", pyList(sel))
		}
		data, err := n.download(ctx, pool, f)
		if err != nil {
			return nil, err
		}
		b.content = data
		b.text = fmt.Sprintf("<binary_content: size=%d bytes>", len(data))
	case bodyURLEncoded:
		var fs []formField
		for _, it := range n.items {
			fs = setField(fs, it.key.Text(pool), it.value.Text(pool))
		}
		var sb strings.Builder
		for i, f := range fs {
			if i > 0 {
				sb.WriteByte('&')
			}
			sb.WriteString(url.QueryEscape(f.key))
			sb.WriteByte('=')
			sb.WriteString(url.QueryEscape(f.value))
		}
		b.text = sb.String()
		b.content = []byte(b.text)
	case bodyFormData:
		return n.multipartBody(ctx, pool)
	}
	return b, nil
}

type formFile struct {
	name, mime string
	data       []byte
}

func (n *node) multipartBody(ctx context.Context, pool *run.Pool) (*reqBody, error) {
	var fields []formField
	type fileSel struct {
		key string
		sel run.Selector
	}
	var sels []fileSel
	for _, it := range n.items {
		k := it.key.Text(pool)
		if !it.isFile {
			fields = setField(fields, k, it.value.Text(pool))
			continue
		}
		replaced := false
		for i := range sels {
			if sels[i].key == k {
				sels[i].sel, replaced = it.file, true
			}
		}
		if !replaced {
			sels = append(sels, fileSel{k, it.file})
		}
	}
	type fileGroup struct {
		key   string
		files []formFile
	}
	var groups []fileGroup
	for _, s := range sels {
		v, _ := pool.Get(s.sel)
		var list []map[string]any
		switch x := v.(type) {
		case map[string]any:
			if isFile(x) {
				list = append(list, x)
			}
		case []any:
			for _, e := range x {
				if f, ok := e.(map[string]any); ok && isFile(f) {
					list = append(list, f)
				}
			}
		}
		var g fileGroup
		for _, f := range list {
			if !sendable(f) {
				continue
			}
			data, err := n.download(ctx, pool, f)
			if err != nil {
				return nil, err
			}
			name, _ := f["filename"].(string)
			mt, _ := f["mime_type"].(string)
			if mt == "" {
				mt = "application/octet-stream"
			}
			g.files = append(g.files, formFile{name: name, mime: mt, data: data})
		}
		if len(g.files) > 0 {
			g.key = s.key
			groups = append(groups, g)
		}
	}

	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	b := &reqBody{}
	for _, f := range fields {
		pw, err := w.CreateFormField(f.key)
		if err != nil {
			return nil, nodeErr(ErrTypeRequestBody, err)
		}
		_, _ = pw.Write([]byte(f.value))
	}
	writeFile := func(field string, f formFile) error {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, quoteParam(field), quoteParam(f.name)))
		h.Set("Content-Type", f.mime)
		pw, err := w.CreatePart(h)
		if err != nil {
			return nodeErr(ErrTypeRequestBody, err)
		}
		_, _ = pw.Write(f.data)
		return nil
	}
	if len(groups) == 0 {
		if err := writeFile(placeholderField, formFile{mime: "application/octet-stream"}); err != nil {
			return nil, err
		}
	}
	for _, g := range groups {
		for _, f := range g.files {
			if err := writeFile(g.key, f); err != nil {
				return nil, err
			}
			b.files = append(b.files, logFile{field: g.key, name: f.name, mime: f.mime, size: len(f.data)})
		}
	}
	if err := w.Close(); err != nil {
		return nil, nodeErr(ErrTypeRequestBody, err)
	}
	b.content = buf.Bytes()
	b.contentType = w.FormDataContentType()
	var sb strings.Builder
	boundary := w.Boundary()
	for _, f := range fields {
		fmt.Fprintf(&sb, "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n", boundary, f.key, f.value)
	}
	for _, f := range b.files {
		fmt.Fprintf(&sb, "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n<file_content_binary: '%s', type='%s', size=%d bytes>\r\n",
			boundary, f.field, cmpOr(f.name, "unknown"), f.mime, f.size)
	}
	if sb.Len() > 0 {
		fmt.Fprintf(&sb, "--%s--\r\n", boundary)
	}
	b.text = sb.String()
	return b, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// quoteParam escapes a multipart header parameter as httpx does.
func quoteParam(s string) string {
	return strings.NewReplacer(`"`, "%22", "\\", "\\\\", "\r", "%0D", "\n", "%0A").Replace(s)
}

// jsonBody is the body Dify sends for a json body: Dify repairs the
// rendered text with json_repair before json.loads (jsonrepair.Repair, a
// port of it), and httpx sends the value compact, non-ASCII as is. A null
// value sends no body (httpx's json=None). Text from which nothing can be
// made ("", "abc") fails, as Dify's json.loads does.
func jsonBody(s string) ([]byte, error) {
	js, ok := jsonrepair.Repair(s)
	if !ok {
		return nil, errNotJSON
	}
	if string(js) == "null" {
		return nil, nil
	}
	return js, nil
}

// errNotJSON is a json body that json_repair cannot make JSON of.
var errNotJSON = errors.New("not JSON, even repaired")

// pyList renders a selector as Python's repr of a list of strings.
func pyList(sel run.Selector) string {
	parts := make([]string, len(sel))
	for i, s := range sel {
		parts[i] = "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// toLog renders the request as Dify's Executor.to_log does, with the
// authorization header masked.
func (n *node) toLog(u *url.URL, params [][2]string, headers headerList, body *reqBody) string {
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if len(params) > 0 {
		path += "?" + mergeQuery("", params)
	} else if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", n.method, path, u.Host)
	for _, h := range headers {
		v := h.value
		if n.authType == "api-key" && strings.EqualFold(h.key, n.authHeader) {
			v = strings.Repeat("*", len([]rune(v)))
		}
		fmt.Fprintf(&b, "%s: %s\r\n", h.key, v)
	}
	if body.text != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len([]rune(body.text)))
	}
	b.WriteString("\r\n")
	b.WriteString(body.text)
	return b.String()
}
