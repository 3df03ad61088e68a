package conformance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// chatMessage is one message of a chat completion request.
type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chatRequest is the part of a chat completion request the fake reads.
type chatRequest struct {
	Model    string        `json:"model"`
	Messages []chatMessage `json:"messages"`
	Stream   bool          `json:"stream"`
	Tools    []struct {
		Function struct {
			Name       string         `json:"name"`
			Parameters map[string]any `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
}

// prompt is every message's content, joined.
func (r *chatRequest) prompt() string {
	var b strings.Builder
	for _, m := range r.Messages {
		b.WriteString(m.Content)
		b.WriteByte('\n')
	}
	return b.String()
}

// llmScript says how the fake model answers a test file's requests.
type llmScript struct {
	// Classes are class ids in order of preference: a question-classifier
	// request gets the first of them that its categories offer, else the
	// first category.
	Classes []string
	// Params are the values a parameter-extractor request gets for the
	// parameters of those names; other parameters get a placeholder of
	// their declared type.
	Params map[string]any
	// Rules answer plain LLM requests: the first rule whose Contains
	// occurs in the prompt answers with Answer (or Func's result).
	Rules []rule
	// Default answers a plain request no rule matches ("ok" when empty).
	Default string
}

type rule struct {
	Contains string
	Answer   string
	Func     func(prompt string) string
}

// llmCall records one request the fake answered.
type llmCall struct {
	Kind   string // "llm", "classifier", "extractor"
	Prompt string
	Answer string
}

// fakeLLM is an OpenAI-compatible chat completion server: it streams
// answers as SSE chunks with a final usage chunk when asked to stream, and
// answers in one JSON document (with tool calls for function-call
// parameter extraction) otherwise.
type fakeLLM struct {
	*httptest.Server
	script llmScript
	mu     sync.Mutex
	calls  []llmCall
	errs   []string
}

func newFakeLLM(t testing.TB, s llmScript) *fakeLLM {
	t.Helper()
	f := &fakeLLM{script: s}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeLLM) record(c llmCall) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
}

func (f *fakeLLM) fail(w http.ResponseWriter, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.mu.Lock()
	f.errs = append(f.errs, msg)
	f.mu.Unlock()
	http.Error(w, msg, http.StatusBadRequest)
}

// log returns the calls answered and the requests the fake could not
// make sense of.
func (f *fakeLLM) log() ([]llmCall, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]llmCall(nil), f.calls...), append([]string(nil), f.errs...)
}

func (f *fakeLLM) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		f.fail(w, "unexpected %s %s", r.Method, r.URL.Path)
		return
	}
	var req chatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		f.fail(w, "bad request body: %v", err)
		return
	}
	if len(req.Messages) == 0 {
		f.fail(w, "no messages")
		return
	}
	var content string
	var toolArgs string
	switch {
	case len(req.Tools) > 0:
		// parameter-extractor, reasoning_mode function_call.
		args, err := json.Marshal(f.extract(req.Tools[0].Function.Parameters))
		if err != nil {
			f.fail(w, "%v", err)
			return
		}
		toolArgs = string(args)
		f.record(llmCall{Kind: "extractor", Prompt: req.prompt(), Answer: toolArgs})
	case isClassifier(&req):
		id, name, err := f.classify(&req)
		if err != nil {
			f.fail(w, "classifier: %v", err)
			return
		}
		b, _ := json.Marshal(map[string]any{"keywords": []string{"test"}, "category_id": id, "category_name": name})
		content = "```json\n" + string(b) + "\n```"
		f.record(llmCall{Kind: "classifier", Prompt: req.prompt(), Answer: id})
	case structure(&req) != "":
		// parameter-extractor, reasoning_mode prompt.
		var schema map[string]any
		if err := json.Unmarshal([]byte(structure(&req)), &schema); err != nil {
			f.fail(w, "extractor structure: %v", err)
			return
		}
		b, _ := json.Marshal(f.extract(schema))
		content = string(b)
		f.record(llmCall{Kind: "extractor", Prompt: req.prompt(), Answer: content})
	default:
		content = f.answer(req.prompt())
		f.record(llmCall{Kind: "llm", Prompt: req.prompt(), Answer: content})
	}
	usage := map[string]any{"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
	if !req.Stream {
		msg := map[string]any{"role": "assistant", "content": content}
		finish := "stop"
		if toolArgs != "" {
			msg["tool_calls"] = []any{map[string]any{"id": "call_1", "type": "function",
				"function": map[string]any{"name": req.Tools[0].Function.Name, "arguments": toolArgs}}}
			finish = "tool_calls"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "cmpl-1", "object": "chat.completion", "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
			"usage":   usage,
		})
		return
	}
	if toolArgs != "" {
		f.fail(w, "streamed tool call requests are not scripted")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	send := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		w.(http.Flusher).Flush()
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": "cmpl-1", "object": "chat.completion.chunk", "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	for _, piece := range strings.SplitAfter(content, " ") {
		send(chunk(map[string]any{"role": "assistant", "content": piece}, nil))
	}
	send(chunk(map[string]any{}, "stop"))
	send(map[string]any{"id": "cmpl-1", "object": "chat.completion.chunk", "model": req.Model, "choices": []any{}, "usage": usage})
	fmt.Fprint(w, "data: [DONE]\n\n")
}

// answer picks the scripted answer for a plain LLM prompt.
func (f *fakeLLM) answer(prompt string) string {
	for _, r := range f.script.Rules {
		if strings.Contains(prompt, r.Contains) {
			if r.Func != nil {
				return r.Func(prompt)
			}
			return r.Answer
		}
	}
	if f.script.Default != "" {
		return f.script.Default
	}
	return "ok"
}

// isClassifier recognises a question-classifier request: its
// classification message, the last one, lists the categories with their
// ids.
func isClassifier(r *chatRequest) bool {
	return len(r.Messages) >= 2 && categoriesRE.MatchString(r.Messages[len(r.Messages)-1].Content)
}

var categoriesRE = regexp.MustCompile(`"categories"\s*:\s*\[\s*\{\s*"category_id"`)

// classify picks a category offered in the classification message.
func (f *fakeLLM) classify(r *chatRequest) (id, name string, err error) {
	msg := r.Messages[len(r.Messages)-1].Content
	locs := categoriesRE.FindAllStringIndex(msg, -1)
	list := msg[locs[len(locs)-1][0]:]
	list = list[strings.Index(list, "["):]
	var cats []struct {
		ID   string `json:"category_id"`
		Name string `json:"category_name"`
	}
	if err := json.NewDecoder(strings.NewReader(list)).Decode(&cats); err != nil {
		return "", "", fmt.Errorf("categories: %w", err)
	}
	if len(cats) == 0 {
		return "", "", fmt.Errorf("no categories in %q", msg)
	}
	for _, want := range f.script.Classes {
		for _, c := range cats {
			if c.ID == want {
				return c.ID, c.Name, nil
			}
		}
	}
	return cats[0].ID, cats[0].Name, nil
}

// structure returns the JSON schema of a prompt-mode parameter-extractor
// request: the last <structure> block of the last user message (the
// few-shot examples before it have their own).
func structure(r *chatRequest) string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		m := r.Messages[i]
		if m.Role != "user" {
			continue
		}
		start := strings.LastIndex(m.Content, "<structure>\n")
		if start < 0 {
			return ""
		}
		rest := m.Content[start+len("<structure>\n"):]
		end := strings.Index(rest, "\n</structure>")
		if end < 0 {
			return ""
		}
		return rest[:end]
	}
	return ""
}

// extract fills every property of an extractor's schema: the scripted
// value, or a placeholder of the property's type.
func (f *fakeLLM) extract(schema map[string]any) map[string]any {
	props, _ := schema["properties"].(map[string]any)
	out := map[string]any{}
	for name, p := range props {
		if v, ok := f.script.Params[name]; ok {
			out[name] = v
			continue
		}
		spec, _ := p.(map[string]any)
		switch spec["type"] {
		case "number":
			out[name] = 1
		case "boolean":
			out[name] = true
		case "array":
			out[name] = []any{}
		default:
			if enum, _ := spec["enum"].([]any); len(enum) > 0 {
				out[name] = enum[0]
			} else {
				out[name] = "value of " + name
			}
		}
	}
	return out
}
