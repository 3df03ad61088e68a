package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestGeneratorFromEnv(t *testing.T) {
	t.Parallel()
	env := []string{"LLM_PROVIDER_OPENAI_BASE_URL=http://127.0.0.1:9/v1"}
	openai := nodeConfig{LLMProviders: []string{"openai"}, SuggestMaxTokens: 256}
	if g, err := generator(nodeConfig{}, nil); g != nil || err != nil {
		t.Fatalf("no providers: %v, %v; want no generator", g, err)
	}
	if g, err := generator(openai, env); g == nil || err != nil {
		t.Fatalf("providers: %v, %v; want a generator", g, err)
	}
	withModel := func(m string) nodeConfig { nc := openai; nc.ChatModel = m; return nc }
	if _, err := generator(withModel("openai:llama3:8b"), env); err != nil {
		t.Fatalf("a model name with a colon: %v", err)
	}
	for _, tc := range []struct {
		nc   nodeConfig
		want string
	}{
		{nodeConfig{ChatModel: "openai:gpt-4o"}, "CHAT_MODEL needs LLM_PROVIDERS"},
		{withModel("gpt-4o"), "is not <provider>:<model>"},
		{withModel(":gpt-4o"), "is not <provider>:<model>"},
		{withModel("anthropic:claude"), "Model provider anthropic is not configured"},
	} {
		if _, err := generator(tc.nc, env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.nc, err, tc.want)
		}
	}
}

// chatLLMApp is a chatflow whose llm node answers the query, with
// suggested questions on.
const chatLLMApp = `app: {mode: advanced-chat, name: llm-chat}
kind: app
version: 0.3.1
workflow:
  features:
    suggested_questions_after_answer: {enabled: true}
  graph:
    nodes:
    - {id: start, data: {type: start, title: Start, variables: []}}
    - {id: llm, data: {type: llm, title: LLM, model: {provider: langgenius/openai/openai, name: gpt-4o, mode: chat, completion_params: {temperature: 0.7}},
        prompt_template: [{role: user, text: "{{#sys.query#}}"}]}}
    - {id: answer, data: {type: answer, title: Answer, answer: "{{#llm.text#}}"}}
    edges:
    - {id: e1, source: start, sourceHandle: source, target: llm, targetHandle: target}
    - {id: e2, source: llm, sourceHandle: source, target: answer, targetHandle: target}
`

// TestRunMainWiresTheChatModel: with an LLM provider configured, the API
// suggests questions and names conversations with the workflow's model.
func TestRunMainWiresTheChatModel(t *testing.T) {
	named, suggested := make(chan string, 1), make(chan string, 1)
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Model    string `json:"model"`
			Stream   bool   `json:"stream"`
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Messages) == 0 || body.Model != "gpt-4o" {
			http.Error(w, fmt.Sprintf("bad request %+v: %v", body, err), http.StatusBadRequest)
			return
		}
		prompt := body.Messages[0].Content
		answer := ""
		switch {
		case body.Stream: // the llm node
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, `data: {"choices": [{"index": 0, "delta": {"content": "Sunny."}}]}`+"\n\ndata: [DONE]\n\n")
			return
		case strings.HasSuffix(prompt, "questions:\n"):
			suggested <- prompt
			answer = `["Tomorrow?", 3, "Rain?"]`
		default:
			named <- prompt
			answer = `{"Your Output": "Weather today"}`
		}
		out, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": answer}, "finish_reason": "stop"}}})
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	}))
	defer model.Close()

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "chat.yml"), []byte(chatLLMApp), 0o600); err != nil {
		t.Fatal(err)
	}
	index := "apps:\n- {id: 1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9, workflow_id: 2c3d4e5f-6071-4829-93a4-b5c6d7e8f901, file: chat.yml, keys: [app-test-llm-chat]}\n"
	if err := os.WriteFile(filepath.Join(dir, "apps.yaml"), []byte(index), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("APPS_DIR", dir)
	t.Setenv("ADDR", "127.0.0.1:0")
	t.Setenv("ADMIN_API_KEY", "")
	t.Setenv("LLM_PROVIDERS", "openai")
	t.Setenv("LLM_PROVIDER_OPENAI_BASE_URL", model.URL+"/v1")

	svc := startMain(t)
	addr := svc.addr
	call := func(method, path, body string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer app-test-llm-chat")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &m) != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
		return m
	}

	turn := call(http.MethodPost, "/v1/chat-messages", `{"query": "Weather?", "inputs": {}, "user": "u", "response_mode": "blocking"}`)
	if turn["answer"] != "Sunny." {
		t.Fatalf("turn %v", turn)
	}
	select {
	case prompt := <-named:
		if !strings.HasSuffix(prompt, "User Input:\nWeather?\n") {
			t.Fatalf("naming prompt %q", prompt)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the conversation was not named")
	}
	got := call(http.MethodGet, fmt.Sprintf("/v1/messages/%s/suggested?user=u", turn["message_id"]), "")
	if qs, _ := json.Marshal(got["data"]); string(qs) != `["Tomorrow?","Rain?"]` {
		t.Fatalf("suggested %v", got)
	}
	if prompt := <-suggested; !strings.HasPrefix(prompt, "Human: Weather?\nAssistant: Sunny.\n") {
		t.Fatalf("suggestion prompt %q", prompt)
	}
	svc.stop(t)
}
