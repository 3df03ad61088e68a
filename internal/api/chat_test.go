package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/run"
)

// chatTurn sends one blocking turn and returns the decoded body.
func chatTurn(t *testing.T, b *bundle, user, conv, query string) map[string]any {
	t.Helper()
	body := fmt.Sprintf(`{"query": %q, "inputs": {}, "user": %q, "conversation_id": %q}`, query, user, conv)
	rec := b.do(http.MethodPost, "/v1/chat-messages", chatKey, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("chat turn: %d %s", rec.Code, rec.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func getJSON(t *testing.T, b *bundle, path string, want int) map[string]any {
	t.Helper()
	rec := b.do(http.MethodGet, path, chatKey, "")
	if rec.Code != want {
		t.Fatalf("GET %s: %d %s, want %d", path, rec.Code, rec.Body, want)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestChatBlockingTurns(t *testing.T) {
	t.Parallel()
	b := setup(t, options{deterministic: true})
	rec := b.do(http.MethodPost, "/v1/chat-messages", chatKey, `{"query": "hello", "inputs": {}, "user": "ann"}`)
	want := `{"event": "message", "task_id": "aaaaaaaa-0000-4000-8000-000000000005", "id": "aaaaaaaa-0000-4000-8000-000000000002", "message_id": "aaaaaaaa-0000-4000-8000-000000000002", "conversation_id": "aaaaaaaa-0000-4000-8000-000000000003", "mode": "advanced-chat", "answer": "Turn 1: you said hello; before that: ", "metadata": {"annotation_reply": null, "retriever_resources": [], "usage": {"prompt_tokens": 0, "prompt_unit_price": 0.0, "prompt_price_unit": 0.0, "prompt_price": 0.0, "completion_tokens": 0, "completion_unit_price": 0.0, "completion_price_unit": 0.0, "completion_price": 0.0, "total_tokens": 0, "total_price": 0.0, "currency": "USD", "latency": 0.0, "time_to_first_token": 0.0, "time_to_generate": 0.0}}, "created_at": 1739000000}`
	if got := rec.Body.String(); rec.Code != 200 || got != want {
		t.Fatalf("blocking body: %d\n got: %s\nwant: %s", rec.Code, got, want)
	}
	var first map[string]any
	json.Unmarshal(rec.Body.Bytes(), &first)
	conv := first["conversation_id"].(string)
	if got := first["answer"]; got != "Turn 1: you said hello; before that: " {
		t.Fatalf("first answer %q", got)
	}
	second := chatTurn(t, b, "ann", conv, "again")
	if got := second["answer"]; got != "Turn 2: you said again; before that: hello" {
		t.Fatalf("second answer %q", got)
	}
	if second["conversation_id"] != conv {
		t.Fatalf("second turn in conversation %v, want %s", second["conversation_id"], conv)
	}
	// The blocking body's keys, in Dify's order.
	body := b.do(http.MethodPost, "/v1/chat-messages", chatKey, fmt.Sprintf(`{"query": "x", "inputs": {}, "user": "ann", "conversation_id": %q}`, conv)).Body.String()
	var keys []string
	dec := json.NewDecoder(strings.NewReader(body))
	dec.Token()
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		dec.Decode(&skip)
	}
	if got := strings.Join(keys, ","); got != "event,task_id,id,message_id,conversation_id,mode,answer,metadata,created_at" {
		t.Fatalf("blocking keys %s", got)
	}
}

func TestChatConversationIsTheUsers(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	conv := chatTurn(t, b, "ann", "", "hello")["conversation_id"].(string)
	for _, tc := range []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"another user", fmt.Sprintf(`{"query": "x", "inputs": {}, "user": "bob", "conversation_id": %q}`, conv), 404, "not_found", "Conversation Not Exists."},
		{"unknown", `{"query": "x", "inputs": {}, "user": "ann", "conversation_id": "0e9c2b9a-7a0c-4b8e-9a35-5a1c3f1e2d4b"}`, 404, "not_found", "Conversation Not Exists."},
		{"not a uuid", `{"query": "x", "inputs": {}, "user": "ann", "conversation_id": "nope"}`, 400, "invalid_param", "1 validation error for ChatRequestPayload\nconversation_id\n  Value error, conversation_id must be a valid UUID"},
		{"no query", `{"inputs": {}, "user": "ann"}`, 400, "invalid_param", "1 validation error for ChatRequestPayload\nquery\n  Field required"},
		{"empty query", `{"query": "", "inputs": {}, "user": "ann"}`, 400, "invalid_param", "query is required"},
		{"no user", `{"query": "x", "inputs": {}}`, 400, "invalid_param", "Arg user must be provided."},
		{"no inputs", `{"query": "x", "user": "ann"}`, 400, "invalid_param", "1 validation error for ChatRequestPayload\ninputs\n  Field required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := b.do(http.MethodPost, "/v1/chat-messages", chatKey, tc.body)
			var e errBody
			json.Unmarshal(rec.Body.Bytes(), &e)
			if rec.Code != tc.status || e.Code != tc.code || e.Message != tc.msg {
				t.Fatalf("%d %s, want %d %s %q", rec.Code, rec.Body, tc.status, tc.code, tc.msg)
			}
		})
	}
}

func TestChatRoutesCheckTheAppMode(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	for _, tc := range []struct {
		method, path, key, body, code string
	}{
		{http.MethodPost, "/v1/chat-messages", echoKey, `{"query": "x", "inputs": {}, "user": "u"}`, "not_chat_app"},
		{http.MethodGet, "/v1/conversations?user=u", echoKey, "", "not_chat_app"},
		{http.MethodGet, "/v1/messages?user=u&conversation_id=x", echoKey, "", "not_chat_app"},
		{http.MethodPost, "/v1/workflows/run", chatKey, `{"inputs": {}, "user": "u"}`, "not_workflow_app"},
	} {
		rec := b.do(tc.method, tc.path, tc.key, tc.body)
		var e errBody
		json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != 400 || e.Code != tc.code || e.Message != "Please check if your app mode matches the right API route." {
			t.Fatalf("%s %s: %d %s, want 400 %s", tc.method, tc.path, rec.Code, rec.Body, tc.code)
		}
	}
}

func TestChatStreamFrames(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	rec := b.do(http.MethodPost, "/v1/chat-messages", chatKey, `{"query": "hi", "inputs": {}, "user": "ann", "response_mode": "streaming"}`)
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var events, answer []string
	conv, msg := "", ""
	for _, frame := range strings.Split(strings.TrimSpace(rec.Body.String()), "\n\n") {
		js, ok := strings.CutPrefix(frame, "data: ")
		if !ok {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(js))
		dec.Token()
		var keys []string
		var m map[string]any
		json.Unmarshal([]byte(js), &m)
		for dec.More() {
			k, _ := dec.Token()
			keys = append(keys, k.(string))
			var skip json.RawMessage
			dec.Decode(&skip)
		}
		if strings.Join(keys[:4], ",") != "event,conversation_id,message_id,created_at" {
			t.Fatalf("frame opens with %v: %s", keys, js)
		}
		ev := m["event"].(string)
		events = append(events, ev)
		if conv == "" {
			conv, msg = m["conversation_id"].(string), m["message_id"].(string)
		}
		if m["conversation_id"] != conv || m["message_id"] != msg {
			t.Fatalf("frame of another conversation or message: %s", js)
		}
		switch ev {
		case "message":
			if got := strings.Join(keys[4:], ","); got != "task_id,id,answer,from_variable_selector" {
				t.Fatalf("message keys %s", got)
			}
			answer = append(answer, m["answer"].(string))
		case "message_end":
			if got := strings.Join(keys[4:], ","); got != "task_id,id,metadata,files" {
				t.Fatalf("message_end keys %s", got)
			}
		default:
			if got := strings.Join(keys[4:], ","); got != "task_id,workflow_run_id,data" {
				t.Fatalf("%s keys %s", ev, got)
			}
		}
	}
	if got := strings.Join(answer, ""); got != "Turn 1: you said hi; before that: " {
		t.Fatalf("streamed answer %q", got)
	}
	if n := len(events); events[0] != "workflow_started" || events[n-2] != "workflow_finished" || events[n-1] != "message_end" {
		t.Fatalf("events %v", events)
	}
	// The turn is stored: the next one continues it.
	if got := chatTurn(t, b, "ann", conv, "next")["answer"]; got != "Turn 2: you said next; before that: hi" {
		t.Fatalf("next turn %q", got)
	}
}

func TestChatConversationsAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	var convs []string
	for i := range 3 {
		convs = append(convs, chatTurn(t, b, "ann", "", fmt.Sprintf("question number %d that is long", i))["conversation_id"].(string))
	}
	chatTurn(t, b, "bob", "", "bob's")
	list := getJSON(t, b, "/v1/conversations?user=ann&limit=2", 200)
	data := list["data"].([]any)
	if len(data) != 2 || list["has_more"] != true {
		t.Fatalf("first page %v", list)
	}
	first := data[0].(map[string]any)
	if first["id"] != convs[2] || first["name"] != "question number 2 th…" || first["introduction"] != "Hello! Say anything." {
		t.Fatalf("newest conversation %v", first)
	}
	next := getJSON(t, b, "/v1/conversations?user=ann&limit=2&last_id="+data[1].(map[string]any)["id"].(string), 200)
	if d := next["data"].([]any); len(d) != 1 || d[0].(map[string]any)["id"] != convs[0] || next["has_more"] != false {
		t.Fatalf("second page %v", next)
	}
	asc := getJSON(t, b, "/v1/conversations?user=ann&sort_by=created_at", 200)["data"].([]any)
	if len(asc) != 3 || asc[0].(map[string]any)["id"] != convs[0] {
		t.Fatalf("ascending %v", asc)
	}
	getJSON(t, b, "/v1/conversations?user=ann&sort_by=name", 400)
	getJSON(t, b, "/v1/conversations?user=bob&last_id="+convs[0], 404)

	// Rename, then delete.
	rec := b.do(http.MethodPost, "/v1/conversations/"+convs[0]+"/name", chatKey, `{"name": "renamed", "user": "ann"}`)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"name": "renamed"`) {
		t.Fatalf("rename: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do(http.MethodPost, "/v1/conversations/"+convs[0]+"/name", chatKey, `{"user": "ann"}`); rec.Code != 400 {
		t.Fatalf("rename without a name: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do(http.MethodDelete, "/v1/conversations/"+convs[0], chatKey, `{"user": "bob"}`); rec.Code != 404 {
		t.Fatalf("delete by another user: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do(http.MethodDelete, "/v1/conversations/"+convs[0], chatKey, `{"user": "ann"}`); rec.Code != 204 || rec.Body.Len() != 0 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do(http.MethodPost, "/v1/chat-messages", chatKey, fmt.Sprintf(`{"query": "x", "inputs": {}, "user": "ann", "conversation_id": %q}`, convs[0])); rec.Code != 404 {
		t.Fatalf("turn in a deleted conversation: %d %s", rec.Code, rec.Body)
	}
	if d := getJSON(t, b, "/v1/conversations?user=ann", 200)["data"].([]any); len(d) != 2 {
		t.Fatalf("after delete: %v", d)
	}
}

func TestChatMessagesFeedbackAndVariables(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	conv := chatTurn(t, b, "ann", "", "one")["conversation_id"].(string)
	var msgs []string
	msgs = append(msgs, "")
	for _, q := range []string{"two", "three"} {
		msgs = append(msgs, chatTurn(t, b, "ann", conv, q)["message_id"].(string))
	}
	page := getJSON(t, b, "/v1/messages?user=ann&limit=2&conversation_id="+conv, 200)
	items := page["data"].([]any)
	if len(items) != 2 || page["has_more"] != true || items[0].(map[string]any)["query"] != "two" || items[1].(map[string]any)["query"] != "three" {
		t.Fatalf("newest page %v", page)
	}
	older := getJSON(t, b, "/v1/messages?user=ann&limit=2&conversation_id="+conv+"&first_id="+msgs[1], 200)
	if d := older["data"].([]any); len(d) != 1 || d[0].(map[string]any)["query"] != "one" || older["has_more"] != false {
		t.Fatalf("older page %v", older)
	}
	getJSON(t, b, "/v1/messages?user=bob&conversation_id="+conv, 404)

	// Feedback: like, then withdraw; withdrawing none is an error.
	fb := func(body string, want int) {
		t.Helper()
		if rec := b.do(http.MethodPost, "/v1/messages/"+msgs[2]+"/feedbacks", chatKey, body); rec.Code != want {
			t.Fatalf("feedback %s: %d %s", body, rec.Code, rec.Body)
		}
	}
	fb(`{"rating": "like", "user": "ann", "content": "nice"}`, 200)
	fb(`{"rating": "like", "user": "bob"}`, 404)
	fb(`{"rating": "meh", "user": "ann"}`, 400)
	if got := getJSON(t, b, "/v1/messages?user=ann&conversation_id="+conv, 200)["data"].([]any)[2].(map[string]any)["feedback"]; fmt.Sprint(got) != "map[rating:like]" {
		t.Fatalf("feedback shown %v", got)
	}
	if d := getJSON(t, b, "/v1/app/feedbacks", 200)["data"].([]any); len(d) != 1 || d[0].(map[string]any)["content"] != "nice" {
		t.Fatalf("app feedbacks %v", d)
	}
	fb(`{"rating": null, "user": "ann"}`, 200)
	fb(`{"rating": null, "user": "ann"}`, 400)
	if d := getJSON(t, b, "/v1/app/feedbacks", 200)["data"].([]any); len(d) != 0 {
		t.Fatalf("app feedbacks after withdrawal %v", d)
	}
	// Rating again after a withdrawal counts.
	fb(`{"rating": "dislike", "user": "ann"}`, 200)
	if d := getJSON(t, b, "/v1/app/feedbacks", 200)["data"].([]any); len(d) != 1 || d[0].(map[string]any)["rating"] != "dislike" {
		t.Fatalf("app feedbacks after a new rating %v", d)
	}

	// Variables: listed as Python str(); updated with a type check.
	vars := getJSON(t, b, "/v1/conversations/"+conv+"/variables?user=ann", 200)["data"].([]any)
	count := vars[0].(map[string]any)
	if count["name"] != "count" || count["value"] != "3" || count["value_type"] != "number" {
		t.Fatalf("variables %v", vars)
	}
	id := count["id"].(string)
	if rec := b.do(http.MethodPut, "/v1/conversations/"+conv+"/variables/"+id, chatKey, `{"value": "ten", "user": "ann"}`); rec.Code != 400 || !strings.Contains(rec.Body.String(), "Type mismatch: variable 'count' expects number, but got str type") {
		t.Fatalf("type mismatch: %d %s", rec.Code, rec.Body)
	}
	if rec := b.do(http.MethodPut, "/v1/conversations/"+conv+"/variables/"+id, chatKey, `{"value": 10, "user": "ann"}`); rec.Code != 200 {
		t.Fatalf("update: %d %s", rec.Code, rec.Body)
	}
	// The next turn starts from the new value (and adds one).
	chatTurn(t, b, "ann", conv, "four")
	vars = getJSON(t, b, "/v1/conversations/"+conv+"/variables?user=ann&variable_name=COU", 200)["data"].([]any)
	if len(vars) != 1 || vars[0].(map[string]any)["value"] != "11" {
		t.Fatalf("after update and a turn: %v", vars)
	}
	getJSON(t, b, "/v1/conversations/"+conv+"/variables?user=ann&variable_name=x%3Bdrop", 400)

	// Suggested questions: enabled in chat.yml, none without a model.
	if got := getJSON(t, b, "/v1/messages/"+msgs[2]+"/suggested?user=ann", 200); fmt.Sprint(got["data"]) != "[]" {
		t.Fatalf("suggested %v", got)
	}
}

func TestChatFailedTurn(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	rec := b.do(http.MethodPost, "/v1/chat-messages", chatBlockKey, `{"query": "fail", "inputs": {}, "user": "ann"}`)
	var e errBody
	json.Unmarshal(rec.Body.Bytes(), &e)
	if rec.Code != 400 || e.Code != "invalid_param" || e.Message != "Run failed: the block node failed" {
		t.Fatalf("blocking failure: %d %s", rec.Code, rec.Body)
	}
	rec = b.do(http.MethodPost, "/v1/chat-messages", chatBlockKey, `{"query": "fail", "inputs": {}, "user": "ann", "response_mode": "streaming"}`)
	frames := strings.Split(strings.TrimSpace(rec.Body.String()), "\n\n")
	last, prev := frames[len(frames)-1], frames[len(frames)-2]
	if !strings.Contains(prev, `"event":"workflow_finished"`) || !strings.Contains(prev, `"status":"failed"`) {
		t.Fatalf("before the error: %s", prev)
	}
	if !strings.HasPrefix(last, `data: {"event":"error","conversation_id":"`) || !strings.HasSuffix(last, `"code":"invalid_param","status":400,"message":"Run failed: the block node failed"}`) {
		t.Fatalf("last frame: %s", last)
	}
}

func TestChatStop(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ts := httptest.NewServer(b.srv)
	t.Cleanup(ts.Close)
	_, sse := startStreamAt(context.Background(), t, ts.URL+"/v1/chat-messages", chatBlockKey, `{"query": "wait", "inputs": {}, "user": "ann", "response_mode": "streaming"}`)
	frame, err := sse.next()
	if err != nil {
		t.Fatal(err)
	}
	var started struct {
		TaskID string `json:"task_id"`
	}
	json.Unmarshal([]byte(strings.TrimPrefix(frame, "data: ")), &started)
	b.waitStarted(t)
	if rec := b.do(http.MethodPost, "/v1/chat-messages/"+started.TaskID+"/stop", chatBlockKey, `{"user": "ann"}`); rec.Code != 200 || rec.Body.String() != "{\"result\": \"success\"}\n" {
		t.Fatalf("stop: %d %s", rec.Code, rec.Body)
	}
	var events []string
	for {
		frame, err := sse.next()
		if err != nil {
			break
		}
		events = append(events, frame)
	}
	all := strings.Join(events, "\n")
	if !strings.Contains(all, `"status":"stopped"`) || !strings.Contains(events[len(events)-1], `"event":"message_end"`) {
		t.Fatalf("stopped stream: %s", all)
	}
	if rec := b.do(http.MethodPost, "/v1/chat-messages/x/stop", echoKey, `{"user": "ann"}`); rec.Code != 400 {
		t.Fatalf("chat stop on a workflow app: %d %s", rec.Code, rec.Body)
	}
}

// namer names conversations "named: <query>", or fails for "fail".
type namer struct{ called chan string }

func (n *namer) Name(_ context.Context, _ *run.Workflow, query string) (string, error) {
	n.called <- query
	if query == "fail on this long query that goes past fifty characters" {
		return "", errors.New("model down")
	}
	return "  named: " + query + "  ", nil
}

func TestChatConversationNaming(t *testing.T) {
	t.Parallel()
	n := &namer{called: make(chan string, 4)}
	b := setup(t, options{mutate: func(c *api.Config) { c.Namer = n }})
	name := func(conv string) string {
		for _, c := range getJSON(t, b, "/v1/conversations?user=ann", 200)["data"].([]any) {
			if m := c.(map[string]any); m["id"] == conv {
				return m["name"].(string)
			}
		}
		t.Fatalf("conversation %s not listed", conv)
		return ""
	}
	conv := chatTurn(t, b, "ann", "", "hello")["conversation_id"].(string)
	<-n.called
	b.drain(t) // the name is stored before shutdown completes
	if got := name(conv); got != "named: hello" {
		t.Fatalf("name %q", got)
	}

	b = setup(t, options{mutate: func(c *api.Config) { c.Namer = n }})
	q := "fail on this long query that goes past fifty characters"
	conv = chatTurn(t, b, "ann", "", q)["conversation_id"].(string)
	<-n.called
	b.drain(t)
	if got := name(conv); got != "fail on this long query that goes past fifty ch..." {
		t.Fatalf("fallback name %q", got)
	}

	// auto_generate_name false: no call, the first name stays.
	b = setup(t, options{mutate: func(c *api.Config) { c.Namer = n }})
	rec := b.do(http.MethodPost, "/v1/chat-messages", chatKey, `{"query": "keep me", "inputs": {}, "user": "ann", "auto_generate_name": false}`)
	var m map[string]any
	json.Unmarshal(rec.Body.Bytes(), &m)
	b.drain(t)
	if got := name(m["conversation_id"].(string)); got != "keep me" || len(n.called) != 0 {
		t.Fatalf("name %q, %d naming calls", got, len(n.called))
	}
}
