package api_test

import (
	"context"
	"encoding/json"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/api"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestStaticEndpoints(t *testing.T) {
	t.Parallel()
	b := setup(t, options{deterministic: true})
	const welcome = "{\"welcome\": \"Dify OpenAPI\", \"api_version\": \"v1\", \"server_version\": \"1.17.1\"}\n"
	tests := []struct {
		name, method, path, key string
		status                  int
		body                    string
	}{
		{"welcome", "GET", "/", "", 200, welcome},
		{"welcome v1", "GET", "/v1", "", 200, welcome},
		{"welcome v1/", "GET", "/v1/", "", 200, welcome},
		{"healthz", "GET", "/healthz", "", 200, "{\"status\": \"ok\"}\n"},
		{"readyz", "GET", "/readyz", "", 200, "{\"status\": \"ready\"}\n"},
		{"info", "GET", "/v1/info?user=abc", chain3Key, 200,
			"{\"name\": \"chain3\", \"description\": \"\", \"tags\": [], \"mode\": \"workflow\", \"author_name\": \"\"}\n"},
		{"info at root", "GET", "/info", echoKey, 200,
			"{\"name\": \"echo\", \"description\": \"\", \"tags\": [], \"mode\": \"workflow\", \"author_name\": \"\"}\n"},
		{"parameters", "GET", "/v1/parameters?user=abc", chain3Key, 200,
			`{"opening_statement": "", "suggested_questions": [], "suggested_questions_after_answer": {"enabled": false}, ` +
				`"speech_to_text": {"enabled": false}, "text_to_speech": {"enabled": false, "language": "", "voice": ""}, ` +
				`"retriever_resource": {"enabled": true}, "annotation_reply": {"enabled": false}, "more_like_this": {"enabled": false}, ` +
				`"user_input_form": [{"text-input": {"label": "query", "max_length": 256, "required": true, "type": "text-input", "variable": "query"}}], ` +
				`"sensitive_word_avoidance": {"enabled": false}, ` +
				`"file_upload": {"image": {"enabled": false, "number_limits": 3, "detail": "high", "transfer_methods": ["remote_url", "local_file"]}}, ` +
				`"system_parameters": {"image_file_size_limit": 10, "video_file_size_limit": 100, "audio_file_size_limit": 50, "file_size_limit": 15, "workflow_file_upload_limit": 10}}` + "\n"},
		{"stop unknown task", "POST", "/v1/workflows/tasks/nope/stop", echoKey, 200, "{\"result\": \"success\"}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := ""
			if tt.method == "POST" {
				body = `{"user": "abc-123"}`
			}
			rec := b.do(tt.method, tt.path, tt.key, body)
			if rec.Code != tt.status || rec.Body.String() != tt.body {
				t.Fatalf("got %d %q\nwant %d %q", rec.Code, rec.Body, tt.status, tt.body)
			}
		})
	}
}

func TestParametersUsesDSLFeatures(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	dsl := `
app: {mode: workflow, name: feat, description: "d é"}
workflow:
  features:
    opening_statement: hello
    file_upload: {enabled: true, number_limits: 3, image: {enabled: true, number_limits: 5}}
  graph:
    nodes:
    - id: start
      data:
        type: start
        title: Start
        variables:
        - {variable: level, label: Level, type: select, options: [low, high], required: false, default: low}
        - {variable: n, label: N, type: number, required: true}
    - id: end
      data: {type: end, title: End, outputs: [{variable: n, value_selector: [start, n]}]}
    edges:
    - {id: e1, source: start, target: end}
`
	const id = "6f9619ff-8b86-4011-b42d-00cf4fc964ff"
	if rec := b.do("PUT", "/admin/apps/"+id, adminKey, dsl); rec.Code != 201 {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do("POST", "/admin/apps/"+id+"/keys", adminKey, `{"key": "app-feature-key"}`); rec.Code != 201 {
		t.Fatalf("add key: %d %s", rec.Code, rec.Body)
	}
	rec := b.do("GET", "/v1/parameters", "app-feature-key", "")
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["opening_statement"] != "hello" {
		t.Errorf("opening_statement = %v", got["opening_statement"])
	}
	if fu, _ := got["file_upload"].(map[string]any); fu["enabled"] != true {
		t.Errorf("file_upload = %v", got["file_upload"])
	}
	// DSL integers stay integers.
	if want := `"file_upload": {"enabled": true, "image": {"enabled": true, "number_limits": 5}, "number_limits": 3}`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("parameters %s\nlack %s", rec.Body, want)
	}
	form, _ := json.Marshal(got["user_input_form"])
	const wantForm = `[{"select":{"default":"low","label":"Level","options":["low","high"],"required":false,"type":"select","variable":"level"}},{"number":{"label":"N","required":true,"type":"number","variable":"n"}}]`
	if string(form) != wantForm {
		t.Errorf("user_input_form = %s\nwant %s", form, wantForm)
	}
	// Non-ASCII is escaped as json.dumps does.
	if rec := b.do("GET", "/v1/info", "app-feature-key", ""); !strings.Contains(rec.Body.String(), `"description": "d \u00e9"`) {
		t.Errorf("info = %s", rec.Body)
	}
	// Number inputs are coerced from strings, as in Dify.
	rec = b.do("POST", "/v1/workflows/run", "app-feature-key", `{"inputs": {"n": "42"}, "user": "u"}`)
	if !strings.Contains(rec.Body.String(), `"outputs": {"n": 42}`) {
		t.Errorf("run = %s", rec.Body)
	}
}

func TestBlockingRunAndGetRun(t *testing.T) {
	t.Parallel()
	b := setup(t, options{deterministic: true})
	// response_mode omitted means blocking; unknown inputs are dropped.
	rec := b.do("POST", "/v1/workflows/run", chain3Key, `{"inputs": {"query": "héllo <b>", "extra": 1}, "user": "abc-123"}`)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	golden(t, "blocking_chain3.json", rec.Body.Bytes())

	var resp struct {
		WorkflowRunID string `json:"workflow_run_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"", "/v1"} {
		rec = b.do("GET", prefix+"/workflows/run/"+resp.WorkflowRunID+"?user=abc-123", chain3Key, "")
		if rec.Code != 200 {
			t.Fatalf("get run: %d %s", rec.Code, rec.Body)
		}
		golden(t, "get_run_chain3.json", rec.Body.Bytes())
	}
	// Runs are scoped to their app.
	if rec := b.do("GET", "/v1/workflows/run/"+resp.WorkflowRunID, echoKey, ""); rec.Code != 404 {
		t.Errorf("other app sees the run: %d", rec.Code)
	}
}

func TestRunByWorkflowID(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	for _, id := range []string{echoWF, strings.ToUpper(echoWF), "{" + echoWF + "}"} {
		rec := b.do("POST", "/v1/workflows/"+id+"/run", echoKey, blockingBody("hi"))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"outputs": {"answer": "hi"}`) {
			t.Fatalf("%s: %d %s", id, rec.Code, rec.Body)
		}
	}
}

func TestFailedRunIsHTTP200(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	dsl := `
app: {mode: workflow, name: fail}
workflow:
  graph:
    nodes:
    - id: start
      data: {type: start, title: Start, variables: [{variable: q, label: q, type: text-input, required: true}]}
    - id: t
      data: {type: template-transform, title: T, variables: [{variable: q, value_selector: [start, q]}], template: "{{ q | nosuchfilter }}"}
    - id: end
      data: {type: end, title: End, outputs: [{variable: out, value_selector: [t, output]}]}
    edges:
    - {id: e1, source: start, target: t}
    - {id: e2, source: t, target: end}
`
	const id = "7a9619ff-8b86-4011-b42d-00cf4fc964ff"
	if rec := b.do("PUT", "/admin/apps/"+id, adminKey, dsl); rec.Code != 201 {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do("POST", "/admin/apps/"+id+"/keys", adminKey, `{"key": "app-fail-key-1"}`); rec.Code != 201 {
		t.Fatal(rec.Body)
	}
	rec := b.do("POST", "/v1/workflows/run", "app-fail-key-1", `{"inputs": {"q": "x"}, "user": "u"}`)
	var resp struct {
		Data finished `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 200 || resp.Data.Status != "failed" || resp.Data.Error == nil || len(resp.Data.Outputs) != 0 {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
}

func TestStreamGolden(t *testing.T) {
	t.Parallel()
	b := setup(t, options{deterministic: true})
	rec := b.do("POST", "/v1/workflows/run", chain3Key, streamBody("héllo <b>"))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	golden(t, "stream_chain3.sse", rec.Body.Bytes())
}

func TestStreamEventsPerExample(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	for _, tt := range []struct {
		key     string
		outputs string
		chunks  []string
	}{
		{echoKey, `{"answer":"hi"}`, []string{"hi"}},
		{chain3Key, `{"answer":"hi-1-2-3"}`, []string{"hi-1-2-3"}},
		{diamondKey, `{"left":"left:hi","right":"right:HI"}`, []string{"left:hi", "\n", "right:HI"}},
	} {
		rec := b.do("POST", "/v1/workflows/run", tt.key, streamBody("hi"))
		frames := strings.Split(strings.TrimSuffix(rec.Body.String(), "\n\n"), "\n\n")
		var chunks []string
		starts, finishes := 0, 0
		for i, fr := range frames {
			ev := parseEvent(t, fr)
			switch ev.Event {
			case "text_chunk":
				var d struct{ Text string }
				_ = json.Unmarshal(ev.Data, &d)
				chunks = append(chunks, d.Text)
			case "node_started":
				starts++
			case "node_finished":
				finishes++
			case "workflow_started":
				if i != 0 {
					t.Errorf("workflow_started at %d", i)
				}
			case "workflow_finished":
				if i != len(frames)-1 {
					t.Errorf("workflow_finished at %d of %d", i, len(frames))
				}
				var d struct{ Outputs json.RawMessage }
				_ = json.Unmarshal(ev.Data, &d)
				if string(d.Outputs) != tt.outputs {
					t.Errorf("outputs = %s, want %s", d.Outputs, tt.outputs)
				}
			}
		}
		if starts != finishes || starts < 2 {
			t.Errorf("%s: %d node_started, %d node_finished", tt.key, starts, finishes)
		}
		if strings.Join(chunks, "|") != strings.Join(tt.chunks, "|") {
			t.Errorf("%s: chunks %q, want %q", tt.key, chunks, tt.chunks)
		}
	}
}

func TestStopStreamingRun(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ts := httptest.NewServer(b.srv)
	t.Cleanup(ts.Close)
	ctx := context.Background()
	_, sse := startStream(ctx, t, ts.URL, blockKey, streamBody("never"))
	frame, err := sse.next()
	if err != nil {
		t.Fatal(err)
	}
	started := parseEvent(t, frame)
	if started.Event != "workflow_started" || started.TaskID == "" || started.WorkflowRunID == "" {
		t.Fatalf("first event %+v", started)
	}
	b.waitStarted(t)
	// Another app's key cannot stop it.
	if rec := b.do("POST", "/v1/workflows/tasks/"+started.TaskID+"/stop", echoKey, `{"user": "x"}`); rec.Code != 200 {
		t.Fatalf("stop: %d", rec.Code)
	}
	if rec := b.do("GET", "/v1/workflows/run/"+started.WorkflowRunID, blockKey, ""); !strings.Contains(rec.Body.String(), `"status": "running"`) ||
		!strings.Contains(rec.Body.String(), `"outputs": {}`) || !strings.Contains(rec.Body.String(), `"finished_at": null`) {
		t.Fatalf("running run = %s", rec.Body)
	}
	// Nor can another user of the same app: Dify's answer, nothing stopped.
	if rec := b.do("POST", "/v1/workflows/tasks/"+started.TaskID+"/stop", blockKey, `{"user": "someone-else"}`); rec.Code != 200 || rec.Body.String() != "{\"result\": \"success\"}\n" {
		t.Fatalf("stop: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do("GET", "/v1/workflows/run/"+started.WorkflowRunID, blockKey, ""); !strings.Contains(rec.Body.String(), `"status": "running"`) {
		t.Fatalf("another user stopped the run: %s", rec.Body)
	}
	// The run's user can, and the answer comes once the run has ended.
	if rec := b.do("POST", "/v1/workflows/tasks/"+started.TaskID+"/stop", blockKey, `{"user": "abc-123"}`); rec.Code != 200 || rec.Body.String() != "{\"result\": \"success\"}\n" {
		t.Fatalf("stop: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do("GET", "/v1/workflows/run/"+started.WorkflowRunID, blockKey, ""); !strings.Contains(rec.Body.String(), `"status": "stopped"`) {
		t.Fatalf("run after stop answered: %s", rec.Body)
	}
	_, fin := readUntilFinished(t, sse)
	if fin.Status != "stopped" || fin.Error == nil || *fin.Error != "Stopped by user." {
		t.Fatalf("finished = %+v", fin)
	}
	if _, err := sse.next(); err == nil {
		t.Fatal("stream goes on after workflow_finished")
	}
	b.drain(t)
	rec := b.do("GET", "/v1/workflows/run/"+started.WorkflowRunID, blockKey, "")
	if !strings.Contains(rec.Body.String(), `"status": "stopped"`) || !strings.Contains(rec.Body.String(), `"error": "Stopped by user."`) {
		t.Fatalf("stopped run = %s", rec.Body)
	}
}

func TestStreamPing(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *api.Config) { c.PingInterval = 5 * time.Millisecond }})
	ts := httptest.NewServer(b.srv)
	t.Cleanup(ts.Close)
	_, sse := startStream(context.Background(), t, ts.URL, blockKey, streamBody("p"))
	b.waitStarted(t)
	pings := 0
	for pings < 3 {
		frame, err := sse.next()
		if err != nil {
			t.Fatal(err)
		}
		if frame == "event: ping" {
			pings++
		}
	}
	b.blocker.release("p")
	_, fin := readUntilFinished(t, sse)
	if fin.Status != "succeeded" || fin.Outputs["answer"] != "released p" {
		t.Fatalf("finished = %+v", fin)
	}
}

// TestStreamOutlivesServerTimeouts checks that neither ReadTimeout (whose
// background read would cancel the request) nor WriteTimeout cut a long
// stream.
func TestStreamOutlivesServerTimeouts(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *api.Config) {
		c.PingInterval = 10 * time.Millisecond
		// Bounds each write once the server's own deadlines are lifted;
		// generous, so a loaded machine cannot trip it. What the test
		// checks is that the stream outlives the server's own timeouts.
		c.WriteTimeout = 5 * time.Second
	}})
	// The server's timeouts must leave room to read the request on a
	// loaded machine (30 ms did not, under the whole suite), and the
	// stream must then run well past them.
	ts := httptest.NewUnstartedServer(b.srv)
	ts.Config.ReadTimeout = 400 * time.Millisecond
	ts.Config.WriteTimeout = 400 * time.Millisecond
	ts.Start()
	t.Cleanup(ts.Close)
	_, sse := startStream(context.Background(), t, ts.URL, blockKey, streamBody("slow"))
	b.waitStarted(t)
	deadline := time.Now().Add(1200 * time.Millisecond) // well past both timeouts
	for time.Now().Before(deadline) {
		if _, err := sse.next(); err != nil {
			t.Fatalf("stream cut: %v", err)
		}
	}
	b.blocker.release("slow")
	if _, fin := readUntilFinished(t, sse); fin.Status != "succeeded" {
		t.Fatalf("finished = %+v", fin)
	}
}

// TestClientDisconnectDoesNotStopRun: the run goes on and is recorded
// whole after its streaming (or blocking) client went away.
func TestClientDisconnectDoesNotStopRun(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ts := httptest.NewServer(b.srv)
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithCancel(context.Background())
	resp, sse := startStream(ctx, t, ts.URL, blockKey, streamBody("gone"))
	frame, err := sse.next()
	if err != nil {
		t.Fatal(err)
	}
	runID := parseEvent(t, frame).WorkflowRunID
	b.waitStarted(t)
	cancel()
	resp.Body.Close()
	b.blocker.release("gone")
	b.drain(t)
	rec := b.do("GET", "/v1/workflows/run/"+runID, blockKey, "")
	if !strings.Contains(rec.Body.String(), `"status": "succeeded"`) || !strings.Contains(rec.Body.String(), `released gone`) {
		t.Fatalf("run after disconnect = %s", rec.Body)
	}
}

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, options{deterministic: true})
	const id = "5a9619ff-8b86-4011-b42d-00cf4fc964ff"
	echo, err := os.ReadFile("../../examples/echo.yml")
	if err != nil {
		t.Fatal(err)
	}
	chain3, err := os.ReadFile("../../examples/chain3.yml")
	if err != nil {
		t.Fatal(err)
	}

	// Auth.
	rec := b.do("GET", "/admin/apps", "", "")
	checkError(t, rec.Code, rec.Header(), rec.Body.Bytes(), 401, "unauthorized", "Authorization header must be provided and start with 'Bearer'")
	rec = b.do("GET", "/admin/apps", "wrong", "")
	checkError(t, rec.Code, rec.Header(), rec.Body.Bytes(), 401, "unauthorized", "Access token is invalid")
	// App keys are not admin keys.
	rec = b.do("GET", "/admin/apps", echoKey, "")
	checkError(t, rec.Code, rec.Header(), rec.Body.Bytes(), 401, "unauthorized", "Access token is invalid")

	// Create, with a pinned workflow id.
	rec = b.do("PUT", "/admin/apps/"+id+"?workflow_id="+echoWF, adminKey, string(echo))
	if rec.Code != 201 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	want := `{"id": "` + id + `", "workflow_id": "` + echoWF + `", "name": "echo", "description": "", "mode": "workflow", "tags": [], "author_name": "", "updated_at": 1739000000}` + "\n"
	if rec.Body.String() != want {
		t.Fatalf("create body %s\nwant %s", rec.Body, want)
	}
	// Keys: generated and given.
	rec = b.do("POST", "/admin/apps/"+id+"/keys", adminKey, "")
	var gen struct{ ID, Key string }
	if err := json.Unmarshal(rec.Body.Bytes(), &gen); rec.Code != 201 || err != nil || !strings.HasPrefix(gen.Key, "app-") {
		t.Fatalf("generate key: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do("POST", "/admin/apps/"+id+"/keys", adminKey, `{"key": "app-admin-made-key"}`); rec.Code != 201 {
		t.Fatalf("add key: %d %s", rec.Code, rec.Body)
	}
	rec = b.do("POST", "/admin/apps/"+id+"/keys", adminKey, `{"key": "app-admin-made-key"}`)
	checkError(t, rec.Code, rec.Header(), rec.Body.Bytes(), 409, "conflict", "key 30a7d61d81e75a4d: conflict")
	rec = b.do("POST", "/admin/apps/"+id+"/keys", adminKey, `{"key": "short"}`)
	if rec.Code != 400 {
		t.Fatalf("bad key: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do("POST", "/v1/workflows/run", gen.Key, blockingBody("via generated key")); rec.Code != 200 {
		t.Fatalf("run with generated key: %d %s", rec.Code, rec.Body)
	}
	rec = b.do("GET", "/admin/apps/"+id+"/keys", adminKey, "")
	if rec.Code != 200 || strings.Count(rec.Body.String(), `"id"`) != 2 || strings.Contains(rec.Body.String(), "app-") {
		t.Fatalf("list keys: %d %s", rec.Code, rec.Body)
	}

	// Replace keeps the workflow id and the keys.
	rec = b.do("PUT", "/admin/apps/"+id, adminKey, string(chain3))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"workflow_id": "`+echoWF+`", "name": "chain3"`) {
		t.Fatalf("replace: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do("POST", "/v1/workflows/run", "app-admin-made-key", blockingBody("x")); !strings.Contains(rec.Body.String(), `"answer": "x-1-2-3"`) {
		t.Fatalf("run after replace: %s", rec.Body)
	}
	// Invalid DSL and ids are rejected.
	rec = b.do("PUT", "/admin/apps/"+id, adminKey, "app: {mode: workflow}\nworkflow: {graph: {nodes: [{id: a, data: {type: nope, title: A}}]}}")
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"code": "invalid_param"`) {
		t.Fatalf("bad DSL: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do("PUT", "/admin/apps/not-a-uuid", adminKey, string(echo)); rec.Code != 400 {
		t.Fatalf("bad id: %d %s", rec.Code, rec.Body)
	}

	// List and get.
	rec = b.do("GET", "/admin/apps", adminKey, "")
	if rec.Code != 200 || strings.Count(rec.Body.String(), `"workflow_id"`) != 8 { // seven test apps and the new one
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do("GET", "/admin/apps/"+id, adminKey, ""); rec.Code != 200 {
		t.Fatalf("get: %d %s", rec.Code, rec.Body)
	}

	// Remove a key, then the app.
	if rec := b.do("DELETE", "/admin/apps/"+id+"/keys/"+gen.ID, adminKey, ""); rec.Code != 204 {
		t.Fatalf("remove key: %d %s", rec.Code, rec.Body)
	}
	rec = b.do("POST", "/v1/workflows/run", gen.Key, blockingBody("x"))
	checkError(t, rec.Code, rec.Header(), rec.Body.Bytes(), 401, "unauthorized", "Access token is invalid")
	if rec := b.do("DELETE", "/admin/apps/"+id+"/keys/"+gen.ID, adminKey, ""); rec.Code != 404 {
		t.Fatalf("remove key twice: %d", rec.Code)
	}
	if rec := b.do("DELETE", "/admin/apps/"+id, adminKey, ""); rec.Code != 204 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	rec = b.do("POST", "/v1/workflows/run", "app-admin-made-key", blockingBody("x"))
	checkError(t, rec.Code, rec.Header(), rec.Body.Bytes(), 401, "unauthorized", "Access token is invalid")
	if rec := b.do("GET", "/admin/apps/"+id, adminKey, ""); rec.Code != 404 {
		t.Fatalf("get deleted: %d", rec.Code)
	}
}

func TestAdminDisabled(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *api.Config) { c.AdminKey = "" }})
	for _, key := range []string{"", "anything"} {
		rec := b.do("GET", "/admin/apps", key, "")
		checkError(t, rec.Code, rec.Header(), rec.Body.Bytes(), 404, "not_found",
			"The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.")
	}
}
