package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/api"
)

// dslWith builds a small workflow document around the given nodes and
// edges, for the bad-DSL rows below.
func dslWith(nodes, edges string) string {
	return "app: {mode: workflow, name: bad}\nworkflow:\n  graph:\n    nodes:\n" + nodes + "    edges:\n" + edges
}

const (
	okStart = "    - {id: s, data: {type: start, title: S, variables: [{variable: q, type: text-input, required: true}]}}\n"
	okEnd   = "    - {id: e, data: {type: end, title: E, outputs: [{variable: o, value_selector: [s, q]}]}}\n"
	okEdge  = "    - {id: x, source: s, target: e}\n"
)

// TestBadInput sends malformed requests and DSL documents: each gets a
// precise 4xx with Dify's error body — never a 5xx, a panic or an empty
// answer.
func TestBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *api.Config) { c.MaxBodyBytes = 64 << 10 }})
	huge := `{"inputs": {"query": "` + strings.Repeat("x", 70<<10) + `"}, "user": "u"}`
	deep := `{"inputs": {"query": "x", "n": ` + strings.Repeat(`[`, 20000) + strings.Repeat(`]`, 20000) + `}, "user": "u"}`
	run := "/v1/workflows/run"
	type row struct {
		name, method, path, key, body string
		hdr                           []string
		status                        int
		code                          string
		message                       string // substring of the message
	}
	rows := []row{
		// Authentication.
		{"no auth header", "POST", run, "", `{"inputs": {}, "user": "u"}`, nil, 401, "unauthorized", "Authorization header must be provided and start with 'Bearer'"},
		{"basic scheme", "POST", run, "", `{}`, []string{"Authorization", "Basic abc"}, 401, "unauthorized", "Authorization scheme must be 'Bearer'"},
		{"bearer without space", "POST", run, "", `{}`, []string{"Authorization", "Bearer"}, 401, "unauthorized", "must be provided"},
		{"unknown key", "POST", run, "app-nope", `{}`, nil, 401, "unauthorized", "Access token is invalid"},
		{"empty bearer token", "POST", run, "", `{}`, []string{"Authorization", "Bearer "}, 401, "unauthorized", "Authorization header must be provided"},
		{"admin key on service api", "POST", run, adminKey, `{}`, nil, 401, "unauthorized", "Access token is invalid"},
		{"service key on admin api", "GET", "/admin/apps", echoKey, "", nil, 401, "unauthorized", ""},
		// Bodies.
		{"empty body", "POST", run, echoKey, ``, nil, 400, "invalid_param", "Invalid JSON payload received or JSON payload is empty."},
		{"not json", "POST", run, echoKey, `{inputs:`, nil, 400, "invalid_param", "Invalid JSON payload"},
		{"json null", "POST", run, echoKey, `null`, nil, 400, "invalid_param", "Invalid JSON payload"},
		{"json array", "POST", run, echoKey, `[]`, nil, 400, "invalid_param", "Invalid JSON payload"},
		{"json number", "POST", run, echoKey, `42`, nil, 400, "invalid_param", "Invalid JSON payload"},
		{"json string", "POST", run, echoKey, `"run"`, nil, 400, "invalid_param", "Invalid JSON payload"},
		{"trailing garbage", "POST", run, echoKey, `{"inputs": {}, "user": "u"} x`, nil, 400, "invalid_param", "Invalid JSON payload"},
		{"two objects", "POST", run, echoKey, `{}{}`, nil, 400, "invalid_param", "Invalid JSON payload"},
		{"invalid utf-8", "POST", run, echoKey, "{\"inputs\": {\"query\": \"\xff\xfe\"}, \"user\": \"u\"}", nil, 400, "invalid_param", ""},
		{"body over the limit", "POST", run, echoKey, huge, nil, 413, "request_entity_too_large", "exceeds the capacity limit"},
		{"absurdly deep nesting", "POST", run, echoKey, deep, nil, 400, "invalid_param", ""},
		{"missing user", "POST", run, echoKey, `{"inputs": {"query": "x"}}`, nil, 400, "invalid_param", "Arg user must be provided."},
		{"null user", "POST", run, echoKey, `{"inputs": {"query": "x"}, "user": null}`, nil, 400, "invalid_param", "Arg user must be provided."},
		{"empty user", "POST", run, echoKey, `{"inputs": {"query": "x"}, "user": ""}`, nil, 400, "invalid_param", "Arg user must be provided."},
		{"user over 1024 characters", "POST", run, echoKey, `{"inputs": {"query": "x"}, "user": "` + strings.Repeat("é", api.MaxUserLength+1) + `"}`, nil, 400, "invalid_param", "Arg user must be at most 1024 characters."},
		{"user list over 1024 characters", "POST", run, echoKey, `{"inputs": {"query": "x"}, "user": ["` + strings.Repeat("u", api.MaxUserLength) + `"]}`, nil, 400, "invalid_param", "Arg user must be at most 1024 characters."},
		{"missing inputs", "POST", run, echoKey, `{"user": "u"}`, nil, 400, "invalid_param", "inputs"},
		{"inputs is a string", "POST", run, echoKey, `{"inputs": "x", "user": "u"}`, nil, 400, "invalid_param", "inputs"},
		{"inputs is a list", "POST", run, echoKey, `{"inputs": ["x"], "user": "u"}`, nil, 400, "invalid_param", "inputs"},
		{"inputs is null", "POST", run, echoKey, `{"inputs": null, "user": "u"}`, nil, 400, "invalid_param", "inputs"},
		{"unknown response_mode", "POST", run, echoKey, `{"inputs": {"query": "x"}, "user": "u", "response_mode": "fast"}`, nil, 400, "invalid_param", "response_mode"},
		{"response_mode not a string", "POST", run, echoKey, `{"inputs": {"query": "x"}, "user": "u", "response_mode": 1}`, nil, 400, "invalid_param", "response_mode"},
		{"files not a list", "POST", run, echoKey, `{"inputs": {"query": "x"}, "user": "u", "files": "a.png"}`, nil, 400, "invalid_param", "files"},
		// Inputs, validated as Dify's start node does.
		{"required input missing", "POST", run, echoKey, `{"inputs": {}, "user": "u"}`, nil, 400, "invalid_param", "query is required in input form"},
		{"required input null", "POST", run, echoKey, `{"inputs": {"query": null}, "user": "u"}`, nil, 400, "invalid_param", "query is required in input form"},
		{"text input is a number", "POST", run, echoKey, `{"inputs": {"query": 5}, "user": "u"}`, nil, 400, "invalid_param", "(type 'text-input') query in input form must be a string"},
		{"text input is an object", "POST", run, echoKey, `{"inputs": {"query": {"a": 1}}, "user": "u"}`, nil, 400, "invalid_param", "must be a string"},
		{"text input too long", "POST", run, echoKey, `{"inputs": {"query": "` + strings.Repeat("é", 257) + `"}, "user": "u"}`, nil, 400, "invalid_param", "query in input form must be less than 256 characters"},
		// Workflow ids.
		{"workflow id not a uuid", "POST", "/v1/workflows/not-a-uuid/run", echoKey, `{"inputs": {"query": "x"}, "user": "u"}`, nil, 400, "bad_request", "Invalid workflow_id format: 'not-a-uuid'. "},
		{"unknown workflow id", "POST", "/v1/workflows/00000000-0000-4000-8000-000000000000/run", echoKey, `{"inputs": {"query": "x"}, "user": "u"}`, nil, 404, "not_found", "Workflow not found with id: 00000000-0000-4000-8000-000000000000"},
		{"another app's workflow id", "POST", "/v1/workflows/" + chain3WF + "/run", echoKey, `{"inputs": {"query": "x"}, "user": "u"}`, nil, 404, "not_found", "Workflow not found"},
		// Stop and reads.
		{"stop without user", "POST", "/v1/workflows/tasks/t1/stop", echoKey, `{}`, nil, 400, "invalid_param", "Arg user must be provided."},
		{"stop with a user over 1024 characters", "POST", "/v1/workflows/tasks/t1/stop", echoKey, `{"user": "` + strings.Repeat("u", api.MaxUserLength+1) + `"}`, nil, 400, "invalid_param", "at most 1024 characters"},
		{"stop with bad json", "POST", "/v1/workflows/tasks/t1/stop", echoKey, `{`, nil, 400, "invalid_param", "Invalid JSON payload"},
		{"get run not a uuid", "GET", "/v1/workflows/run/../../etc/passwd", echoKey, "", nil, 404, "not_found", ""},
		{"get unknown run", "GET", "/v1/workflows/run/00000000-0000-4000-8000-000000000000", echoKey, "", nil, 404, "not_found", "Workflow run not found."},
		{"logs bad page", "GET", "/v1/workflows/logs?page=0", echoKey, "", nil, 400, "invalid_param", "page"},
		{"logs bad limit", "GET", "/v1/workflows/logs?limit=1000", echoKey, "", nil, 400, "invalid_param", "limit"},
		{"logs bad date", "GET", "/v1/workflows/logs?created_at__after=31/12/2025", echoKey, "", nil, 400, "invalid_param", "isoformat"},
		{"logs bad status", "GET", "/v1/workflows/logs?status=exploded", echoKey, "", nil, 400, "invalid_param", "status"},
		{"wrong method", "GET", run, echoKey, "", nil, 405, "method_not_allowed", ""},
		{"unknown route", "GET", "/v1/nothing-here", echoKey, "", nil, 404, "not_found", ""},
		// DSL documents imported through the admin API.
		{"dsl: not yaml", "PUT", "/admin/apps/" + newAppID(1), adminKey, "{{{: [", nil, 400, "invalid_param", "invalid workflow DSL"},
		{"dsl: empty", "PUT", "/admin/apps/" + newAppID(2), adminKey, "", nil, 400, "invalid_param", ""},
		{"dsl: scalar", "PUT", "/admin/apps/" + newAppID(3), adminKey, "42", nil, 400, "invalid_param", "document must be a mapping"},
		{"dsl: chat app", "PUT", "/admin/apps/" + newAppID(4), adminKey, "app: {mode: agent-chat}\nworkflow: {graph: {nodes: [], edges: []}}", nil, 400, "invalid_param", `app mode "agent-chat" is not a workflow`},
		{"dsl: no start", "PUT", "/admin/apps/" + newAppID(5), adminKey, dslWith(okEnd, ""), nil, 400, "invalid_param", "workflow has no start node"},
		{"dsl: two starts", "PUT", "/admin/apps/" + newAppID(6), adminKey, dslWith(okStart+strings.Replace(okStart, "id: s,", "id: s2,", 1)+okEnd, okEdge), nil, 400, "invalid_param", "exactly one is allowed"},
		{"dsl: cycle", "PUT", "/admin/apps/" + newAppID(7), adminKey, dslWith(okStart+
			"    - {id: a, data: {type: template-transform, title: A, template: x, variables: []}}\n"+
			"    - {id: b, data: {type: template-transform, title: B, template: x, variables: []}}\n",
			"    - {id: x1, source: s, target: a}\n    - {id: x2, source: a, target: b}\n    - {id: x3, source: b, target: a}\n"), nil, 400, "invalid_param", "cycle in the workflow through nodes a, b"},
		{"dsl: dangling edge", "PUT", "/admin/apps/" + newAppID(8), adminKey, dslWith(okStart+okEnd, okEdge+"    - {id: y, source: e, target: ghost}\n"), nil, 400, "invalid_param", `target node "ghost" does not exist`},
		{"dsl: dangling reference", "PUT", "/admin/apps/" + newAppID(9), adminKey, dslWith(okStart+
			"    - {id: e, data: {type: end, title: E, outputs: [{variable: o, value_selector: [nowhere, q]}]}}\n", okEdge), nil, 400, "invalid_param", `references unknown node "nowhere"`},
		{"dsl: unsupported node type", "PUT", "/admin/apps/" + newAppID(10), adminKey, dslWith(okStart+
			"    - {id: k, data: {type: knowledge-retrieval, title: K}}\n"+okEnd, okEdge+"    - {id: y, source: s, target: k}\n"), nil, 400, "invalid_param", `node type "knowledge-retrieval" is not supported`},
		{"dsl: bad jinja", "PUT", "/admin/apps/" + newAppID(11), adminKey, dslWith(okStart+
			"    - {id: t, data: {type: template-transform, title: T, template: '{% for %}', variables: []}}\n"+okEnd,
			"    - {id: x1, source: s, target: t}\n    - {id: x2, source: t, target: e}\n"), nil, 400, "invalid_param", "invalid Jinja2 template"},
		{"dsl: selector not a list", "PUT", "/admin/apps/" + newAppID(12), adminKey, dslWith(okStart+
			"    - {id: e, data: {type: end, title: E, outputs: [{variable: o, value_selector: s.q}]}}\n", okEdge), nil, 400, "invalid_param", "selector must be a list"},
		{"dsl: unknown operator", "PUT", "/admin/apps/" + newAppID(14), adminKey, dslWith(okStart+
			"    - {id: c, data: {type: if-else, title: C, cases: [{case_id: 'true', logical_operator: and, conditions: [{variable_selector: [s, q], comparison_operator: roughly, value: x}]}]}}\n"+okEnd,
			"    - {id: x1, source: s, target: c}\n    - {id: x2, source: c, target: e, sourceHandle: 'true'}\n"), nil, 400, "invalid_param", `unknown comparison_operator "roughly"`},
		{"dsl: loop count over the cap", "PUT", "/admin/apps/" + newAppID(15), adminKey, dslWith(okStart+
			"    - {id: l, data: {type: loop, title: L, loop_count: 100000, break_conditions: [], loop_variables: [], start_node_id: ls}}\n"+
			"    - {id: ls, parentId: l, type: custom-loop-start, data: {type: loop-start, title: ''}}\n"+okEnd,
			"    - {id: x1, source: s, target: l}\n    - {id: x2, source: l, target: e}\n"), nil, 400, "invalid_param", "loop_count"},
		{"dsl: bad start variable type", "PUT", "/admin/apps/" + newAppID(16), adminKey, dslWith(
			"    - {id: s, data: {type: start, title: S, variables: [{variable: q, type: colour}]}}\n"+okEnd, okEdge), nil, 400, "invalid_param", `unknown type "colour"`},
		{"dsl: duplicate node ids", "PUT", "/admin/apps/" + newAppID(17), adminKey, dslWith(okStart+okEnd+okEnd, okEdge), nil, 400, "invalid_param", "duplicate node id"},
		{"dsl: non-uuid app id", "PUT", "/admin/apps/my-app", adminKey, dslWith(okStart+okEnd, okEdge), nil, 400, "invalid_param", ""},
		{"admin: key for unknown app", "POST", "/admin/apps/" + newAppID(18) + "/keys", adminKey, `{}`, nil, 404, "not_found", ""},
		{"admin: delete unknown app", "DELETE", "/admin/apps/" + newAppID(19), adminKey, "", nil, 404, "not_found", ""},
	}
	if len(rows) < 50 {
		t.Fatalf("only %d rows: the table must cover at least 50 malformed inputs", len(rows))
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			rec := b.do(r.method, r.path, r.key, r.body, r.hdr...)
			if rec.Code != r.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, r.status, rec.Body)
			}
			var body struct {
				Code    string `json:"code"`
				Message string `json:"message"`
				Status  int    `json:"status"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body is not a Dify error: %v: %q", err, rec.Body)
			}
			if body.Code != r.code || body.Status != r.status || body.Message == "" || !strings.Contains(body.Message, r.message) {
				t.Fatalf("got %+v, want code %s status %d message containing %q", body, r.code, r.status, r.message)
			}
		})
	}
	if strings.Contains(b.logs.String(), "panic") {
		t.Fatalf("a request panicked:\n%s", b.logs)
	}
	// Nothing above left a run slot taken or an app half-created.
	if rec := b.do("POST", run, echoKey, `{"inputs": {"query": "ok"}, "user": "u"}`); rec.Code != http.StatusOK {
		t.Fatalf("service unusable after bad input: %d %s", rec.Code, rec.Body)
	}
}

func newAppID(n int) string { return fmt.Sprintf("9e1d4c7a-0000-4000-8000-%012d", n) }

// TestUserAtTheLimit runs with a `user` of exactly MaxUserLength
// characters (multi-byte ones): it is accepted and reported back whole.
func TestUserAtTheLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	user := strings.Repeat("é", api.MaxUserLength)
	rec := b.do("POST", "/v1/workflows/run", echoKey, fmt.Sprintf(`{"inputs": {"query": "x"}, "user": %q, "response_mode": "streaming"}`, user))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), `"user":"`+user+`"`) {
		t.Fatalf("workflow_finished lacks the whole user:\n%.300s", rec.Body)
	}
}

// TestErrorMessagesQuoteABoundedPrefix: messages that quote what the
// client sent quote at most its first run.MaxQuoted characters.
func TestErrorMessagesQuoteABoundedPrefix(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	long := strings.Repeat("w", 5000)
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1/workflows/" + long + "/run", `{"inputs": {"query": "x"}, "user": "u"}`},
		{"GET", "/v1/workflows/logs?status=" + long, ""},
		{"GET", "/v1/workflows/logs?created_at__after=" + long, ""},
		{"PUT", "/admin/apps/" + long, "app: {mode: workflow}"},
	} {
		key := echoKey
		if strings.HasPrefix(r.path, "/admin") {
			key = adminKey
		}
		rec := b.do(r.method, r.path, key, r.body)
		var body errBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code/100 != 4 {
			t.Fatalf("%s %.40s: %d %.200s", r.method, r.path, rec.Code, rec.Body)
		}
		if len(body.Message) > 500 || !strings.Contains(body.Message, "(5000 characters)") {
			t.Fatalf("%s %.40s: message of %d bytes: %.300q", r.method, r.path, len(body.Message), body.Message)
		}
	}
}
