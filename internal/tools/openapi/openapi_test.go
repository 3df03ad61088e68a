package openapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/nodes/httpreq"
	"github.com/flowrun/flowrun/internal/tools"
	"github.com/flowrun/flowrun/internal/tools/openapi"
)

// petsDoc is the document the tests configure; {{URL}} is the stub
// server's address.
const petsDoc = `
openapi: 3.0.0
info: {title: Pets, version: "1"}
servers:
  - url: {{URL}}/v1
paths:
  /pets/{petId}:
    parameters:
      - {name: petId, in: path, required: true, schema: {type: integer}}
    get:
      operationId: getPet
      summary: Get a pet
      parameters:
        - {name: verbose, in: query, schema: {type: boolean}}
        - {name: lang, in: query, schema: {type: string, default: en}}
        - {name: X-Trace, in: header, schema: {type: string}}
        - {name: session, in: cookie, schema: {type: string}}
  /pets:
    post:
      operationId: addPet
      description: Add a pet
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Pet'}
  /status/{code}:
    get:
      parameters:
        - {name: code, in: path, required: true, schema: {type: string}}
  /files/report:
    get:
      operationId: report
components:
  schemas:
    Pet:
      type: object
      required: [name]
      properties:
        name: {type: string, description: the name}
        age: {type: integer}
        tags: {type: array, items: {type: string}}
        kind: {type: string, default: cat}
`

// stub is the API the tools call; it records the last request.
type stub struct {
	mu   sync.Mutex
	last *http.Request
	body string
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.last, s.body = r, string(b)
	s.mu.Unlock()
	switch {
	case strings.HasPrefix(r.URL.Path, "/v1/pets/"):
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id": %s, "name": "Tom"}`, strings.TrimPrefix(r.URL.Path, "/v1/pets/"))
	case r.URL.Path == "/v1/pets":
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "created")
	case strings.HasPrefix(r.URL.Path, "/v1/status/"):
		http.Error(w, "no such thing", http.StatusNotFound)
	case r.URL.Path == "/v1/files/report":
		w.Header().Set("Content-Type", "text/csv")
		w.Header().Set("Content-Disposition", `attachment; filename="r.csv"`)
		fmt.Fprint(w, "a,b\n1,2\n")
	}
}

func (s *stub) request() (*http.Request, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.body
}

// setup serves a stub and returns a registry with provider "pets" built
// from yaml (with {{URL}} and {{DOC}} replaced) through the openapi kind,
// its SSRF guard allowing loopback.
func setup(t *testing.T, entry string) (*tools.Registry, *stub) {
	t.Helper()
	s := &stub{}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return registry(t, entry, srv.URL, httpreq.Config{Allow: []string{"127.0.0.1", "::1"}}), s
}

func registry(t testing.TB, entry, url string, guard httpreq.Config) *tools.Registry {
	t.Helper()
	cfg, err := tools.ParseConfig(configYAML(entry, url), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dial, err := httpreq.Dialer(guard)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := tools.Build(context.Background(), cfg, tools.Kinds{openapi.Kind: openapi.Factory(openapi.Options{Dial: dial, MaxTextSize: 1 << 10})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	return reg
}

// configYAML is entry with the document of url in place of {{DOC}}.
func configYAML(entry, url string) []byte {
	doc := strings.ReplaceAll(petsDoc, "{{URL}}", url)
	indented := "    " + strings.ReplaceAll(doc, "\n", "\n    ")
	return []byte(strings.ReplaceAll(entry, "{{DOC}}", "|\n"+indented))
}

const plain = `
providers:
- id: pets
  kind: openapi
  schema: {{DOC}}
`

func invoke(t *testing.T, reg *tools.Registry, tool string, args map[string]any) ([]tools.Message, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, tl, err := reg.Lookup(ctx, "api", "pets", tool)
	if err != nil {
		t.Fatal(err)
	}
	args, err = tl.Cast(args)
	if err != nil {
		t.Fatal(err)
	}
	return tools.Collect(ctx, p, &tools.Call{Tool: tl.Name, Args: args})
}

func TestToolsFromDocument(t *testing.T) {
	reg, _ := setup(t, plain)
	p, _ := reg.Provider("pets")
	list, err := p.Tools(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range list {
		names = append(names, tl.Name)
	}
	// Document order; an operation without operationId is named by
	// Dify's rule: <path without specials>_<method>.
	if got := strings.Join(names, ","); got != "getPet,addPet,statuscode_get,report" {
		t.Fatalf("tools = %s", got)
	}
	get := list[0]
	if get.Description != "Get a pet" {
		t.Errorf("description = %q", get.Description)
	}
	var params []string
	for _, prm := range get.Params {
		params = append(params, fmt.Sprintf("%s:%s:%v", prm.Name, prm.Type, prm.Required))
	}
	if got := strings.Join(params, " "); got != "petId:number:true verbose:boolean:false lang:string:false X-Trace:string:false session:string:false" {
		t.Errorf("getPet params = %s", got)
	}
	add := list[1]
	params = params[:0]
	for _, prm := range add.Params {
		params = append(params, fmt.Sprintf("%s:%s:%v", prm.Name, prm.Type, prm.Required))
	}
	// Body properties, in document order; arrays stay strings, as in Dify.
	if got := strings.Join(params, " "); got != "name:string:true age:number:false tags:string:false kind:string:false" {
		t.Errorf("addPet params = %s", got)
	}
	if add.Description != "Add a pet" || add.Params[0].Description != "the name" {
		t.Errorf("addPet = %+v", add)
	}
}

func TestInvokeGetWithPathQueryHeaderCookie(t *testing.T) {
	reg, s := setup(t, plain)
	msgs, err := invoke(t, reg, "getPet", map[string]any{"petId": "7", "verbose": "true", "X-Trace": "abc", "session": "s1"})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.request()
	if r.Method != "GET" || r.URL.Path != "/v1/pets/7" {
		t.Errorf("request = %s %s", r.Method, r.URL.Path)
	}
	// lang is left out: its default fills it in.
	if got := r.URL.RawQuery; got != "verbose=true&lang=en" {
		t.Errorf("query = %q", got)
	}
	if r.Header.Get("X-Trace") != "abc" || r.Header.Get("Cookie") != "session=s1" {
		t.Errorf("headers = %v", r.Header)
	}
	if len(msgs) != 2 || msgs[0].Kind != tools.KindJSON || msgs[1].Kind != tools.KindText {
		t.Fatalf("messages = %+v", msgs)
	}
	if m := msgs[0].JSON.(map[string]any); m["id"] != int64(7) || m["name"] != "Tom" {
		t.Errorf("json = %v", m)
	}
	if msgs[1].Text != `{"id": 7, "name": "Tom"}` {
		t.Errorf("text = %q", msgs[1].Text)
	}
}

func TestInvokePathValueIsEscaped(t *testing.T) {
	reg, s := setup(t, plain)
	if _, err := invoke(t, reg, "statuscode_get", map[string]any{"code": "../../pets/1"}); err == nil {
		t.Fatal("want the 404 of /v1/status/..")
	}
	r, _ := s.request()
	if r.URL.Path != "/v1/status/../../pets/1" || r.URL.RawPath != "/v1/status/..%2F..%2Fpets%2F1" {
		t.Errorf("path = %q (raw %q)", r.URL.Path, r.URL.RawPath)
	}
}

func TestInvokePostJSONBody(t *testing.T) {
	reg, s := setup(t, plain)
	msgs, err := invoke(t, reg, "addPet", map[string]any{"name": 42, "age": "3", "tags": `["a", "b"]`})
	if err != nil {
		t.Fatal(err)
	}
	r, body := s.request()
	if r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request = %s %v", r.Method, r.Header)
	}
	// Converted by type as Dify does; kind takes its default; json.dumps's
	// separators.
	if want := `{"name": "42", "age": 3, "tags": ["a", "b"], "kind": "cat"}`; body != want {
		t.Errorf("body = %s, want %s", body, want)
	}
	if len(msgs) != 1 || msgs[0].Kind != tools.KindText || msgs[0].Text != "created" {
		t.Errorf("messages = %+v", msgs)
	}
	_, err = invoke(t, reg, "addPet", map[string]any{"age": 3})
	if err == nil || err.Error() != "Missing required parameter name" || tools.TypeOf(err) != openapi.ErrTypeParameterValidation {
		t.Errorf("missing name: %v (%s)", err, tools.TypeOf(err))
	}
}

func TestInvokeErrorStatus(t *testing.T) {
	reg, _ := setup(t, plain)
	_, err := invoke(t, reg, "statuscode_get", map[string]any{"code": "x"})
	if err == nil || err.Error() != "Request failed with status code 404 and no such thing\n" || tools.TypeOf(err) != tools.ErrTypeInvoke {
		t.Fatalf("err = %q (%s)", err, tools.TypeOf(err))
	}
}

func TestInvokeAttachmentIsABlob(t *testing.T) {
	reg, _ := setup(t, plain)
	msgs, err := invoke(t, reg, "report", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Kind != tools.KindBlob || string(msgs[0].Blob) != "a,b\n1,2\n" || msgs[0].MIME != "text/csv" {
		t.Fatalf("messages = %+v", msgs)
	}
}

func TestAuthHeaders(t *testing.T) {
	for _, c := range []struct{ creds, header, want string }{
		{"{auth_type: none}", "Authorization", ""},
		{"{auth_type: api_key, api_key_value: k1}", "Authorization", "k1"},
		{"{auth_type: api_key, api_key_value: k1, api_key_header_prefix: bearer}", "Authorization", "Bearer k1"},
		{"{auth_type: api_key, api_key_value: k1, api_key_header_prefix: basic}", "Authorization", "Basic k1"},
		{"{auth_type: api_key, api_key_value: k1, api_key_header: X-Api-Key, api_key_header_prefix: custom}", "X-Api-Key", "k1"},
	} {
		t.Run(c.creds, func(t *testing.T) {
			reg, s := setup(t, plain+"  credentials: "+c.creds+"\n")
			if _, err := invoke(t, reg, "getPet", map[string]any{"petId": 1}); err != nil {
				t.Fatal(err)
			}
			r, _ := s.request()
			if got := r.Header.Get(c.header); got != c.want {
				t.Errorf("%s = %q, want %q", c.header, got, c.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct{ entry, want string }{
		{plain + "  credentials: {auth_type: api_key}\n", "Missing api_key_value"},
		{plain + "  credentials: {auth_type: oauth}\n", `credentials.auth_type "oauth"`},
		{"providers:\n- {id: pets, kind: openapi}\n", "schema or schema_file is required"},
		{"providers:\n- {id: pets, kind: openapi, schema_file: nope.yaml}\n", "schema_file: open"},
		{"providers:\n- {id: pets, kind: openapi, schema: 'openapi: 3.0.0\n\n  info: {title: x, version: \"1\"}\n\n  paths: {}'}\n", "No server found in the openapi yaml."},
		{"providers:\n- {id: pets, kind: openapi, schema: '{swagger: \"2.0\", info: {title: x, version: \"1\"}, host: a.example, paths: {/a: {get: {responses: {}}}}}'}\n", "No operationId found in operation get /a."},
		{"providers:\n- {id: pets, kind: openapi, schema: '{openapi: 3.0.0, info: {title: x, version: \"1\"}, servers: [{url: /api}], paths: {/a: {get: {}}}}'}\n", `server url "/api" is not an absolute`},
	} {
		cfg, err := tools.ParseConfig(configYAML(c.entry, "http://api.example"), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		_, err = tools.Build(context.Background(), cfg, tools.Kinds{openapi.Kind: openapi.Factory(openapi.Options{Dial: noDial})}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, tools.ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want %q", c.entry, err, c.want)
		}
	}
}

func noDial(context.Context, string, string) (net.Conn, error) { return nil, errors.New("no network") }

func TestSSRFGuard(t *testing.T) {
	srv := httptest.NewServer(&stub{})
	t.Cleanup(srv.Close)
	// The default guard refuses the loopback address of the stub.
	reg := registry(t, plain, srv.URL, httpreq.Config{})
	_, err := invoke(t, reg, "getPet", map[string]any{"petId": 1})
	if !errors.Is(err, httpreq.ErrBlocked) || tools.TypeOf(err) != tools.ErrTypeInvoke {
		t.Fatalf("err = %v, want a refusal by the SSRF guard", err)
	}
	var be *httpreq.BlockedError
	if !errors.As(err, &be) || be.Class != "loopback" {
		t.Errorf("err = %v", err)
	}
	// Allow-listed, it is reached.
	reg = registry(t, plain, srv.URL, httpreq.Config{Allow: []string{"127.0.0.0/8"}})
	if _, err := invoke(t, reg, "getPet", map[string]any{"petId": 1}); err != nil {
		t.Fatal(err)
	}
}

func TestResponseSizeIsBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length: the limit applies while reading.
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, strings.Repeat("x", 2000))
	}))
	t.Cleanup(srv.Close)
	reg := registry(t, plain, srv.URL, httpreq.Config{Allow: []string{"127.0.0.1"}})
	_, err := invoke(t, reg, "report", nil)
	if err == nil || err.Error() != "Response size exceeds the maximum allowed size 1024 bytes" {
		t.Fatalf("err = %v", err)
	}
}

func TestInvokeHonoursContext(t *testing.T) {
	started := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	reg := registry(t, plain, srv.URL, httpreq.Config{Allow: []string{"127.0.0.1"}})
	p, _ := reg.Provider("pets")
	cause := errors.New("run stopped")
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Invoke(ctx, &tools.Call{Tool: "report"}, func(tools.Message) error { return nil }) }()
	<-started
	cancel(cause)
	select {
	case err := <-done:
		if !errors.Is(err, cause) {
			t.Fatalf("err = %v, want the context's cause", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Invoke did not return after its context was cancelled")
	}
}

func TestSwagger2(t *testing.T) {
	s := &stub{}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	doc := `{"swagger": "2.0", "info": {"title": "x", "version": "1"}, "host": "` + host + `", "basePath": "/v1", "schemes": ["http"],
	  "paths": {"/pets/{id}": {"get": {"operationId": "getPet", "parameters": [{"name": "id", "in": "path", "required": true, "type": "integer"}], "responses": {}}}}}`
	cfg, err := tools.ParseConfig([]byte("providers:\n- id: pets\n  kind: openapi\n  schema: '"+doc+"'\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	dial, _ := httpreq.Dialer(httpreq.Config{Allow: []string{"127.0.0.1"}})
	reg, err := tools.Build(context.Background(), cfg, tools.Kinds{openapi.Kind: openapi.Factory(openapi.Options{Dial: dial})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := invoke(t, reg, "getPet", map[string]any{"id": 3})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := s.request(); r.URL.Path != "/v1/pets/3" || len(msgs) != 2 {
		t.Errorf("path = %s, messages = %+v", r.URL.Path, msgs)
	}
}
