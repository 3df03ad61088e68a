// Package difysdk_test drives flowrun's real api binary with a small Go
// client that calls every workflow-app route of Dify's official Go SDK
// (github.com/langgenius/dify-go-sdk, verified against Dify 1.17.1:
// internal/usecase/app.go and runs.go), with the SDK's paths, query
// parameters and bodies, and checks Dify 1.17's answers. The SDK itself is
// not reachable from the build machines, so the calls are written here.
//
// Routes owned by other work (file upload, download and preview; the
// human-input forms and /workflow/{id}/events) are not checked.
package difysdk_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The example apps (examples/apps.yaml).
const (
	chain3Key = "app-flowrun-chain3-local-only"
	chain3WF  = "72ae29e8-3828-4026-91af-b1337ee0e007"
	chain3App = "433c5666-65ca-4d27-b7bd-944f92f47d0e"
	user      = "go-sdk-user"
)

// serve builds cmd/api, starts it on a free port with the example apps and
// returns its service-API base URL. The process is killed at cleanup.
func serve(t *testing.T, ctx context.Context) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "api")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/api").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "ADDR=127.0.0.1:0", "APPS_DIR=../../examples", "WORKFLOW_REPO_MODE=memory", "LOG_FORMAT=text")
	logs, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`msg=listening addr=(\S+)`)
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatal("api exited before listening")
		}
		return "http://" + a + "/v1"
	case <-ctx.Done():
		t.Fatal("api did not start")
		return ""
	}
}

// client is the SDK's transport, cut down: a bearer key, JSON in and out,
// and Dify's error body with the X-Version and X-Env headers, which the
// SDK copies into its APIError.
type client struct {
	base, key string
}

// answer is one response.
type answer struct {
	status  int
	header  http.Header
	body    []byte
	decoded map[string]any
}

func (c *client) call(t *testing.T, method, path string, body any) *answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "dify-go-sdk/(devel) flowrun-e2e")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := &answer{status: resp.StatusCode, header: resp.Header}
	if a.body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if v := a.header.Get("X-Version"); v != "1.17.1" || a.header.Get("X-Env") != "PRODUCTION" {
		t.Errorf("%s %s: X-Version %q X-Env %q", method, path, v, a.header.Get("X-Env"))
	}
	if strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(a.body, &a.decoded); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, a.body)
		}
	}
	return a
}

// ok fails the test unless the answer is a 200.
func (a *answer) ok(t *testing.T, what string) map[string]any {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("%s: %d %s", what, a.status, a.body)
	}
	return a.decoded
}

// events reads a streamed run's frames (data: {json}).
func (a *answer) events(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for frame := range strings.SplitSeq(string(a.body), "\n\n") {
		data, ok := strings.CutPrefix(frame, "data: ")
		if !ok {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("frame %q: %v", frame, err)
		}
		out = append(out, ev)
	}
	return out
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

func TestOfficialGoSDKRoutes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	base := serve(t, ctx)
	app := &client{base: base, key: chain3Key}

	// ServerInfo and dify.Probe: the index, without a key.
	idx := (&client{base: base}).call(t, "GET", "/", nil).ok(t, "index")
	if idx["server_version"] != "1.17.1" || idx["api_version"] != "v1" || idx["welcome"] != "Dify OpenAPI" {
		t.Errorf("index %v", idx)
	}

	// Info, Parameters (the SDK names a user), Site, Meta.
	if info := app.call(t, "GET", "/info", nil).ok(t, "info"); info["mode"] != "workflow" || info["name"] != "chain3" {
		t.Errorf("info %v", info)
	}
	params := app.call(t, "GET", "/parameters?user="+user, nil).ok(t, "parameters")
	form, _ := params["user_input_form"].([]any)
	if len(form) != 1 || obj(obj(form[0])["text-input"])["variable"] != "query" || obj(params["system_parameters"]) == nil {
		t.Errorf("parameters %v", params)
	}
	site := app.call(t, "GET", "/site", nil).ok(t, "site")
	for _, k := range []string{"title", "chat_color_theme", "chat_color_theme_inverted", "icon_type", "icon", "icon_background", "icon_url",
		"description", "copyright", "privacy_policy", "input_placeholder", "custom_disclaimer", "default_language", "show_workflow_steps", "use_icon_as_answer_icon"} {
		if _, ok := site[k]; !ok {
			t.Errorf("site has no %s: %v", k, site)
		}
	}
	if site["title"] != "chain3" || site["show_workflow_steps"] != true {
		t.Errorf("site %v", site)
	}
	if meta := app.call(t, "GET", "/meta?user="+user, nil).ok(t, "meta"); meta["tool_icons"] == nil {
		t.Errorf("meta %v", meta)
	}

	// Runs.Create: blocking; the run is under data.
	blocking := app.call(t, "POST", "/workflows/run", map[string]any{"inputs": map[string]any{"query": "hello"}, "response_mode": "blocking", "user": user}).ok(t, "blocking run")
	data := obj(blocking["data"])
	runID, taskID := data["id"], blocking["task_id"]
	if data["status"] != "succeeded" || obj(data["outputs"])["answer"] != "hello-1-2-3" || runID != blocking["workflow_run_id"] || taskID == "" {
		t.Fatalf("blocking run %v", blocking)
	}

	// Runs.Create with RunParams.WorkflowID: the pinned route.
	pinned := app.call(t, "POST", "/workflows/"+chain3WF+"/run", map[string]any{"inputs": map[string]any{"query": "pin"}, "response_mode": "blocking", "user": user}).ok(t, "run by workflow id")
	if obj(obj(pinned["data"])["outputs"])["answer"] != "pin-1-2-3" {
		t.Errorf("pinned run %v", pinned)
	}

	// Runs.Retrieve: Dify 1.17 sends outputs as an object, which is what
	// the SDK reads (data.Obj("outputs")); inputs stays the stored JSON.
	back := app.call(t, "GET", fmt.Sprintf("/workflows/run/%s", runID), nil).ok(t, "retrieve")
	if back["id"] != runID || back["status"] != "succeeded" || obj(back["outputs"])["answer"] != "hello-1-2-3" {
		t.Errorf("retrieve %v", back)
	}
	if in, _ := back["inputs"].(string); !strings.Contains(in, `"query": "hello"`) {
		t.Errorf("retrieve inputs %#v", back["inputs"])
	}
	if a := app.call(t, "GET", "/workflows/run/00000000-0000-7000-8000-000000000000", nil); a.status != 404 || a.decoded["code"] != "not_found" {
		t.Errorf("unknown run: %d %s", a.status, a.body)
	}

	// Runs.Stream: SSE to workflow_finished, whose created_by.id the
	// SDK's EndUser resolves.
	stream := app.call(t, "POST", "/workflows/run", map[string]any{"inputs": map[string]any{"query": "s"}, "response_mode": "streaming", "user": user})
	evs := stream.events(t)
	if stream.status != 200 || len(evs) < 2 || evs[0]["event"] != "workflow_started" || evs[len(evs)-1]["event"] != "workflow_finished" {
		t.Fatalf("stream: %d %s", stream.status, stream.body)
	}
	finished := obj(evs[len(evs)-1]["data"])
	creator := obj(finished["created_by"])
	if obj(finished["outputs"])["answer"] != "s-1-2-3" || creator["user"] != user {
		t.Fatalf("workflow_finished %v", finished)
	}

	// EndUser.
	eu := app.call(t, "GET", fmt.Sprintf("/end-users/%s", creator["id"]), nil).ok(t, "end user")
	if eu["id"] != creator["id"] || eu["session_id"] != user || eu["app_id"] != chain3App || eu["type"] != "service_api" || eu["is_anonymous"] != false {
		t.Errorf("end user %v", eu)
	}
	if a := app.call(t, "GET", "/end-users/00000000-0000-4000-8000-000000000000", nil); a.status != 404 || a.decoded["code"] != "end_user_not_found" {
		t.Errorf("unknown end user: %d %s", a.status, a.body)
	}

	// Runs.Stop: a finished task still answers success.
	if stop := app.call(t, "POST", fmt.Sprintf("/workflows/tasks/%s/stop", taskID), map[string]any{"user": user}).ok(t, "stop"); stop["result"] != "success" {
		t.Errorf("stop %v", stop)
	}

	// Runs.Logs: page, limit, status (the SDK always sends them).
	logs := app.call(t, "GET", "/workflows/logs?page=1&limit=1&status=succeeded&keyword=", nil).ok(t, "logs")
	items, _ := logs["data"].([]any)
	if total, _ := logs["total"].(float64); len(items) != 1 || total < 3 || logs["has_more"] != true || obj(obj(items[0])["workflow_run"])["status"] != "succeeded" {
		t.Errorf("logs %v", logs)
	}

	// Feedbacks: every rating of the app (none for a workflow app).
	if fb := app.call(t, "GET", "/app/feedbacks?page=1&limit=20", nil).ok(t, "feedbacks"); fb["data"] == nil {
		t.Errorf("feedbacks %v", fb)
	}

	// Errors carry Dify's body and the version headers (checked in call).
	bad := (&client{base: base, key: "app-not-a-real-key"}).call(t, "GET", "/info", nil)
	if bad.status != 401 || bad.decoded["code"] != "unauthorized" || bad.decoded["message"] != "Access token is invalid" {
		t.Errorf("bad key: %d %s", bad.status, bad.body)
	}
}
