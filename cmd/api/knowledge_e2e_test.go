package main

import (
	"bufio"
	"bytes"
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

	"github.com/flowrun/flowrun/internal/knowledge/knowledgetest"
)

// contextModel is an OpenAI-compatible model that answers "ok" and
// records the system prompts it was given.
type contextModel struct {
	mu      sync.Mutex
	systems []string
}

func (m *contextModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	data, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(data, &body)
	m.mu.Lock()
	for _, msg := range body.Messages {
		if msg.Role == "system" {
			m.systems = append(m.systems, msg.Content)
		}
	}
	m.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	fmt.Fprint(w, `data: {"choices":[{"delta":{"content":"ok"}}]}`+"\n\n")
	fmt.Fprint(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}\n\ndata: [DONE]\n\n")
}

// ragChat is a chatflow: knowledge retrieval over two datasets, then two
// LLM nodes with the result as context (Dify leaves "{{#context#}}" as
// the context between single braces), then an answer.
const ragChat = `app: {mode: advanced-chat, name: rag}
workflow:
  features: {retriever_resource: {enabled: true}}
  graph:
    nodes:
    - {id: start, data: {type: start, title: Start, variables: []}}
    - id: kr
      data:
        type: knowledge-retrieval
        title: Knowledge
        query_variable_selector: [sys, query]
        dataset_ids: [docs, faq]
        retrieval_mode: multiple
        multiple_retrieval_config: {top_k: 3, score_threshold: null, reranking_enable: true, reranking_mode: reranking_model, reranking_model: {provider: langgenius/cohere/cohere, model: rerank-english-v3.0}}
    - id: llm1
      data:
        type: llm
        title: LLM 1
        model: {provider: langgenius/openai/openai, name: gpt-4o, mode: chat, completion_params: {}}
        prompt_template: [{role: system, text: "Use: {{#context#}}"}, {role: user, text: "{{#sys.query#}}"}]
        context: {enabled: true, variable_selector: [kr, result]}
    - id: llm2
      data:
        type: llm
        title: LLM 2
        model: {provider: langgenius/openai/openai, name: gpt-4o, mode: chat, completion_params: {}}
        prompt_template: [{role: system, text: "Again: {{#context#}}"}, {role: user, text: "{{#sys.query#}}"}]
        context: {enabled: true, variable_selector: [kr, result]}
    - {id: answer, data: {type: answer, title: Answer, answer: "{{#llm1.text#}}{{#llm2.text#}}"}}
    edges:
    - {id: e1, source: start, target: kr, sourceHandle: source}
    - {id: e2, source: kr, target: llm1, sourceHandle: source}
    - {id: e3, source: llm1, target: llm2, sourceHandle: source}
    - {id: e4, source: llm2, target: answer, sourceHandle: source}
`

// TestKnowledgeChatflowEndToEnd runs the service with a knowledge.yaml
// mapping a Dify dataset and an external knowledge base to stubs on
// loopback (allow-listed for the SSRF guard): a chatflow retrieves, two
// LLM nodes use the result as context, and the turn's
// retriever_resources, de-duplicated and renumbered, are in the blocking
// body, in message_end, and in the messages API.
func TestKnowledgeChatflowEndToEnd(t *testing.T) {
	dir := t.TempDir()
	dify := knowledgetest.NewDify(t, "dataset-k", map[string][]knowledgetest.Record{"remote": {
		{Content: "S1", Score: 0.95, Title: "guide.pdf", SegmentID: "seg-1", DocumentID: "doc-1"},
		{Content: "S2", Score: 0.6, Title: "guide.pdf", SegmentID: "seg-2", DocumentID: "doc-1"},
	}})
	ext := knowledgetest.NewExternal(t, "ext-k", map[string][]knowledgetest.Record{"kb": {{Content: "A", Score: 0.9, Title: "a.md"}}})
	files := map[string]string{
		"rag.yml":   ragChat,
		"apps.yaml": "apps:\n- {id: 5c1e0a52-0000-4000-8000-000000000011, workflow_id: 5c1e0a52-0000-4000-8000-0000000000b1, file: rag.yml, keys: [app-rag-e2e-test]}\n",
		"knowledge.yaml": fmt.Sprintf("datasets:\n- {id: docs, name: Docs, kind: dify, base_url: '%s', api_key: dataset-k, dataset: remote}\n"+
			"- {id: faq, name: FAQ, kind: external, endpoint: '%s', api_key: '${FLOWRUN_TEST_KB_KEY}', knowledge_id: kb}\n", dify.URL, ext.URL),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	model := &contextModel{}
	ms := httptest.NewServer(model)
	t.Cleanup(ms.Close)
	t.Setenv("APPS_DIR", dir)
	t.Setenv("ADDR", "127.0.0.1:0")
	t.Setenv("ADMIN_API_KEY", "")
	t.Setenv("SSRF_ALLOW", "127.0.0.1")
	t.Setenv("FLOWRUN_TEST_KB_KEY", "ext-k")
	t.Setenv("LLM_PROVIDERS", "openai")
	t.Setenv("LLM_PROVIDER_OPENAI_BASE_URL", ms.URL+"/v1")
	svc := startMain(t)
	post := func(mode string) *http.Response {
		req, _ := http.NewRequest("POST", "http://"+svc.addr+"/v1/chat-messages",
			strings.NewReader(`{"inputs": {}, "query": "how?", "user": "u", "response_mode": "`+mode+`", "auto_generate_name": false}`))
		req.Header.Set("Authorization", "Bearer app-rag-e2e-test")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// S1, A, S2 by score; S1 and S2 share doc-1 but come from one node,
	// so both stay; LLM 2's three repeat LLM 1's pairs and are dropped.
	want := `[{"position":1,"dataset_id":"docs","dataset_name":"Docs","document_id":"doc-1","document_name":"guide.pdf",` +
		`"data_source_type":"upload_file","segment_id":"seg-1","retriever_from":"workflow","score":0.95,"hit_count":3,"word_count":1,` +
		`"segment_position":1,"index_node_hash":"hash-seg-1","content":"S1","page":null,"doc_metadata":null,"title":null,"files":null,"summary":null},` +
		`{"position":2,"dataset_id":"faq","dataset_name":"FAQ","document_id":"a.md","document_name":"a.md","data_source_type":"external",` +
		`"segment_id":null,"retriever_from":"workflow","score":0.9,"hit_count":0,"word_count":0,"segment_position":0,"index_node_hash":null,` +
		`"content":"A","page":null,"doc_metadata":{"dataset_id":"faq","dataset_name":"FAQ","score":0.9,"title":"a.md"},"title":null,"files":null,"summary":null},` +
		`{"position":3,"dataset_id":"docs","dataset_name":"Docs","document_id":"doc-1","document_name":"guide.pdf",` +
		`"data_source_type":"upload_file","segment_id":"seg-2","retriever_from":"workflow","score":0.6,"hit_count":3,"word_count":1,` +
		`"segment_position":1,"index_node_hash":"hash-seg-2","content":"S2","page":null,"doc_metadata":null,"title":null,"files":null,"summary":null}]`
	compact := func(raw json.RawMessage) string {
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			t.Fatalf("%v: %s", err, raw)
		}
		return buf.String()
	}

	resp := post("blocking")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var blocking struct {
		ConversationID string `json:"conversation_id"`
		Answer         string `json:"answer"`
		Metadata       struct {
			Resources json.RawMessage `json:"retriever_resources"`
		} `json:"metadata"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &blocking) != nil || blocking.Answer != "okok" {
		t.Fatalf("blocking: %d %s", resp.StatusCode, body)
	}
	if got := compact(blocking.Metadata.Resources); got != want {
		t.Fatalf("blocking retriever_resources =\n%s\nwant\n%s", got, want)
	}
	model.mu.Lock()
	if len(model.systems) != 2 || model.systems[0] != "Use: {S1\nA\nS2}" {
		t.Errorf("system prompts = %q", model.systems)
	}
	model.mu.Unlock()

	resp = post("streaming")
	var end json.RawMessage
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if ok && strings.Contains(line, `"event":"message_end"`) {
			var ev struct {
				Metadata struct {
					Resources json.RawMessage `json:"retriever_resources"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatal(err)
			}
			end = ev.Metadata.Resources
		}
	}
	resp.Body.Close()
	if end == nil {
		t.Fatal("no message_end")
	}
	if got := compact(end); got != want {
		t.Fatalf("message_end retriever_resources =\n%s\nwant\n%s", got, want)
	}

	req, _ := http.NewRequest("GET", "http://"+svc.addr+"/v1/messages?user=u&conversation_id="+blocking.ConversationID, nil)
	req.Header.Set("Authorization", "Bearer app-rag-e2e-test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var msgs struct {
		Data []struct {
			Resources []map[string]any `json:"retriever_resources"`
		} `json:"data"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &msgs) != nil || len(msgs.Data) != 1 || len(msgs.Data[0].Resources) != 3 {
		t.Fatalf("messages: %d %s", resp.StatusCode, body)
	}
	r := msgs.Data[0].Resources[1]
	if r["position"] != 2.0 || r["dataset_id"] != "faq" || r["content"] != "A" || r["created_at"] != nil ||
		len(r["id"].(string)) != 36 || r["id"] == r["message_id"] {
		t.Errorf("stored resource = %v", r)
	}
	if !strings.Contains(string(body), `"retriever_resources": [{"id": "`) {
		t.Errorf("messages body key order: %s", body)
	}
	svc.stop(t)
}
