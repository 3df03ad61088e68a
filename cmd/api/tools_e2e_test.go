package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// searchServer is a real MCP server (the SDK's streamable HTTP handler)
// with one tool, tavily_search, answering "results for <query>".
func searchServer(t *testing.T) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "search", Version: "1"}, nil)
	type args struct {
		Query string `json:"query" jsonschema:"what to search for"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "tavily_search", Description: "searches the web"},
		func(_ context.Context, _ *mcp.CallToolRequest, a args) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "results for " + a.Query}}}, nil, nil
		})
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(ts.Close)
	return ts.URL + "/mcp"
}

// agentModel is an OpenAI-compatible model that first asks for
// tavily_search, then answers with the tool result it was given.
type agentModel struct {
	mu    sync.Mutex
	calls int
}

func (m *agentModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Messages []struct {
			Role    string `json:"role"`
			Content any    `json:"content"`
		} `json:"messages"`
	}
	data, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(data, &body)
	m.mu.Lock()
	m.calls++
	m.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	last := body.Messages[len(body.Messages)-1]
	if last.Role != "tool" {
		fmt.Fprint(w, `data: {"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"tavily_search","arguments":"{\"query\": \"flowrun\"}"}}]}}]}`+"\n\n")
	} else {
		b, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"delta": map[string]any{"content": fmt.Sprintf("model saw: %v", last.Content)}}}})
		fmt.Fprintf(w, "data: %s\n\n", b)
	}
	fmt.Fprint(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\ndata: [DONE]\n\n")
}

// toolApp is a workflow whose tool node calls tavily_search of the given
// provider and returns its text.
func toolApp(providerType, providerID string) string {
	return fmt.Sprintf(`app: {mode: workflow, name: search}
workflow:
  graph:
    nodes:
    - {id: start, data: {type: start, title: Start, variables: [{variable: q, type: text-input, required: true}]}}
    - id: tool
      data:
        type: tool
        title: Search
        provider_type: %s
        provider_id: %s
        provider_name: %s
        tool_name: tavily_search
        tool_label: Search
        tool_configurations: {}
        tool_parameters: {query: {type: mixed, value: 'about {{#start.q#}}'}}
    - {id: end, data: {type: end, title: End, outputs: [{variable: text, value_selector: [tool, text]}]}}
    edges:
    - {id: e1, source: start, target: tool, sourceHandle: source}
    - {id: e2, source: tool, target: end, sourceHandle: source}
`, providerType, providerID, providerID)
}

const agentApp = `app: {mode: workflow, name: agent}
workflow:
  graph:
    nodes:
    - {id: start, data: {type: start, title: Start, variables: [{variable: q, type: text-input, required: true}]}}
    - id: ag
      data:
        type: agent
        title: Agent
        agent_strategy_provider_name: langgenius/agent/agent
        agent_strategy_name: function_calling
        agent_parameters:
          model: {type: constant, value: {provider: langgenius/openai/openai, model: gpt-4o, mode: chat, completion_params: {}}}
          tools: {type: constant, value: [{enabled: true, type: builtin, provider_name: langgenius/tavily/tavily, tool_name: tavily_search, parameters: {query: {auto: 1, value: null}}}]}
          instruction: {type: constant, value: 'Search first.'}
          query: {type: constant, value: '{{#start.q#}}'}
          maximum_iterations: {type: constant, value: 3}
    - {id: end, data: {type: end, title: End, outputs: [{variable: text, value_selector: [ag, text]}]}}
    edges:
    - {id: e1, source: start, target: ag, sourceHandle: source}
    - {id: e2, source: ag, target: end, sourceHandle: source}
`

// TestToolsEndToEnd runs the service with a tools.yaml that maps an MCP
// server started here under its own id and, as an alias, under the plugin
// id langgenius/tavily/tavily, and an app as a workflow tool: a tool node
// calls the MCP tool by either id, an agent node calls it through a model
// that asks for it, and a tool node calls the search app as a workflow.
func TestToolsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"mcp.yml":      toolApp("mcp", "search-mcp"),
		"plugin.yml":   toolApp("builtin", "langgenius/tavily/tavily"),
		"agent.yml":    agentApp,
		"workflow.yml": strings.NewReplacer("tool_name: tavily_search", "tool_name: search_app", "{query:", "{q:").Replace(toolApp("workflow", "search-app")),
		"apps.yaml": `apps:
- {id: 5c1e0a52-0000-4000-8000-000000000001, workflow_id: 5c1e0a52-0000-4000-8000-0000000000a1, file: mcp.yml, keys: [app-tools-mcp]}
- {id: 5c1e0a52-0000-4000-8000-000000000002, workflow_id: 5c1e0a52-0000-4000-8000-0000000000a2, file: plugin.yml, keys: [app-tools-plugin]}
- {id: 5c1e0a52-0000-4000-8000-000000000003, workflow_id: 5c1e0a52-0000-4000-8000-0000000000a3, file: agent.yml, keys: [app-tools-agent]}
- {id: 5c1e0a52-0000-4000-8000-000000000004, workflow_id: 5c1e0a52-0000-4000-8000-0000000000a4, file: workflow.yml, keys: [app-tools-workflow]}
`,
		"tools.yaml": fmt.Sprintf(`providers:
- {id: search-mcp, kind: mcp, url: '%s', aliases: [langgenius/tavily/tavily]}
- {id: search-app, kind: workflow, app: 5c1e0a52-0000-4000-8000-000000000001, name: search_app, description: searches}
`, searchServer(t)),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	model := httptest.NewServer(&agentModel{})
	t.Cleanup(model.Close)
	t.Setenv("APPS_DIR", dir)
	t.Setenv("ADDR", "127.0.0.1:0")
	t.Setenv("ADMIN_API_KEY", "")
	t.Setenv("LLM_PROVIDERS", "openai")
	t.Setenv("LLM_PROVIDER_OPENAI_BASE_URL", model.URL+"/v1")
	svc := startMain(t)
	addr := svc.addr
	for _, c := range []struct{ key, want string }{
		{"app-tools-mcp", "results for about flowrun"},
		{"app-tools-plugin", "results for about flowrun"},
		{"app-tools-agent", "model saw: results for flowrun"},
		// The workflow tool's text is the called app's outputs as JSON.
		{"app-tools-workflow", `{"text": "results for about about flowrun"}`},
	} {
		req, _ := http.NewRequest("POST", "http://"+addr+"/v1/workflows/run",
			strings.NewReader(`{"inputs": {"q": "flowrun"}, "user": "u", "response_mode": "blocking"}`))
		req.Header.Set("Authorization", "Bearer "+c.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out struct {
			Data struct {
				Status  string         `json:"status"`
				Error   any            `json:"error"`
				Outputs map[string]any `json:"outputs"`
			} `json:"data"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &out) != nil || out.Data.Status != "succeeded" {
			t.Fatalf("%s: %d %s", c.key, resp.StatusCode, body)
		}
		// (The agent's answer starts on a new line after its tool round.)
		if got := strings.TrimSpace(fmt.Sprint(out.Data.Outputs["text"])); got != c.want {
			t.Errorf("%s: text = %q, want %q", c.key, got, c.want)
		}
	}
	svc.stop(t)
}
