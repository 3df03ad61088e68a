package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/app/apptest"
	"github.com/flowrun/flowrun/internal/files"
	"github.com/flowrun/flowrun/internal/nodes/httpreq"
	"github.com/flowrun/flowrun/internal/repo/disk"
)

// The file test apps: a workflow whose inputs are files, and a second
// app that must never read the first one's uploads.
const (
	filesApp = "9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
	filesWF  = "0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e"
	filesKey = "app-test-files-key"
	otherApp = "1c2d3e4f-5a6b-4c7d-8e8f-9a0b1c2d3e4f"
	otherWF  = "2d3e4f5a-6b7c-4d8e-9f9a-0b1c2d3e4f5a"
	otherKey = "app-test-other-files-key"
)

// filesDSL outputs the attributes of its file input through selectors
// and a template.
const filesDSL = `
app: {mode: workflow, name: files}
workflow:
  features:
    file_upload: {enabled: true, allowed_file_types: [document, image], allowed_file_upload_methods: [local_file, remote_url], number_limits: 2}
  graph:
    nodes:
    - id: start
      data:
        type: start
        title: Start
        variables:
        - {variable: doc, label: doc, type: file, required: false, allowed_file_types: [document], allowed_file_upload_methods: [local_file, remote_url]}
        - {variable: docs, label: docs, type: file-list, required: false, max_length: 2, allowed_file_types: [document], allowed_file_upload_methods: [local_file]}
        - {variable: any, label: any, type: file, required: false, allowed_file_types: [custom], allowed_file_extensions: [.bin]}
    - id: tpl
      data:
        type: template-transform
        title: T
        variables:
        - {variable: m, value_selector: [start, doc, mime_type]}
        - {variable: u, value_selector: [start, doc, url]}
        template: '{{ m }} {{ (u or "")[:4] }}'
    - id: end
      data:
        type: end
        title: End
        outputs:
        - {variable: name, value_selector: [start, doc, name], value_type: string}
        - {variable: ext, value_selector: [start, doc, extension], value_type: string}
        - {variable: size, value_selector: [start, doc, size], value_type: number}
        - {variable: type, value_selector: [start, doc, type], value_type: string}
        - {variable: method, value_selector: [start, doc, transfer_method], value_type: string}
        - {variable: nope, value_selector: [start, doc, filename], value_type: string}
        - {variable: tpl, value_selector: [tpl, output], value_type: string}
        - {variable: file, value_selector: [start, doc], value_type: file}
        - {variable: count, value_selector: [sys, files], value_type: 'array[file]'}
    edges:
    - {id: e1, source: start, target: tpl}
    - {id: e2, source: tpl, target: end}
`

// fileBundle is a server with a file store in a temporary directory.
type fileBundle struct {
	*bundle
	store *disk.Store
	now   *time.Time
}

// fileSetup starts a server with small upload limits (file 100 B, image
// 50, audio 200, video 300; .exe blacklisted). allow lists addresses
// remote_url files may be probed at (SSRF_ALLOW).
func fileSetup(t *testing.T, allow ...string) *fileBundle {
	t.Helper()
	now := time.Unix(1739000000, 0)
	fb := &fileBundle{now: &now}
	clock := func() time.Time { return *fb.now }
	st, err := disk.New(disk.Config{Dir: t.TempDir(), MaxBytes: 1 << 20, TTL: time.Hour, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	fb.store = st
	dial, err := httpreq.Dialer(httpreq.Config{Allow: allow})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DialContext: dial}}
	signer := files.NewSigner([]byte("test-secret"), 0, clock)
	fb.bundle = setup(t, options{
		apps: []apptest.App{{ID: filesApp, WF: filesWF, Key: filesKey, DSL: filesDSL}, {ID: otherApp, WF: otherWF, Key: otherKey, DSL: filesDSL}},
		mutate: func(c *api.Config) {
			c.Clock = clock
			c.Files = api.Files{
				Store:    st,
				Resolver: files.NewResolver(files.ResolverConfig{Store: st, Client: client, Signer: signer}),
				Signer:   signer,
				Limits:   files.Limits{File: 100, Image: 50, Audio: 200, Video: 300, Blacklist: []string{"exe"}},
				BaseURL:  "http://files.test",
			}
		},
	})
	return fb
}

// part is one multipart part of an upload request.
type part struct {
	name, filename, contentType string
	// noFilename leaves the filename parameter out (a form field).
	data []byte
}

func fileField(filename, contentType string, data []byte) part {
	return part{name: "file", filename: filename, contentType: contentType, data: data}
}

// multipartBody encodes parts; a part with an empty contentType has no
// Content-Type header.
func multipartBody(t *testing.T, parts ...part) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := fmt.Sprintf(`form-data; name=%q`, p.name)
		if p.filename != "\x00" {
			cd += fmt.Sprintf(`; filename=%q`, p.filename)
		}
		h.Set("Content-Disposition", cd)
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(p.data)
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func userField(u string) part { return part{name: "user", filename: "\x00", data: []byte(u)} }

// upload posts parts to /v1/files/upload with key.
func (fb *fileBundle) upload(t *testing.T, key string, parts ...part) *httptest.ResponseRecorder {
	t.Helper()
	ct, body := multipartBody(t, parts...)
	req := httptest.NewRequest("POST", "/v1/files/upload", body)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", ct)
	rec := httptest.NewRecorder()
	fb.srv.ServeHTTP(rec, req)
	return rec
}

// uploaded uploads a document and returns its FileResponse.
func (fb *fileBundle) uploaded(t *testing.T, key, name, contentType string, data []byte) map[string]any {
	t.Helper()
	rec := fb.upload(t, key, fileField(name, contentType, data), userField("u1"))
	if rec.Code != http.StatusCreated {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code, message string) {
	t.Helper()
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Status  int    `json:"status"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != status || e.Code != code || e.Status != status || (message != "" && e.Message != message) {
		t.Fatalf("got %d %s, want %d %s %q", rec.Code, rec.Body, status, code, message)
	}
}

func TestUploadChecks(t *testing.T) {
	t.Parallel()
	fb := fileSetup(t)
	x := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }
	tests := []struct {
		name          string
		parts         []part
		status        int
		code, message string
	}{
		{"no file part", []part{userField("u")}, 400, "no_file_uploaded", "Please upload your file."},
		{"a file under another name only", []part{{name: "doc", filename: "a.txt", contentType: "text/plain", data: x(1)}}, 400, "no_file_uploaded", "Please upload your file."},
		{"two files", []part{fileField("a.txt", "text/plain", x(1)), {name: "more", filename: "b.txt", contentType: "text/plain", data: x(1)}}, 400, "too_many_files", "Only one file is allowed."},
		{"two files, the first without a type", []part{fileField("a.txt", "", x(1)), fileField("b.txt", "text/plain", x(1))}, 400, "too_many_files", "Only one file is allowed."},
		{"too large and a second file", []part{fileField("a.txt", "text/plain", x(101)), fileField("b.txt", "text/plain", x(1))}, 400, "too_many_files", "Only one file is allowed."},
		{"no media type", []part{fileField("a.txt", "", x(1))}, 415, "unsupported_file_type", "File type not allowed."},
		{"empty filename", []part{fileField("", "text/plain", x(1))}, 400, "filename_not_exists_error", "The specified filename does not exist."},
		{"invalid characters", []part{fileField(`a:b.txt`, "text/plain", x(1))}, 400, "invalid_param", "Filename contains invalid characters"},
		{"blacklisted", []part{fileField("run.EXE", "application/octet-stream", x(1))}, 400, "invalid_param", "File extension '.exe' is not allowed for security reasons"},
		{"document over its limit", []part{fileField("a.pdf", "application/pdf", x(101))}, 413, "file_too_large", "File size exceeded. {message}"},
		{"image over its limit", []part{fileField("a.PNG", "image/png", x(51))}, 413, "file_too_large", "File size exceeded. {message}"},
		{"audio over its limit", []part{fileField("a.mp3", "audio/mpeg", x(201))}, 413, "file_too_large", ""},
		{"video over its limit", []part{fileField("a.mp4", "video/mp4", x(301))}, 413, "file_too_large", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, fb.upload(t, filesKey, tt.parts...), tt.status, tt.code, tt.message)
		})
	}
	t.Run("not multipart", func(t *testing.T) {
		wantError(t, fb.do("POST", "/v1/files/upload", filesKey, `{"file": "x"}`), 400, "no_file_uploaded", "Please upload your file.")
	})
	t.Run("limits are inclusive", func(t *testing.T) {
		for _, c := range []struct {
			name string
			n    int
		}{{"a.txt", 100}, {"a.png", 50}, {"a.wav", 200}, {"a.mov", 300}} {
			if rec := fb.upload(t, filesKey, fileField(c.name, "application/octet-stream", x(c.n))); rec.Code != 201 {
				t.Errorf("%s of %d bytes: %d %s", c.name, c.n, rec.Code, rec.Body)
			}
		}
	})
	t.Run("body over every limit", func(t *testing.T) {
		rec := fb.upload(t, filesKey, fileField("a.mov", "video/mp4", x(300+2<<20)))
		wantError(t, rec, 413, "request_entity_too_large", "")
	})
	// Nothing refused was stored.
	if used := fb.store.Used(); used != 100+50+200+300 {
		t.Errorf("the store holds %d bytes, want only the four accepted files", used)
	}
}

func TestUploadResponse(t *testing.T) {
	t.Parallel()
	fb := fileSetup(t)
	long := strings.Repeat("n", 210) + ".part2.PDF"
	rec := fb.upload(t, filesKey, fileField(long, "application/pdf", []byte("%PDF-1.4")), userField("u1"))
	if rec.Code != 201 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	var keys []string
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.Token()
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip any
		dec.Decode(&skip)
	}
	if got := strings.Join(keys, ","); got != "id,name,size,extension,mime_type,created_by,created_at,preview_url,source_url,original_url,user_id,tenant_id,conversation_id,file_key" {
		t.Fatalf("keys %s", got)
	}
	var m map[string]any
	json.Unmarshal(rec.Body.Bytes(), &m)
	if m["name"] != strings.Repeat("n", 200)+".pdf" || m["size"] != 8.0 || m["extension"] != "pdf" || m["mime_type"] != "application/pdf" ||
		m["created_at"] != 1739000000.0 || m["preview_url"] != nil || m["tenant_id"] != filesApp {
		t.Fatalf("body %s", rec.Body)
	}
	// No user: Dify's DEFAULT-USER, another end user id.
	rec = fb.upload(t, filesKey, fileField("b.txt", "text/plain", []byte("b")))
	var def map[string]any
	json.Unmarshal(rec.Body.Bytes(), &def)
	if def["created_by"] == m["created_by"] || def["created_by"] == "" {
		t.Errorf("created_by %v and %v", def["created_by"], m["created_by"])
	}

	src, _ := url.Parse(m["source_url"].(string))
	if src.Host != "files.test" || src.Path != "/files/"+m["id"].(string)+"/file-preview" {
		t.Fatalf("source_url %s", src)
	}
	get := func(q url.Values) *httptest.ResponseRecorder {
		return fb.do("GET", src.Path+"?"+q.Encode(), "", "")
	}
	if rec := get(src.Query()); rec.Code != 200 || rec.Body.String() != "%PDF-1.4" || rec.Header().Get("Content-Type") != "application/pdf" {
		t.Fatalf("signed URL: %d %q %v", rec.Code, rec.Body, rec.Header())
	}
	tampered := src.Query()
	tampered.Set("app_id", otherApp)
	wantError(t, get(tampered), 403, "forbidden", "Invalid request.")
	tampered = src.Query()
	tampered.Set("sign", "x"+tampered.Get("sign"))
	wantError(t, get(tampered), 403, "forbidden", "Invalid request.")
	*fb.now = fb.now.Add(301 * time.Second)
	wantError(t, get(src.Query()), 403, "forbidden", "Invalid request.")
}

func TestPreview(t *testing.T) {
	t.Parallel()
	fb := fileSetup(t)
	doc := fb.uploaded(t, filesKey, "a.txt", "text/plain", []byte("hello"))
	page := fb.uploaded(t, filesKey, "p.html", "text/html", []byte("<script>"))
	song := fb.uploaded(t, filesKey, "s.mp3", "audio/mpeg", []byte("ID3"))
	path := func(f map[string]any) string { return "/v1/files/" + f["id"].(string) + "/preview" }

	rec := fb.do("GET", path(doc)+"?user=u1", filesKey, "")
	h := rec.Header()
	if rec.Code != 200 || rec.Body.String() != "hello" || h.Get("Content-Type") != "text/plain" || h.Get("Content-Length") != "5" ||
		h.Get("Cache-Control") != "public, max-age=3600" || h.Get("Content-Disposition") != "" || h.Get("Accept-Ranges") != "" {
		t.Fatalf("preview: %d %q %v", rec.Code, rec.Body, h)
	}
	rec = fb.do("GET", path(doc)+"?as_attachment=true", filesKey, "")
	if h := rec.Header(); h.Get("Content-Disposition") != "attachment; filename*=UTF-8''a.txt" || h.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("as_attachment: %v", h)
	}
	rec = fb.do("GET", path(page), filesKey, "")
	if h := rec.Header(); h.Get("Content-Disposition") == "" || h.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("HTML is rendered: %v", h)
	}
	if rec := fb.do("GET", path(song), filesKey, ""); rec.Header().Get("Accept-Ranges") != "bytes" {
		t.Fatalf("audio: %v", rec.Header())
	}
	wantError(t, fb.do("GET", "/v1/files/"+"6b1f1b2e-0000-4000-8000-000000000000/preview", filesKey, ""), 404, "file_not_found", "File not found in message context")
	wantError(t, fb.do("GET", "/v1/files/not-a-uuid/preview", filesKey, ""), 404, "file_not_found", "")
	wantError(t, fb.do("GET", path(doc), "", ""), 401, "unauthorized", "")
}

// run runs the files app (or another) blocking with inputs and files and
// returns the response.
func (fb *fileBundle) run(t *testing.T, key string, inputs map[string]any, sysFiles []any) *httptest.ResponseRecorder {
	t.Helper()
	body := map[string]any{"inputs": inputs, "user": "u1", "response_mode": "blocking"}
	if sysFiles != nil {
		body["files"] = sysFiles
	}
	raw, _ := json.Marshal(body)
	return fb.do("POST", "/v1/workflows/run", key, string(raw))
}

func outputs(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var r struct {
		Data struct {
			Status  string         `json:"status"`
			Outputs map[string]any `json:"outputs"`
			Error   any            `json:"error"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || rec.Code != 200 || r.Data.Status != "succeeded" {
		t.Fatalf("run: %d %s", rec.Code, rec.Body)
	}
	return r.Data.Outputs
}

func local(id, typ string) map[string]any {
	return map[string]any{"transfer_method": "local_file", "upload_file_id": id, "type": typ}
}

func TestFileInputs(t *testing.T) {
	t.Parallel()
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename="report.pdf"`)
		w.Header().Set("Content-Length", "1234")
		if r.Method != http.MethodHead {
			t.Errorf("remote file probed with %s", r.Method)
		}
	}))
	defer remote.Close()
	fb := fileSetup(t, "127.0.0.1")
	up := fb.uploaded(t, filesKey, "notes.txt", "text/plain", []byte("hello"))
	id := up["id"].(string)

	out := outputs(t, fb.run(t, filesKey, map[string]any{"doc": local(id, "document")}, nil))
	if out["name"] != "notes.txt" || out["ext"] != ".txt" || out["size"] != 5.0 || out["type"] != "document" || out["method"] != "local_file" ||
		out["nope"] != nil || out["tpl"] != "text/plain http" {
		t.Fatalf("outputs %v", out)
	}
	f := out["file"].(map[string]any)
	if f["dify_model_identity"] != "__dify__file__" || f["related_id"] != id || f["tenant_id"] != filesApp || !strings.HasPrefix(f["url"].(string), "http://files.test/files/"+id+"/file-preview?") {
		t.Fatalf("file %v", f)
	}

	t.Run("remote_url is probed with HEAD", func(t *testing.T) {
		out := outputs(t, fb.run(t, filesKey, map[string]any{"doc": map[string]any{"transfer_method": "remote_url", "url": remote.URL + "/x", "type": "document"}}, nil))
		if out["name"] != "report.pdf" || out["size"] != 1234.0 || out["ext"] != ".pdf" || out["method"] != "remote_url" {
			t.Fatalf("outputs %v", out)
		}
	})
	t.Run("sys.files", func(t *testing.T) {
		out := outputs(t, fb.run(t, filesKey, map[string]any{}, []any{local(id, "document"), map[string]any{"type": "image"}}))
		if list := out["count"].([]any); len(list) != 1 {
			t.Fatalf("sys.files %v", list)
		}
	})

	tests := []struct {
		name     string
		inputs   map[string]any
		sysFiles []any
		message  string
	}{
		{"another app's upload", map[string]any{"doc": local(id, "document")}, nil, "Invalid upload file"},
		{"unknown upload", map[string]any{"doc": local("6b1f1b2e-0000-4000-8000-000000000000", "document")}, nil, "Invalid upload file"},
		{"id not a UUID", map[string]any{"doc": local("../../etc/passwd", "document")}, nil, "Invalid upload file id format"},
		{"no id", map[string]any{"doc": map[string]any{"transfer_method": "local_file", "type": "document"}}, nil, "Invalid upload file id"},
		{"not an object", map[string]any{"doc": "x.pdf"}, nil, "doc in input form must be a file"},
		{"not a list", map[string]any{"docs": map[string]any{}}, nil, "docs in input form must be a list of files"},
		{"too many in the list", map[string]any{"docs": []any{local(id, "document"), local(id, "document"), local(id, "document")}}, nil, "docs in input form must be less than 2 files"},
		{"strict type", map[string]any{"doc": local(id, "image")}, nil, "Detected file type does not match the specified type. Please verify the file."},
		{"bad transfer method", map[string]any{"doc": map[string]any{"transfer_method": "ftp"}}, nil, "No matching enum found for value 'ftp'"},
		{"bad type", map[string]any{"doc": map[string]any{"transfer_method": "local_file", "type": "movie"}}, nil, "'movie' is not a valid FileType"},
		{"custom file without the extension", map[string]any{"any": local(id, "custom")}, nil, "Detected file type does not match the specified type. Please verify the file."},
		{"remote url missing", map[string]any{"doc": map[string]any{"transfer_method": "remote_url", "url": "ftp://x", "type": "document"}}, nil, "Invalid file url"},
		{"sys.files over the limit", map[string]any{}, []any{local(id, "document"), local(id, "document"), local(id, "document")}, "Number of files exceeds the maximum limit 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := filesKey
			if tt.name == "another app's upload" {
				key = otherKey
			}
			wantError(t, fb.run(t, key, tt.inputs, tt.sysFiles), 400, "invalid_param", tt.message)
		})
	}
	t.Run("another app cannot preview it", func(t *testing.T) {
		wantError(t, fb.do("GET", "/v1/files/"+id+"/preview", otherKey, ""), 404, "file_not_found", "")
	})
}

// TestRemoteFileSSRF: a remote_url file on a private address is refused
// before the run starts unless SSRF_ALLOW lists it.
func TestRemoteFileSSRF(t *testing.T) {
	t.Parallel()
	probed := make(chan struct{}, 10)
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { probed <- struct{}{} }))
	defer remote.Close()
	in := map[string]any{"doc": map[string]any{"transfer_method": "remote_url", "url": remote.URL + "/a.pdf", "type": "document"}}

	guarded := fileSetup(t)
	rec := guarded.run(t, filesKey, in, nil)
	wantError(t, rec, 400, "invalid_param", "")
	if !strings.Contains(rec.Body.String(), "Invalid file url") || !strings.Contains(rec.Body.String(), "127.0.0.1") {
		t.Fatalf("refusal %s", rec.Body)
	}
	select {
	case <-probed:
		t.Fatal("the private address was reached")
	default:
	}
	allowed := fileSetup(t, "127.0.0.1")
	if out := outputs(t, allowed.run(t, filesKey, in, nil)); out["name"] != "a.pdf" {
		t.Fatalf("allow-listed: %v", out)
	}
}

// TestUploadStreams: the store holds the bytes as they arrive, so an
// upload's size never passes through memory whole. (The file is over
// the 1 MiB cap of the test store: refused, nothing left behind.)
func TestUploadStoreFull(t *testing.T) {
	t.Parallel()
	fb := fileSetup(t)
	fb.srv = mustServer(t, fb, files.Limits{File: 4 << 20})
	rec := fb.upload(t, filesKey, fileField("big.txt", "text/plain", bytes.Repeat([]byte("x"), 2<<20)))
	wantError(t, rec, 413, "file_too_large", "")
	if used := fb.store.Used(); used != 0 {
		t.Fatalf("store holds %d bytes after a refused upload", used)
	}
	var _ io.Reader = rec.Body
}

// mustServer rebuilds fb's server with other limits.
func mustServer(t *testing.T, fb *fileBundle, limits files.Limits) *api.Server {
	t.Helper()
	b := setup(t, options{
		apps: []apptest.App{{ID: filesApp, WF: filesWF, Key: filesKey, DSL: filesDSL}},
		mutate: func(c *api.Config) {
			c.Files = api.Files{Store: fb.store, Limits: limits}
		},
	})
	return b.srv
}
