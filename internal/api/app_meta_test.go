package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/app/apptest"
)

// toolsDSL is a workflow whose graph has tool nodes of each provider
// type; the tools never run.
const toolsDSL = `app:
  mode: workflow
  name: tools
  description: calls tools
  icon: "🧰"
  icon_background: "#E4FBCC"
  use_icon_as_answer_icon: true
kind: app
version: 0.3.1
workflow:
  graph:
    nodes:
    - id: start
      data: {type: start, title: Start, variables: []}
    - id: t1
      data: {type: tool, title: T1, provider_type: builtin, provider_id: time, tool_name: current_time, tool_parameters: {}}
    - id: t2
      data: {type: tool, title: T2, provider_type: api, provider_id: 3f0c, tool_name: getWeather, tool_parameters: {}}
    - id: t3
      data: {type: tool, title: T3, provider_type: plugin, provider_id: x/y/z, tool_name: skipped, tool_parameters: {}}
    - id: t4
      data: {type: tool, title: T4, provider_type: builtin, provider_id: json_process, tool_name: current_time, tool_parameters: {}}
    - id: end
      data: {type: end, title: End, outputs: []}
    edges:
    - {source: start, target: t1}
    - {source: t1, target: t2}
    - {source: t2, target: t3}
    - {source: t3, target: t4}
    - {source: t4, target: end}
`

const (
	toolsApp = "5b0f7d8e-6c1a-4f4e-9d55-2f1e0c7a9b31"
	toolsWF  = "6c1e8f9a-7d2b-4a5f-8e66-3a2f1d8b0c42"
	toolsKey = "app-test-tools-key"
)

func TestSiteAndMeta(t *testing.T) {
	t.Parallel()
	b := setup(t, options{apps: []apptest.App{{ID: toolsApp, WF: toolsWF, Key: toolsKey, DSL: toolsDSL}}})
	tests := []struct{ name, path, key, body string }{
		{"site of an app without icon", "/v1/site", chain3Key,
			`{"title": "chain3", "chat_color_theme": null, "chat_color_theme_inverted": false, "icon_type": "emoji", "icon": "\ud83e\udd16", ` +
				`"icon_background": "#FFEAD5", "icon_url": null, "description": "", "copyright": null, "privacy_policy": null, "input_placeholder": null, ` +
				`"custom_disclaimer": "", "default_language": "en-US", "show_workflow_steps": true, "use_icon_as_answer_icon": false}` + "\n"},
		{"site with the DSL's icon", "/site", toolsKey,
			`{"title": "tools", "chat_color_theme": null, "chat_color_theme_inverted": false, "icon_type": "emoji", "icon": "\ud83e\uddf0", ` +
				`"icon_background": "#E4FBCC", "icon_url": null, "description": "calls tools", "copyright": null, "privacy_policy": null, "input_placeholder": null, ` +
				`"custom_disclaimer": "", "default_language": "en-US", "show_workflow_steps": true, "use_icon_as_answer_icon": true}` + "\n"},
		{"meta without tools", "/v1/meta?user=abc", chain3Key, `{"tool_icons": {}}` + "\n"},
		{"meta of tool nodes", "/v1/meta", toolsKey,
			`{"tool_icons": {"current_time": "/console/api/workspaces/current/tool-provider/builtin/json_process/icon", ` +
				`"getWeather": {"background": "#252525", "content": "\ud83d\ude01"}}}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := b.do("GET", tt.path, tt.key, "")
			if rec.Code != http.StatusOK || rec.Body.String() != tt.body {
				t.Fatalf("got %d %s\nwant %s", rec.Code, rec.Body, tt.body)
			}
		})
	}
	for _, path := range []string{"/v1/site", "/v1/meta", "/v1/end-users/" + chain3App} {
		if rec := b.do("GET", path, "app-unknown", ""); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s with a bad key: %d", path, rec.Code)
		}
	}
}

// createdBy runs chain3 for user and returns created_by.id of its
// workflow_finished event.
func createdBy(t *testing.T, b *bundle, key, user string) string {
	t.Helper()
	body := fmt.Sprintf(`{"inputs": {"query": "x"}, "user": %q, "response_mode": "streaming"}`, user)
	rec := b.do("POST", "/v1/workflows/run", key, body)
	for frame := range strings.SplitSeq(rec.Body.String(), "\n\n") {
		var ev struct {
			Event string `json:"event"`
			Data  struct {
				CreatedBy struct{ ID, User string } `json:"created_by"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(strings.TrimPrefix(frame, "data: ")), &ev) == nil && ev.Event == "workflow_finished" {
			return ev.Data.CreatedBy.ID
		}
	}
	t.Fatalf("no workflow_finished in %s", rec.Body)
	return ""
}

func TestEndUser(t *testing.T) {
	t.Parallel()
	b := setup(t, options{deterministic: true})
	id := createdBy(t, b, chain3Key, "abc-123")
	if again := createdBy(t, b, chain3Key, "abc-123"); again != id {
		t.Fatalf("the same user got ids %s and %s", id, again)
	}
	want := `{"id": "` + id + `", "tenant_id": "", "app_id": "` + chain3App + `", "type": "service_api", "external_user_id": "abc-123", ` +
		`"name": null, "is_anonymous": false, "session_id": "abc-123", "created_at": "2025-02-08T07:33:20", "updated_at": "2025-02-08T07:33:20"}` + "\n"
	for _, path := range []string{"/v1/end-users/" + id, "/end-users/" + strings.ToUpper(id)} {
		if rec := b.do("GET", path, chain3Key, ""); rec.Code != http.StatusOK || rec.Body.String() != want {
			t.Fatalf("GET %s: %d %s\nwant %s", path, rec.Code, rec.Body, want)
		}
	}
	notFound := `{"code": "end_user_not_found", "message": "End user not found.", "status": 404}` + "\n"
	route := `{"code": "not_found", "message": "` + api.ErrRouteNotFound.Error() + `", "status": 404}` + "\n"
	tests := []struct{ name, path, key, body string }{
		{"another app's key", "/v1/end-users/" + id, echoKey, notFound},
		{"an id never handed out", "/v1/end-users/00000000-0000-4000-8000-000000000000", chain3Key, notFound},
		{"not a UUID", "/v1/end-users/abc-123", chain3Key, route},
		{"a forged, giant id", "/v1/end-users/" + strings.Repeat("a", 10000), chain3Key, route},
		{"braced UUID", "/v1/end-users/{" + id + "}", chain3Key, route},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if rec := b.do("GET", tt.path, tt.key, ""); rec.Code != http.StatusNotFound || rec.Body.String() != tt.body {
				t.Fatalf("got %d %s\nwant %s", rec.Code, rec.Body, tt.body)
			}
		})
	}
}

func TestEndUsersAreBounded(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *api.Config) { c.EndUsers = 2 }})
	first := createdBy(t, b, chain3Key, "u1")
	createdBy(t, b, chain3Key, "u2")
	createdBy(t, b, chain3Key, "u1") // known: does not move u1 or evict anyone
	third := createdBy(t, b, chain3Key, "u3")
	if rec := b.do("GET", "/v1/end-users/"+first, chain3Key, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("the oldest user should be forgotten: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do("GET", "/v1/end-users/"+third, chain3Key, ""); rec.Code != http.StatusOK {
		t.Fatalf("the newest user: %d %s", rec.Code, rec.Body)
	}
}
