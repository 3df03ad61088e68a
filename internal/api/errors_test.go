package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/run"
)

const pyPrefix = "1 validation error for WorkflowRunPayload\n"

func TestErrorResponses(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *api.Config) { c.MaxBodyBytes = 4096 }})
	big := `{"inputs": {"query": "` + strings.Repeat("x", 5000) + `"}, "user": "u"}`
	tests := []struct {
		name    string
		method  string
		path    string // relative to the prefix
		auth    string // full Authorization header ("-": none)
		body    string
		status  int
		code    string
		message string
	}{
		{"no auth header", "POST", "/workflows/run", "-", `{}`, 401, "unauthorized", "Authorization header must be provided and start with 'Bearer'"},
		{"header without space", "POST", "/workflows/run", "Bearer", `{}`, 401, "unauthorized", "Authorization header must be provided and start with 'Bearer'"},
		{"other scheme", "POST", "/workflows/run", "Basic " + chain3Key, `{}`, 401, "unauthorized", "Authorization scheme must be 'Bearer'"},
		{"unknown key", "POST", "/workflows/run", "Bearer app-unknown-key", `{}`, 401, "unauthorized", "Access token is invalid"},
		{"unknown key on info", "GET", "/info", "Bearer app-unknown-key", ``, 401, "unauthorized", "Access token is invalid"},
		{"scheme is case-insensitive", "POST", "/workflows/run", "bEaReR " + chain3Key, `{"inputs": {}}`, 400, "invalid_param", "Arg user must be provided."},
		{"empty body", "POST", "/workflows/run", "", ``, 400, "invalid_param", "Invalid JSON payload received or JSON payload is empty."},
		{"malformed JSON", "POST", "/workflows/run", "", `{"inputs": `, 400, "invalid_param", "Invalid JSON payload received or JSON payload is empty."},
		{"JSON array", "POST", "/workflows/run", "", `[]`, 400, "invalid_param", "Invalid JSON payload received or JSON payload is empty."},
		{"missing user", "POST", "/workflows/run", "", `{"inputs": {"query": "x"}}`, 400, "invalid_param", "Arg user must be provided."},
		{"empty user", "POST", "/workflows/run", "", `{"inputs": {"query": "x"}, "user": ""}`, 400, "invalid_param", "Arg user must be provided."},
		{"null user", "POST", "/workflows/run", "", `{"inputs": {"query": "x"}, "user": null}`, 400, "invalid_param", "Arg user must be provided."},
		{"missing inputs", "POST", "/workflows/run", "", `{"user": "u"}`, 400, "invalid_param", pyPrefix + "inputs\n  Field required"},
		{"null inputs", "POST", "/workflows/run", "", `{"inputs": null, "user": "u"}`, 400, "invalid_param", pyPrefix + "inputs\n  Input should be a valid dictionary"},
		{"string inputs", "POST", "/workflows/run", "", `{"inputs": "q", "user": "u"}`, 400, "invalid_param", pyPrefix + "inputs\n  Input should be a valid dictionary"},
		{"list inputs", "POST", "/workflows/run", "", `{"inputs": [], "user": "u"}`, 400, "invalid_param", pyPrefix + "inputs\n  Input should be a valid dictionary"},
		{"unknown response_mode", "POST", "/workflows/run", "", `{"inputs": {"query": "x"}, "user": "u", "response_mode": "fast"}`, 400, "invalid_param", pyPrefix + "response_mode\n  Input should be 'blocking' or 'streaming'"},
		{"files not a list", "POST", "/workflows/run", "", `{"inputs": {"query": "x"}, "user": "u", "files": {}}`, 400, "invalid_param", pyPrefix + "files\n  Input should be a valid list"},
		{"required input missing", "POST", "/workflows/run", "", `{"inputs": {}, "user": "u"}`, 400, "invalid_param", "query is required in input form"},
		{"input of wrong type", "POST", "/workflows/run", "", `{"inputs": {"query": 5}, "user": "u"}`, 400, "invalid_param", "(type 'text-input') query in input form must be a string"},
		{"input too long", "POST", "/workflows/run", "", `{"inputs": {"query": "` + strings.Repeat("y", 257) + `"}, "user": "u"}`, 400, "invalid_param", "query in input form must be less than 256 characters"},
		{"body too large", "POST", "/workflows/run", "", big, 413, "request_entity_too_large", "The data value transmitted exceeds the capacity limit."},
		{"workflow id not a UUID", "POST", "/workflows/not-a-uuid/run", "", `{"inputs": {"query": "x"}, "user": "u"}`, 400, "bad_request", "Invalid workflow_id format: 'not-a-uuid'. "},
		{"unknown workflow id", "POST", "/workflows/" + echoWF + "/run", "", `{"inputs": {"query": "x"}, "user": "u"}`, 404, "not_found", "Workflow not found with id: " + echoWF},
		{"unknown run id", "GET", "/workflows/run/00000000-0000-4000-8000-000000000000", "", ``, 404, "not_found", "Workflow run not found."},
		{"stop without user", "POST", "/workflows/tasks/x/stop", "", `{}`, 400, "invalid_param", "Arg user must be provided."},
		{"stop with bad JSON", "POST", "/workflows/tasks/x/stop", "", `nope`, 400, "invalid_param", "Invalid JSON payload received or JSON payload is empty."},
		{"unknown route", "GET", "/nothing/here", "", ``, 404, "not_found", "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again."},
		{"wrong method", "GET", "/workflows/run", "", ``, 405, "method_not_allowed", "The method is not allowed for the requested URL."},
	}
	for _, prefix := range []string{"", "/v1"} {
		for _, tt := range tests {
			t.Run(prefix+" "+tt.name, func(t *testing.T) {
				t.Parallel()
				key := chain3Key
				rec := b.do(tt.method, prefix+tt.path, "", tt.body, authHeader(tt.auth, key)...)
				checkError(t, rec.Code, rec.Header(), rec.Body.Bytes(), tt.status, tt.code, tt.message)
			})
		}
	}
}

// authHeader returns header pairs for do: "" means the default key, "-"
// no header at all.
func authHeader(auth, key string) []string {
	switch auth {
	case "":
		return []string{"Authorization", "Bearer " + key}
	case "-":
		return nil
	}
	return []string{"Authorization", auth}
}

func checkError(t *testing.T, status int, h http.Header, body []byte, wantStatus int, wantCode, wantMsg string) {
	t.Helper()
	var got errBody
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("status %d, body %q: %v", status, body, err)
	}
	if status != wantStatus || got.Status != wantStatus || got.Code != wantCode || got.Message != wantMsg {
		t.Fatalf("got %d %+v\nwant %d {Code:%s Message:%s}", status, got, wantStatus, wantCode, wantMsg)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if wantStatus == 401 {
		if got := h.Get("WWW-Authenticate"); got != `Bearer realm="api"` {
			t.Errorf("WWW-Authenticate = %q", got)
		}
	}
	// Dify's key order: code, message, status.
	if !strings.HasPrefix(string(body), `{"code": `) || !strings.Contains(string(body), `, "status": `) {
		t.Errorf("body not in Dify's shape: %s", body)
	}
}

func TestTooManyRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *api.Config) { c.MaxActiveRequests = 1 }})
	done := make(chan int, 1)
	go func() { done <- b.do("POST", "/v1/workflows/run", blockKey, blockingBody("g")).Code }()
	b.waitStarted(t)
	rec := b.do("POST", "/v1/workflows/run", blockKey, blockingBody("h"))
	checkError(t, rec.Code, rec.Header(), rec.Body.Bytes(), 429, "too_many_requests",
		"Too many requests. Please try again later. The current maximum concurrent requests allowed for "+blockApp+" is 1.")
	// The limit is per app, and a run rejected for its inputs gives its
	// slot back: the other app still runs, twice.
	if rec := b.do("POST", "/v1/workflows/run", echoKey, `{"inputs": {}, "user": "u"}`); rec.Code != 400 {
		t.Fatalf("bad inputs: %d %s", rec.Code, rec.Body)
	}
	for range 2 {
		if rec := b.do("POST", "/v1/workflows/run", echoKey, blockingBody("x")); rec.Code != 200 {
			t.Fatalf("other app: %d %s", rec.Code, rec.Body)
		}
	}
	b.blocker.release("g")
	if code := <-done; code != 200 {
		t.Fatalf("first run: %d", code)
	}
	b.drain(t)
}

func TestShuttingDownRefusesRuns(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.drain(t)
	rec := b.do("POST", "/v1/workflows/run", echoKey, blockingBody("x"))
	checkError(t, rec.Code, rec.Header(), rec.Body.Bytes(), 503, "service_unavailable", "The server is shutting down; no new runs are accepted.")
	if rec := b.do("GET", "/readyz", "", ""); rec.Code != 503 {
		t.Fatalf("readyz while draining = %d", rec.Code)
	}
}

// panicStore makes Authenticate panic, to exercise the recoverer.
type panicStore struct{ app.Store }

func (panicStore) Authenticate(context.Context, string) (*app.App, error) { panic("boom") }

// failStore fails with an unexpected error.
type failStore struct{ app.Store }

func (failStore) Authenticate(context.Context, string) (*app.App, error) {
	return nil, errors.New("database on fire")
}

func TestInternalErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		store func(app.Store) app.Store
		log   string
	}{
		{"panic", func(s app.Store) app.Store { return panicStore{s} }, "handler panicked"},
		{"unexpected error", func(s app.Store) app.Store { return failStore{s} }, "database on fire"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, options{mutate: func(c *api.Config) { c.Apps = tt.store(c.Apps) }})
			rec := b.do("POST", "/v1/workflows/run", echoKey, blockingBody("x"), "X-Request-Id", "req-42")
			checkError(t, rec.Code, rec.Header(), rec.Body.Bytes(), 500, "internal_server_error",
				"The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.")
			if got := rec.Header().Get("X-Request-Id"); got != "req-42" {
				t.Errorf("X-Request-Id = %q", got)
			}
			logs := b.logs.String()
			if !strings.Contains(logs, tt.log) || !strings.Contains(logs, "request_id=req-42") {
				t.Errorf("log lacks %q with the request id:\n%s", tt.log, logs)
			}
			if strings.Contains(rec.Body.String(), "fire") {
				t.Errorf("internal detail leaked: %s", rec.Body)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	b := setup(t, options{deterministic: true})
	if got := b.do("GET", "/healthz", "", "", "X-Request-Id", "abc-1.2_3:4").Header().Get("X-Request-Id"); got != "abc-1.2_3:4" {
		t.Errorf("echoed id = %q", got)
	}
	got := b.do("GET", "/healthz", "", "", "X-Request-Id", "bad id\r\nx").Header().Get("X-Request-Id")
	if !strings.HasPrefix(got, "aaaaaaaa-") {
		t.Errorf("generated id = %q", got)
	}
}

// panicEngine compiles normally but panics when running.
type panicEngine struct{ api.Engine }

func (panicEngine) Run(context.Context, *run.Workflow, run.Params, run.Listener) *run.RunInfo {
	panic("engine exploded")
}

func TestEnginePanic(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *api.Config) {
		c.Engine = panicEngine{c.Engine}
		c.MaxActiveRequests = 1
	}})
	for range 2 { // the slot is released each time
		rec := b.do("POST", "/v1/workflows/run", echoKey, blockingBody("x"))
		checkError(t, rec.Code, rec.Header(), rec.Body.Bytes(), 500, "internal_server_error",
			"The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.")
		rec = b.do("POST", "/v1/workflows/run", echoKey, streamBody("x"))
		body := rec.Body.String()
		if rec.Code != 200 || !strings.HasPrefix(body, `data: {"event":"error","workflow_run_id":"`) ||
			!strings.HasSuffix(body, `"code":"internal_server_error","status":500,"message":"The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application."}`+"\n\n") {
			t.Fatalf("stream after engine panic: %d %q", rec.Code, body)
		}
	}
	if !strings.Contains(b.logs.String(), "engine exploded") {
		t.Error("panic not logged")
	}
	b.drain(t)
}
