package retrieval

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/flowrun/flowrun/internal/nodes/llm"
	"github.com/flowrun/flowrun/internal/run"
)

// router is an OpenAI-compatible model that calls the function named
// pick (none when empty) and records the tools it was offered.
type router struct {
	pick  string
	mu    sync.Mutex
	tools []string
	calls int
}

func (m *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Tools []struct {
			Function struct {
				Name        string `json:"name"`
				Description string `json:"description"`
			} `json:"function"`
		} `json:"tools"`
	}
	data, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(data, &body)
	m.mu.Lock()
	m.calls++
	m.tools = nil
	for _, t := range body.Tools {
		m.tools = append(m.tools, t.Function.Name+": "+t.Function.Description)
	}
	m.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	if m.pick != "" {
		fmt.Fprintf(w, `data: {"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":%q,"arguments":"{}"}}]}}]}`+"\n\n", m.pick)
	} else {
		fmt.Fprint(w, `data: {"choices":[{"delta":{"content":"no idea"}}]}`+"\n\n")
	}
	fmt.Fprint(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":3,\"total_tokens\":23}}\n\ndata: [DONE]\n\n")
}

func models(t *testing.T, m *router) *llm.Models {
	t.Helper()
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	ms, err := llm.NewModels(llm.Config{Providers: map[string]llm.Provider{"openai": {BaseURL: srv.URL + "/v1"}}, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func singleData(ids ...any) map[string]any {
	return map[string]any{"dataset_ids": ids, "retrieval_mode": "single", "single_retrieval_config": map[string]any{
		"model": map[string]any{"provider": "langgenius/openai/openai", "name": "gpt-4o", "mode": "chat", "completion_params": map[string]any{}}}}
}

// TestSingleMode: the model picks one dataset by calling it; that
// dataset's own settings apply; its tokens are the node's usage.
func TestSingleMode(t *testing.T) {
	t.Parallel()
	m := &router{pick: "guide"}
	b := setup(t, models(t, m))
	o := b.run(t, doc(singleData("docs", "guide")), map[string]any{"q": "how to"})
	if got := contents(o.result(t)); got != "S4@0.85#1 S5@0.2#2 " {
		t.Fatalf("result = %s", got)
	}
	if fmt.Sprint(m.tools) != "[docs: product documentation guide: useful for when you want to answer queries about the Guide]" {
		t.Errorf("tools = %v", m.tools)
	}
	n := o.kr(t)
	usage, _ := n.ProcessData.Get("usage")
	if usage.(map[string]any)["total_tokens"] != int64(23) || n.Tokens != 23 {
		t.Errorf("usage = %v, tokens %d", usage, n.Tokens)
	}
	for _, r := range b.dify.Requests() {
		if r.Path != "/v1/datasets/remote-guide/retrieve" {
			t.Errorf("asked %s", r.Path)
		}
	}

	// One dataset: no model call.
	o = b.run(t, doc(singleData("faq")), map[string]any{"q": "x"})
	if got := contents(o.result(t)); got != "A@0.9#1 B@0.7#2 C@0.4#3 " || m.calls != 1 {
		t.Fatalf("result = %s, model calls %d", got, m.calls)
	}
}

// TestSingleModeNoPick: a model that calls nothing retrieves nothing; an
// unconfigured model fails the node.
func TestSingleModeNoPick(t *testing.T) {
	t.Parallel()
	b := setup(t, models(t, &router{}))
	if got := b.run(t, doc(singleData("docs", "guide")), map[string]any{"q": "x"}).result(t); len(got) != 0 {
		t.Fatalf("result = %v", got)
	}
	if len(b.dify.Requests()) != 0 {
		t.Fatal("a dataset was asked")
	}
	b = setup(t, nil)
	n := b.run(t, doc(singleData("docs", "guide")), map[string]any{"q": "x"}).kr(t)
	if n.Status != run.StatusFailed || n.Error == "" {
		t.Fatalf("node %s %q", n.Status, n.Error)
	}
	data := singleData("docs")
	delete(data, "single_retrieval_config")
	n = b.run(t, doc(data), map[string]any{"q": "x"}).kr(t)
	if n.Status != run.StatusFailed || n.Error != "single_retrieval_config is required for single retrieval mode" {
		t.Fatalf("node %s %q", n.Status, n.Error)
	}
}
