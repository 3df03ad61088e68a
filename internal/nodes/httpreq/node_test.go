package httpreq

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/disk"
	"github.com/flowrun/flowrun/internal/run"
)

func TestMethods(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	for _, m := range []string{"get", "post", "put", "patch", "delete", "head", "options", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"} {
		t.Run(m, func(t *testing.T) {
			t.Parallel()
			o := h.runHTTP(t, map[string]any{"method": m, "url": s.URL + "/m/" + m}, nil)
			wantSucceeded(t, o)
			if got := o.out(t, "status_code"); got != int64(200) {
				t.Fatalf("status_code %v", got)
			}
			want := "ok"
			if strings.EqualFold(m, "head") {
				want = ""
			}
			if got := o.out(t, "body"); got != want {
				t.Fatalf("body %q, want %q", got, want)
			}
			var seen bool
			for _, r := range s.requests() {
				if r.Path == "/m/"+m {
					seen = true
					if r.Method != strings.ToUpper(m) {
						t.Fatalf("stub got method %s, want %s", r.Method, strings.ToUpper(m))
					}
				}
			}
			if !seen {
				t.Fatal("stub never got the request")
			}
		})
	}
}

func TestInvalidMethodIsALoadError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, allowStub())
	_, err := h.eng.Compile(chainDoc(nil, map[string]any{"method": "trace", "url": "http://x.test/"}))
	if err == nil || !strings.Contains(err.Error(), `invalid http method "trace"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestHeadersParsing(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	headers := "X-A: 1\n\n  X-B :two:three \r\nX-Empty\nX-A: last\n   \nX-Var: {{#start.v#}}\n{{#start.inject#}}"
	o := h.runHTTP(t, map[string]any{"url": s.URL, "headers": headers}, map[string]any{"v": "templated", "inject": "X-Injected: yes\nX-Second: 2"})
	wantSucceeded(t, o)
	r := s.only(t)
	for k, want := range map[string]string{"X-A": "last", "X-B": "two:three", "X-Empty": "", "X-Var": "templated", "X-Injected": "yes", "X-Second": "2"} {
		if got := r.Header.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("header %s = %q, want [%q]", k, got, want)
		}
	}
	if _, ok := r.Header["X-Empty"]; !ok {
		t.Error("header without ':' was not sent")
	}
}

func TestHostHeaderOverridesHost(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	o := h.runHTTP(t, map[string]any{"url": s.URL, "headers": "Host: virtual.example"}, nil)
	wantSucceeded(t, o)
	if got := s.only(t).Host; got != "virtual.example" {
		t.Fatalf("Host %q", got)
	}
}

func TestParamsParsing(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	cases := []struct {
		name, url, params string
		inputs            map[string]any
		want              string
	}{
		{"basic", "/p", "q: hello world\n\n a:1\nnokey\n : skipped\na:2", nil, "q=hello+world&a=1&a=2&nokey="},
		{"value with colons", "/p", "t: 10:30:00", nil, "t=10%3A30%3A00"},
		{"templated", "/p", "{{#start.k#}}: {{#start.v#}}", map[string]any{"k": "key", "v": "a/b&c=d\nnext"}, "key=a%2Fb%26c%3Dd%0Anext"},
		{"merged into the url query", "/p?a=0&z=9&a=00", "a: 1\nb: 2", nil, "a=1&z=9&b=2"},
		{"url query kept", "/p?x=1&y=2", "", nil, "x=1&y=2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := "/" + strings.ReplaceAll(c.name, " ", "-")
			u := s.URL + path + strings.TrimPrefix(c.url, "/p")
			o := h.runHTTP(t, map[string]any{"url": u, "params": c.params}, c.inputs)
			wantSucceeded(t, o)
			for _, r := range s.requests() {
				if r.Path == path {
					if r.RawQuery != c.want {
						t.Fatalf("query %q, want %q", r.RawQuery, c.want)
					}
					return
				}
			}
			t.Fatal("request not received")
		})
	}
}

func TestURLValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, allowStub())
	for _, c := range []struct{ url, msg string }{
		{"", "url is required"},
		{"{{#start.u#}}", "url is required"},
		{"ftp://example.com/", "url should start with http:// or https://"},
		{"HTTP://example.com/", "url should start with http:// or https://"},
	} {
		o := h.runHTTP(t, map[string]any{"url": c.url}, map[string]any{"u": ""})
		wantFailure(t, o.http(t), ErrTypeInvalidURL, c.msg)
	}
}

func TestTemplatedURL(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	o := h.runHTTP(t, map[string]any{"url": "{{#start.base#}}/items/{{#start.id#}}"}, map[string]any{"base": s.URL, "id": "42"})
	wantSucceeded(t, o)
	if got := s.only(t).Path; got != "/items/42" {
		t.Fatalf("path %q", got)
	}
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	apiKey := func(typ, key, header string) map[string]any {
		return map[string]any{"type": "api-key", "config": map[string]any{"type": typ, "api_key": key, "header": header}}
	}
	cases := []struct {
		name         string
		auth         map[string]any
		header, want string
	}{
		{"no-auth", map[string]any{"type": "no-auth"}, "Authorization", ""},
		{"no-auth ignores config", map[string]any{"type": "no-auth", "config": map[string]any{"type": "bearer", "api_key": "x"}}, "Authorization", ""},
		{"bearer", apiKey("bearer", "tok123", ""), "Authorization", "Bearer tok123"},
		{"bearer custom header", apiKey("bearer", "tok123", "X-Auth"), "X-Auth", "Bearer tok123"},
		{"basic with colon is encoded", apiKey("basic", "user:pa ss", ""), "Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("user:pa ss"))},
		{"basic without colon is sent as is", apiKey("basic", "dXNlcjpwYXNz", ""), "Authorization", "Basic dXNlcjpwYXNz"},
		{"custom", apiKey("custom", "secret", "X-Api-Key"), "X-Api-Key", "secret"},
		{"custom default header", apiKey("custom", "secret", ""), "Authorization", "secret"},
		{"templated key", apiKey("bearer", "{{#start.key#}}", ""), "Authorization", "Bearer from-input"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := "/" + strings.ReplaceAll(c.name, " ", "-")
			o := h.runHTTP(t, map[string]any{"url": s.URL + path, "authorization": c.auth}, map[string]any{"key": "from-input"})
			wantSucceeded(t, o)
			for _, r := range s.requests() {
				if r.Path != path {
					continue
				}
				if got := r.Header.Get(c.header); got != c.want {
					t.Fatalf("%s = %q, want %q", c.header, got, c.want)
				}
				// The request log masks the credential.
				log, _ := o.http(t).ProcessData.Get("request")
				if c.want != "" && strings.Contains(log.(string), c.want) {
					t.Fatalf("process_data.request leaks the credential:\n%s", log)
				}
				return
			}
			t.Fatal("request not received")
		})
	}
}

func TestAuthorizationErrors(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	o := h.runHTTP(t, map[string]any{"url": s.URL, "authorization": map[string]any{"type": "api-key", "config": map[string]any{"type": "bearer", "api_key": "{{#start.key#}}"}}}, map[string]any{"key": "  "})
	wantFailure(t, o.http(t), ErrTypeAuthorization, "API key is required for authorization but was empty")
	if n := len(s.requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
	for _, auth := range []map[string]any{
		{"type": "api-key"},
		{"type": "api-key", "config": map[string]any{"type": "digest", "api_key": "x"}},
		{"type": "oauth"},
	} {
		if _, err := h.eng.Compile(chainDoc(nil, map[string]any{"url": s.URL, "authorization": auth})); err == nil {
			t.Errorf("authorization %v compiled", auth)
		}
	}
}

func TestBodyNone(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	o := h.runHTTP(t, map[string]any{"method": "post", "url": s.URL, "body": map[string]any{"type": "none", "data": ""}}, nil)
	wantSucceeded(t, o)
	r := s.only(t)
	if len(r.Body) != 0 || r.Header.Get("Content-Type") != "" {
		t.Fatalf("body %q content-type %q", r.Body, r.Header.Get("Content-Type"))
	}
}

func TestBodyRawText(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	o := h.runHTTP(t, map[string]any{"method": "post", "url": s.URL, "body": textBody("raw-text", "hello {{#start.name#}}\nline 2")}, map[string]any{"name": "wörld"})
	wantSucceeded(t, o)
	r := s.only(t)
	if string(r.Body) != "hello wörld\nline 2" || r.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("body %q content-type %q", r.Body, r.Header.Get("Content-Type"))
	}
}

func TestBodyStringDataIsCoerced(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	o := h.runHTTP(t, map[string]any{"method": "post", "url": s.URL, "body": map[string]any{"type": "raw-text", "data": "legacy {{#start.x#}}"}}, map[string]any{"x": "body"})
	wantSucceeded(t, o)
	if got := string(s.only(t).Body); got != "legacy body" {
		t.Fatalf("body %q", got)
	}
}

func TestBodyItemCount(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	two := []any{map[string]any{"type": "text", "value": "a"}, map[string]any{"type": "text", "value": "b"}}
	for _, typ := range []string{"raw-text", "json", "binary"} {
		o := h.runHTTP(t, map[string]any{"method": "post", "url": s.URL, "body": map[string]any{"type": typ, "data": two}}, nil)
		wantFailure(t, o.http(t), ErrTypeRequestBody, typ+" body type should have exactly one item")
		o = h.runHTTP(t, map[string]any{"method": "post", "url": s.URL, "body": map[string]any{"type": typ, "data": ""}}, nil)
		wantFailure(t, o.http(t), ErrTypeRequestBody, typ+" body type should have exactly one item")
	}
	if n := len(s.requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

func TestBodyJSON(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	tpl := "{\n  \"name\": \"{{#start.name#}}\",\n  \"n\": 12345678901234567890,\n  \"nested\": {\"z\": 1, \"a\": [true, null]}\n}"
	o := h.runHTTP(t, map[string]any{"method": "post", "url": s.URL + "/json", "body": textBody("json", tpl)}, map[string]any{"name": "multi\nline\ttab"})
	wantSucceeded(t, o)
	r := s.only(t)
	want := `{"name":"multi\nline\ttab","n":12345678901234567890,"nested":{"z":1,"a":[true,null]}}`
	if string(r.Body) != want || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("body %s\nwant %s\ncontent-type %q", r.Body, want, r.Header.Get("Content-Type"))
	}
}

func TestBodyJSONKeepsUserContentType(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	o := h.runHTTP(t, map[string]any{"method": "post", "url": s.URL, "headers": "content-type: application/vnd.api+json", "body": textBody("json", `{"a":1}`)}, nil)
	wantSucceeded(t, o)
	r := s.only(t)
	if got := r.Header.Values("Content-Type"); len(got) != 1 || got[0] != "application/vnd.api+json" {
		t.Fatalf("content-type %q", got)
	}
}

func TestBodyJSONInvalid(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	// Text json_repair can make nothing of fails, a blank body included
	// (json_repair returns "" for it, which json.loads refuses).
	for _, v := range []string{"not json", "  "} {
		o := h.runHTTP(t, map[string]any{"method": "post", "url": s.URL, "body": textBody("json", "{{#start.v#}}")}, map[string]any{"v": v})
		wantFailure(t, o.http(t), ErrTypeRequestBody, "Failed to parse JSON: "+v)
	}
	if n := len(s.requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

// Dify repairs a malformed JSON body with json_repair before sending it.
func TestBodyJSONRepaired(t *testing.T) {
	t.Parallel()
	for tpl, want := range map[string]string{
		`{"a": {{#start.v#}}`:                          `{"a":1}`,
		"{'name': '{{#start.v#}}', 'ok': True,}":       `{"name":"1","ok":true}`,
		"```json\n[1, 2, // two\n 3]\n```":             `[1,2,3]`,
		`{"a": 1} and some words`:                      `{"a":1}`,
		`{"unquoted": value, "n": 1e3, "u": "\u00e9"}`: `{"unquoted":"value","n":1000.0,"u":"é"}`,
	} {
		s := newStub(t, nil)
		h := newHarness(t, allowStub())
		o := h.runHTTP(t, map[string]any{"method": "post", "url": s.URL, "body": textBody("json", tpl)}, map[string]any{"v": "1"})
		wantSucceeded(t, o)
		if got := string(s.only(t).Body); got != want {
			t.Errorf("%q: body %s, want %s", tpl, got, want)
		}
	}
	// A null value is httpx's json=None: no body at all.
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	wantSucceeded(t, h.runHTTP(t, map[string]any{"method": "post", "url": s.URL, "body": textBody("json", "null")}, nil))
	if got := s.only(t).Body; len(got) != 0 {
		t.Fatalf("body %q for null, want none", got)
	}
}

func TestBodyURLEncoded(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	body := map[string]any{"type": "x-www-form-urlencoded", "data": []any{
		map[string]any{"type": "text", "key": "b", "value": "first"},
		map[string]any{"type": "text", "key": "{{#start.k#}}", "value": "x y&z/{{#start.v#}}"},
		map[string]any{"type": "text", "key": "b", "value": "second"},
	}}
	o := h.runHTTP(t, map[string]any{"method": "post", "url": s.URL, "body": body}, map[string]any{"k": "key", "v": "é"})
	wantSucceeded(t, o)
	r := s.only(t)
	if want := "b=second&key=x+y%26z%2F%C3%A9"; string(r.Body) != want || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Fatalf("body %q want %q, content-type %q", r.Body, want, r.Header.Get("Content-Type"))
	}
}

// multipartParts parses a captured multipart request.
type part struct {
	name, filename, contentType string
	data                        []byte
}

func multipartParts(t *testing.T, r captured) []part {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("content-type %q", r.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"])
	var out []part
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(p)
		out = append(out, part{name: p.FormName(), filename: p.FileName(), contentType: p.Header.Get("Content-Type"), data: data})
	}
}

func TestBodyFormDataTextOnlyHasPlaceholder(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	body := map[string]any{"type": "form-data", "data": []any{
		map[string]any{"type": "text", "key": "a", "value": "1"},
		map[string]any{"type": "text", "key": "b", "value": "{{#start.v#}}"},
	}}
	o := h.runHTTP(t, map[string]any{"method": "post", "url": s.URL, "headers": "Content-Type: text/plain", "body": body}, map[string]any{"v": "two"})
	wantSucceeded(t, o)
	parts := multipartParts(t, s.only(t))
	if len(parts) != 3 || parts[0].name != "a" || string(parts[0].data) != "1" || parts[1].name != "b" || string(parts[1].data) != "two" ||
		parts[2].name != placeholderField || len(parts[2].data) != 0 || parts[2].contentType != "application/octet-stream" {
		t.Fatalf("parts %+v", parts)
	}
}

func TestBodyFormDataFiles(t *testing.T) {
	t.Parallel()
	files := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "remote-content:"+r.URL.Path)
	})
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	remote := map[string]any{"type": "document", "transfer_method": "remote_url", "remote_url": files.URL + "/a.txt", "filename": "a.txt", "mime_type": "text/plain", "related_id": nil}
	remoteURLOnly := map[string]any{"type": "document", "transfer_method": "remote_url", "url": files.URL + "/b.txt", "filename": "b.txt"}
	inline := map[string]any{"type": "image", "transfer_method": "tool_file", "url": "data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte("PNGDATA")), "filename": "c.png", "mime_type": "image/png"}
	orphan := map[string]any{"type": "document", "transfer_method": "local_file", "filename": "skipped.txt"} // no related_id: Dify skips it
	doc := chainDoc(nil, map[string]any{"method": "post", "url": s.URL, "body": map[string]any{"type": "form-data", "data": []any{
		map[string]any{"type": "text", "key": "title", "value": "files"},
		map[string]any{"type": "file", "key": "one", "file": []any{"env", "one"}},
		map[string]any{"type": "file", "key": "many", "file": []any{"env", "many"}},
	}}})
	// Files come from the pool; env variables are the simplest place to
	// put a mapping in a test.
	o := h.runWithEnvFiles(t, doc, map[string]any{"one": remote, "many": []any{remoteURLOnly, inline, orphan}})
	wantSucceeded(t, o)
	parts := multipartParts(t, s.only(t))
	want := []part{
		{name: "title", data: []byte("files")},
		{name: "one", filename: "a.txt", contentType: "text/plain", data: []byte("remote-content:/a.txt")},
		{name: "many", filename: "b.txt", contentType: "application/octet-stream", data: []byte("remote-content:/b.txt")},
		{name: "many", filename: "c.png", contentType: "image/png", data: []byte("PNGDATA")},
	}
	if len(parts) != len(want) {
		t.Fatalf("parts %+v", parts)
	}
	for i := range want {
		if parts[i].name != want[i].name || parts[i].filename != want[i].filename || parts[i].contentType != want[i].contentType || !bytes.Equal(parts[i].data, want[i].data) {
			t.Fatalf("part %d = %+v, want %+v", i, parts[i], want[i])
		}
	}
}

func TestBodyBinary(t *testing.T) {
	t.Parallel()
	files := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte{0, 1, 2, 0xff})
	})
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	binary := func(sel ...any) map[string]any {
		return map[string]any{"method": "put", "url": s.URL + "/upload", "body": map[string]any{"type": "binary", "data": []any{map[string]any{"type": "file", "file": sel}}}}
	}
	t.Run("remote_url", func(t *testing.T) {
		o := h.runWithEnvFiles(t, chainDoc(nil, binary("env", "f")), map[string]any{"f": map[string]any{"type": "custom", "transfer_method": "remote_url", "remote_url": files.URL + "/blob"}})
		wantSucceeded(t, o)
		var got captured
		for _, r := range s.requests() {
			if r.Path == "/upload" && r.Method == "PUT" {
				got = r
			}
		}
		if !bytes.Equal(got.Body, []byte{0, 1, 2, 0xff}) || got.Header.Get("Content-Type") != "" {
			t.Fatalf("body %v content-type %q", got.Body, got.Header.Get("Content-Type"))
		}
		log, _ := o.http(t).ProcessData.Get("request")
		if !strings.Contains(log.(string), "<binary_content: size=4 bytes>") {
			t.Fatalf("log %q", log)
		}
	})
	t.Run("data URL", func(t *testing.T) {
		f := map[string]any{"type": "custom", "transfer_method": "tool_file", "url": "data:application/octet-stream;base64,AAEC"}
		o := h.runWithEnvFiles(t, chainDoc(nil, binary("env", "f")), map[string]any{"f": f})
		wantSucceeded(t, o)
		var got []byte
		for _, r := range s.requests() {
			if r.Method == "PUT" {
				got = r.Body
			}
		}
		if !bytes.Equal(got, []byte{0, 1, 2}) {
			t.Fatalf("body %v", got)
		}
	})
	t.Run("local_file of no upload", func(t *testing.T) {
		o := h.runWithEnvFiles(t, chainDoc(nil, binary("env", "f")), map[string]any{"f": map[string]any{"type": "document", "transfer_method": "local_file", "related_id": "upload-1", "filename": "doc.pdf"}})
		wantFailure(t, o.http(t), ErrTypeFileFetch, `cannot read file "doc.pdf": file not found: upload upload-1`)
	})
	t.Run("local_file from the store, of the run's app only", func(t *testing.T) {
		st, err := disk.New(disk.Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{"app-1": uuid.NewString(), "app-2": uuid.NewString()}
		for app, id := range ids {
			if err := st.Put(context.Background(), &repo.Upload{ID: id, AppID: app}, strings.NewReader("bytes of "+app)); err != nil {
				t.Fatal(err)
			}
		}
		cfg := allowStub()
		cfg.Uploads = st
		hs := newHarness(t, cfg)
		file := func(id string) map[string]any {
			return map[string]any{"f": map[string]any{"type": "document", "transfer_method": "local_file", "related_id": id, "filename": "doc.txt"}}
		}
		wantSucceeded(t, hs.runWithEnvFiles(t, chainDoc(nil, binary("env", "f")), file(ids["app-1"])))
		var got []byte
		for _, r := range s.requests() {
			if r.Method == "PUT" {
				got = r.Body
			}
		}
		if string(got) != "bytes of app-1" {
			t.Fatalf("body %q", got)
		}
		o := hs.runWithEnvFiles(t, chainDoc(nil, binary("env", "f")), file(ids["app-2"]))
		wantFailure(t, o.http(t), ErrTypeFileFetch, "file not found")
	})
	t.Run("remote 404", func(t *testing.T) {
		o := h.runWithEnvFiles(t, chainDoc(nil, binary("env", "f")), map[string]any{"f": map[string]any{"type": "custom", "transfer_method": "remote_url", "remote_url": files.URL + "/missing"}})
		wantFailure(t, o.http(t), ErrTypeFileFetch, "status code 404")
	})
	t.Run("remote file on a blocked address", func(t *testing.T) {
		o := h.runWithEnvFiles(t, chainDoc(nil, binary("env", "f")), map[string]any{"f": map[string]any{"type": "custom", "transfer_method": "remote_url", "remote_url": "http://169.254.169.254/latest/meta-data/"}})
		wantFailure(t, o.http(t), ErrTypeSSRF, "blocked by SSRF protection")
	})
	t.Run("not a file", func(t *testing.T) {
		o := h.runWithEnvFiles(t, chainDoc(nil, binary("env", "f")), map[string]any{"f": "just a string"})
		wantFailure(t, o.http(t), ErrTypeFileFetch, "cannot fetch file with selector ['env', 'f']")
	})
}

// runWithEnvFiles runs doc with environment variables holding the given
// values (file mappings), so nodes can select them as [env, name].
func (h *harness) runWithEnvFiles(t *testing.T, doc []byte, env map[string]any) *outcome {
	t.Helper()
	d := map[string]any{}
	if err := jsonUnmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	var vars []any
	for k, v := range env {
		vars = append(vars, map[string]any{"name": k, "value_type": "object", "value": v})
	}
	d["workflow"].(map[string]any)["environment_variables"] = vars
	return h.run(t, context.Background(), jsonMarshal(d), nil)
}

func TestResponseOutputs(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.Header().Set("X-Custom", "v")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	h := newHarness(t, allowStub())
	o := h.runHTTP(t, map[string]any{"url": s.URL}, nil)
	wantSucceeded(t, o)
	if o.out(t, "status_code") != int64(201) || o.out(t, "body") != `{"ok":true}` {
		t.Fatalf("outputs %v", o.http(t).Outputs)
	}
	hd := o.out(t, "headers").(map[string]any)
	if hd["set-cookie"] != "a=1, b=2" || hd["x-custom"] != "v" || hd["content-type"] != "application/json" {
		t.Fatalf("headers %v", hd)
	}
	if f := o.out(t, "files").([]any); len(f) != 0 {
		t.Fatalf("files %v", f)
	}
	// The run's outputs come from the End node.
	if o.info.Status != run.StatusSucceeded {
		t.Fatalf("run %s %s", o.info.Status, o.info.Error)
	}
}

func TestResponseDecoding(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/latin1":
			w.Header().Set("Content-Type", "text/plain; charset=iso-8859-1")
			_, _ = w.Write([]byte{'c', 'a', 'f', 0xe9})
		case "/gzip":
			if r.Header.Get("Accept-Encoding") != "gzip, deflate" {
				http.Error(w, "no accept-encoding", 400)
				return
			}
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Type", "text/plain")
			zw := gzip.NewWriter(w)
			_, _ = io.WriteString(zw, "unzipped text")
			_ = zw.Close()
		case "/invalid-utf8":
			_, _ = w.Write([]byte("a\xffb"))
		}
	})
	h := newHarness(t, allowStub())
	for path, want := range map[string]string{"/latin1": "café", "/gzip": "unzipped text", "/invalid-utf8": "a\uFFFDb"} {
		o := h.runHTTP(t, map[string]any{"url": s.URL + path}, nil)
		wantSucceeded(t, o)
		if got := o.out(t, "body"); got != want {
			t.Errorf("%s: body %q, want %q", path, got, want)
		}
	}
	o := h.runHTTP(t, map[string]any{"url": s.URL + "/gzip"}, nil)
	if hd := o.out(t, "headers").(map[string]any); hd["content-encoding"] != "gzip" {
		t.Fatalf("headers %v", hd)
	}
}

func TestFileResponse(t *testing.T) {
	t.Parallel()
	png := []byte("\x89PNG\r\n\x1a\nrest-of-image")
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/img/photo.png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(png)
		case "/report":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Disposition", `attachment; filename="q3 report.pdf"`)
			_, _ = w.Write([]byte("%PDF-1.4 binary"))
		case "/json-like":
			w.Header().Set("Content-Type", "application/x-custom")
			_, _ = io.WriteString(w, `{"looks": "like text"}`)
		case "/echo":
			_, _ = w.Write([]byte("received:"))
		}
	})
	h := newHarness(t, allowStub())

	o := h.runHTTP(t, map[string]any{"url": s.URL + "/img/photo.png"}, nil)
	wantSucceeded(t, o)
	if o.out(t, "body") != "" {
		t.Fatalf("body %q for a file", o.out(t, "body"))
	}
	files := o.out(t, "files").([]any)
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	f := files[0].(map[string]any)
	if f["filename"] != "photo.png" || f["mime_type"] != "image/png" || f["type"] != "image" || f["extension"] != ".png" ||
		f["size"] != int64(len(png)) || f["transfer_method"] != "tool_file" || f["dify_model_identity"] != "__dify__file__" ||
		f["url"] != "data:image/png;base64,"+base64.StdEncoding.EncodeToString(png) {
		t.Fatalf("file %v", f)
	}

	o = h.runHTTP(t, map[string]any{"url": s.URL + "/report"}, nil)
	f = o.out(t, "files").([]any)[0].(map[string]any)
	if f["filename"] != "q3 report.pdf" || f["mime_type"] != "application/pdf" || f["type"] != "document" || f["extension"] != ".pdf" {
		t.Fatalf("file %v", f)
	}

	o = h.runHTTP(t, map[string]any{"url": s.URL + "/json-like"}, nil)
	if o.out(t, "body") != `{"looks": "like text"}` || len(o.out(t, "files").([]any)) != 0 {
		t.Fatalf("outputs %v", o.http(t).Outputs)
	}

	// A file output can be sent on by another http-request node.
	o = h.run(t, context.Background(), chainDoc(nil,
		map[string]any{"url": s.URL + "/img/photo.png"},
		map[string]any{"method": "post", "url": s.URL + "/echo", "body": map[string]any{"type": "form-data", "data": []any{map[string]any{"type": "file", "key": "upload", "file": []any{"http", "files"}}}}},
	), nil)
	if n := o.Node(t, "http2"); n.Status != run.StatusSucceeded {
		t.Fatalf("second node: %+v", n)
	}
	for _, r := range s.requests() {
		if r.Path == "/echo" {
			parts := multipartParts(t, r)
			if len(parts) != 1 || parts[0].name != "upload" || parts[0].filename != "photo.png" || parts[0].contentType != "image/png" || !bytes.Equal(parts[0].data, png) {
				t.Fatalf("parts %+v", parts)
			}
		}
	}
	// A binary body takes a single file (Dify's get_file), not a list.
	o = h.run(t, context.Background(), chainDoc(nil,
		map[string]any{"url": s.URL + "/img/photo.png"},
		map[string]any{"method": "post", "url": s.URL + "/echo", "body": map[string]any{"type": "binary", "data": []any{map[string]any{"type": "file", "file": []any{"http", "files"}}}}},
	), nil)
	wantFailure(t, o.Node(t, "http2"), ErrTypeFileFetch, "cannot fetch file with selector ['http', 'files']")
}

func TestSizeCap(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 5000)
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/text-with-length":
			w.Header().Set("Content-Length", "5000")
			_, _ = io.WriteString(w, big)
		case "/text-streamed":
			// Writes until the client goes away: only a reader that
			// stops at the cap lets this request end.
			w.Header().Set("Content-Type", "text/plain")
			chunk := []byte(strings.Repeat("y", 1024))
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				if r.Context().Err() != nil {
					return
				}
			}
		case "/file":
			w.Header().Set("Content-Type", "image/png")
			_, _ = io.WriteString(w, big+big+big)
		case "/small-file":
			w.Header().Set("Content-Type", "image/png")
			_, _ = io.WriteString(w, big)
		}
	})
	cfg := allowStub()
	cfg.MaxTextSize = 1024
	cfg.MaxBinarySize = 8192
	h := newHarness(t, cfg)
	o := h.runHTTP(t, map[string]any{"url": s.URL + "/text-with-length"}, nil)
	wantFailure(t, o.http(t), ErrTypeResponseSize, "Text size is too large, max size is 0.00 MB, but current size is 4.88 KB.")
	o = h.runHTTP(t, map[string]any{"url": s.URL + "/text-streamed"}, nil)
	wantFailure(t, o.http(t), ErrTypeResponseSize, "Text size is too large, max size is 0.00 MB, but current size is more than 1.00 KB.")
	o = h.runHTTP(t, map[string]any{"url": s.URL + "/file"}, nil)
	wantFailure(t, o.http(t), ErrTypeResponseSize, "File size is too large")
	// A file under the binary cap passes although it exceeds the text cap.
	o = h.runHTTP(t, map[string]any{"url": s.URL + "/small-file"}, nil)
	wantSucceeded(t, o)
	// HEAD declares a length but carries no body.
	o = h.runHTTP(t, map[string]any{"method": "head", "url": s.URL + "/text-with-length"}, nil)
	wantSucceeded(t, o)
	if hd := o.out(t, "headers").(map[string]any); hd["content-length"] != "5000" || o.out(t, "body") != "" {
		t.Fatalf("outputs %v", o.http(t).Outputs)
	}
}

func TestNon2xx(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "missing")
	})
	h := newHarness(t, allowStub())

	t.Run("plain node succeeds", func(t *testing.T) {
		t.Parallel()
		o := h.runHTTP(t, map[string]any{"url": s.URL}, nil)
		wantSucceeded(t, o)
		if o.out(t, "status_code") != int64(404) || o.out(t, "body") != "missing" {
			t.Fatalf("outputs %v", o.http(t).Outputs)
		}
	})
	t.Run("default-value", func(t *testing.T) {
		t.Parallel()
		o := h.runHTTP(t, map[string]any{"url": s.URL, "error_strategy": "default-value", "default_value": []any{map[string]any{"key": "body", "type": "string", "value": "fallback"}}}, nil)
		n := o.http(t)
		wantFailure(t, n, ErrTypeResponseCode, "Request failed with status code 404")
		if n.Error != "Request failed with status code 404" || n.Status != run.StatusException {
			t.Fatalf("%s %q", n.Status, n.Error)
		}
		if body, _ := n.Outputs.Get("body"); body != "fallback" {
			t.Fatalf("outputs %v", n.Outputs)
		}
		if o.info.Status != run.StatusPartialSucceeded {
			t.Fatalf("run %s", o.info.Status)
		}
	})
	t.Run("fail-branch", func(t *testing.T) {
		t.Parallel()
		o := h.runHTTP(t, map[string]any{"url": s.URL, "error_strategy": "fail-branch"}, nil)
		n := o.http(t)
		wantFailure(t, n, ErrTypeResponseCode, "Request failed with status code 404")
		if et, _ := n.Outputs.Get("error_type"); et != ErrTypeResponseCode {
			t.Fatalf("outputs %v", n.Outputs)
		}
	})
	t.Run("retry enabled fails after retries", func(t *testing.T) {
		t.Parallel()
		o := h.runHTTP(t, map[string]any{"url": s.URL, "retry_config": map[string]any{"retry_enabled": true, "max_retries": 2, "retry_interval": 0}}, nil)
		wantFailure(t, o.http(t), ErrTypeResponseCode, "Request failed with status code 404")
		if len(o.retries()) != 2 || o.retries()[0].ErrorType != ErrTypeResponseCode || o.retries()[1].RetryIndex != 2 {
			t.Fatalf("retries %+v", o.retries())
		}
		if o.info.Status != run.StatusFailed || o.info.Error != "Request failed with status code 404" {
			t.Fatalf("run %s %q", o.info.Status, o.info.Error)
		}
	})
	t.Run("retry disabled is a plain node", func(t *testing.T) {
		t.Parallel()
		o := h.runHTTP(t, map[string]any{"url": s.URL, "retry_config": map[string]any{"retry_enabled": false, "max_retries": 2}}, nil)
		wantSucceeded(t, o)
	})
}

func TestRetryRecovers(t *testing.T) {
	t.Parallel()
	attempts := make(chan struct{}, 10)
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		attempts <- struct{}{}
		if len(attempts) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "third time")
	})
	h := newHarness(t, allowStub())
	o := h.runHTTP(t, map[string]any{"url": s.URL, "retry_config": map[string]any{"retry_enabled": true, "max_retries": 3, "retry_interval": 0}}, nil)
	wantSucceeded(t, o)
	if o.out(t, "body") != "third time" || len(o.retries()) != 2 {
		t.Fatalf("body %q, %d retries", o.out(t, "body"), len(o.retries()))
	}
	for i, r := range o.retries() {
		if r.Status != run.StatusRetry || r.Error != "Request failed with status code 503" || r.RetryIndex != i+1 {
			t.Fatalf("retry %d: %+v", i, r)
		}
		if sc, _ := r.Outputs.Get("status_code"); sc != int64(503) {
			t.Fatalf("retry outputs %v", r.Outputs)
		}
	}
}

func TestProcessDataRequestLog(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, allowStub())
	o := h.runHTTP(t, map[string]any{"method": "post", "url": s.URL + "/path?x=1", "headers": "X-A: b", "params": "q: 1",
		"authorization": map[string]any{"type": "api-key", "config": map[string]any{"type": "bearer", "api_key": "abc"}},
		"body":          textBody("raw-text", "hi")}, nil)
	wantSucceeded(t, o)
	log, _ := o.http(t).ProcessData.Get("request")
	host := strings.TrimPrefix(s.URL, "http://")
	want := "POST /path?q=1 HTTP/1.1\r\nHost: " + host + "\r\nX-A: b\r\nAuthorization: **********\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
	if log != want {
		t.Fatalf("log %q\nwant %q", log, want)
	}
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	var s *stub
	s = newStub(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/start":
			http.Redirect(w, r, "/middle", http.StatusFound)
		case "/middle":
			http.Redirect(w, r, s.URL+"/final", http.StatusMovedPermanently)
		case "/final":
			_, _ = io.WriteString(w, "arrived via "+r.Method)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/to-metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/to-internal-name":
			http.Redirect(w, r, "http://internal.test:"+s.port()+"/final", http.StatusFound)
		case "/to-mapped-loopback":
			http.Redirect(w, r, "http://[::ffff:127.0.0.2]:"+s.port()+"/final", http.StatusFound)
		}
	})
	cfg := allowStub()
	cfg.Resolver = newResolver(map[string][]string{"internal.test": {"10.0.0.7"}})
	h := newHarness(t, cfg)

	o := h.runHTTP(t, map[string]any{"url": s.URL + "/start"}, nil)
	wantSucceeded(t, o)
	if o.out(t, "body") != "arrived via GET" {
		t.Fatalf("body %q", o.out(t, "body"))
	}
	o = h.runHTTP(t, map[string]any{"url": s.URL + "/loop"}, nil)
	wantFailure(t, o.http(t), ErrTypeNode, "Exceeded maximum allowed redirects.")
	if n := countPath(s, "/loop"); n != DefaultMaxRedirects+1 {
		t.Fatalf("/loop requested %d times", n)
	}
	for _, c := range []struct{ path, msg string }{
		{"/to-metadata", "169.254.169.254 is a cloud metadata address"},
		{"/to-internal-name", "internal.test resolves to 10.0.0.7 (private address)"},
		{"/to-mapped-loopback", "::ffff:127.0.0.2 is a loopback address"},
	} {
		o = h.runHTTP(t, map[string]any{"url": s.URL + c.path}, nil)
		wantFailure(t, o.http(t), ErrTypeSSRF, "Access to '"+s.URL+c.path+"' was blocked by SSRF protection.")
		if !strings.Contains(o.http(t).Error, c.msg) {
			t.Fatalf("%s: error %q, want %q", c.path, o.http(t).Error, c.msg)
		}
	}
}

func countPath(s *stub, path string) int {
	n := 0
	for _, r := range s.requests() {
		if r.Path == path {
			n++
		}
	}
	return n
}

func TestRegisterRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{Allow: []string{"not a host/name"}},
		{MaxTextSize: -1},
		{MaxReadTimeout: -1},
		{MaxRedirects: -1},
	} {
		if err := Register(run.NewRegistry(), cfg); err == nil {
			t.Errorf("Register(%+v) = nil", cfg)
		}
	}
	reg := run.NewRegistry()
	if err := Register(reg, Config{}); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range reg.Types() {
		found = found || n == TypeName
	}
	if !found {
		t.Fatal("http-request not registered")
	}
}

func TestErrorsWrapSentinels(t *testing.T) {
	t.Parallel()
	err := blockedMessage("http://x", &BlockedError{Class: "loopback"})
	if !errors.Is(err, ErrBlocked) {
		t.Fatal("blocked error does not wrap ErrBlocked")
	}
	if !errors.Is(sizeError(false, 1, "2 bytes"), ErrTooLarge) {
		t.Fatal("size error does not wrap ErrTooLarge")
	}
}
