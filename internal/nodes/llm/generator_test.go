package llm

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/run/runtest"
	"github.com/flowrun/flowrun/internal/sharedtest"
)

// genSetup returns a Generator on fake's providers and a chatflow whose
// llm node uses openai/gpt-4o.
func genSetup(t *testing.T, fake *fakeServer, gc GeneratorConfig) (*Generator, *run.Workflow) {
	t.Helper()
	cfg := fake.config()
	g, err := NewGenerator(cfg, gc)
	if err != nil {
		t.Fatal(err)
	}
	return g, runtest.Compile(t, engine(t, cfg), chatflow(chatLLM(""), "{{#n.text#}}"))
}

// wantBody checks the request's model, that it did not stream, and its
// max_tokens and temperature.
func wantBody(t *testing.T, fake *fakeServer, model string, maxTokens, temperature float64) {
	t.Helper()
	reqs := fake.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	b := reqs[0].Body
	if b["model"] != model || b["stream"] != nil || b["max_tokens"] != maxTokens || b["temperature"] != temperature || len(b) != 4 {
		t.Fatalf("request body %v: want model %s, max_tokens %v, temperature %v, no stream", b, model, maxTokens, temperature)
	}
}

func TestSuggestPrompt(t *testing.T) {
	t.Parallel()
	// The last three turns, as Human/Assistant lines; template variables
	// in them lose a pair of braces and special tokens go, as Dify's
	// PromptTemplateParser leaves them.
	prompt := "Human: one\nAssistant: red\n" +
		"Human: two {x} {{#sys.query#}}\nAssistant: blue \n" +
		"Human: three\nAssistant: green {#context#}\n" +
		"Predict the three questions the human is most likely to ask next, each one shorter than 20 characters.\n" +
		"Write them in the language of the Assistant's last reply. Answer with a JSON array of strings and nothing else, like this:\n" +
		`["question1","question2","question3"]` + "\n" +
		"\nquestions:\n"
	fake := newFake(t, expect(t, step{[]string{"user: " + prompt}, `Sure! ["What is red?", 42, null, "Why blue?", {"k": true}] and [more]`}))
	g, wf := genSetup(t, fake, GeneratorConfig{})
	history := []run.Message{{Query: "zero", Answer: "black"}, {Query: "one", Answer: "red"},
		{Query: "two {{x}} {{#sys.query#}}", Answer: "blue <|endoftext|>"}, {Query: "three", Answer: "green {{#context#}}"}}
	got, err := g.Suggest(t.Context(), wf, history)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"What is red?", "Why blue?"}) {
		t.Fatalf("questions %q", got)
	}
	wantBody(t, fake, "gpt-4o", 256, 0)
}

func TestSuggestDropsAnUnansweredLastTurn(t *testing.T) {
	t.Parallel()
	// Dify's memory drops the newest row while its answer is empty; the
	// older turns within the three rows stay, an empty answer among them
	// as an "Assistant: " line.
	fake := newFake(t, expect(t, step{[]string{"user: Human: two\nAssistant: \nHuman: three\nAssistant: green\nList {some} questions \nquestions:\n"}, `["a"]`}))
	g, wf := genSetup(t, fake, GeneratorConfig{SuggestPrompt: "List {{some}} questions <|im_end|>", SuggestMaxTokens: 99, SuggestTemperature: 0.3})
	got, err := g.Suggest(t.Context(), wf, []run.Message{{Query: "one", Answer: "red"}, {Query: "two"}, {Query: "three", Answer: "green"}, {Query: "four"}})
	if err != nil || !slices.Equal(got, []string{"a"}) {
		t.Fatalf("Suggest = %q, %v", got, err)
	}
	wantBody(t, fake, "gpt-4o", 99, 0.3)
}

func TestSuggestParsesTheFirstArray(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		answer string
		want   []string
	}{
		{`["a","b","c"]`, []string{"a", "b", "c"}},
		{"Questions:\n[\n  \"a?\",\n  \"b?\"\n]\nDone.", []string{"a?", "b?"}},
		{`{"questions": ["a", "b"]}`, []string{"a", "b"}},
		{`["你可以做什么?", 1.5, true, {"q": "x"}]`, []string{"你可以做什么?"}},
		{"[]", []string{}},
		{"no questions here", []string{}},
		{"[invalid json", []string{}},
		{"[invalid, json]", []string{}},
		// The first "]" ends the array, as Dify's non-greedy match does.
		{`["see [1] here", "b"]`, []string{}},
		{"", []string{}},
	} {
		got := parseQuestions(tc.answer)
		if got == nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseQuestions(%q) = %#v, want %q", tc.answer, got, tc.want)
		}
	}
}

func TestSuggestModelFailure(t *testing.T) {
	t.Parallel()
	fake := newFake(t, func(int, *received) reply {
		return reply{Status: http.StatusTooManyRequests, Body: `{"error": {"message": "slow down"}}`}
	})
	g, wf := genSetup(t, fake, GeneratorConfig{})
	got, err := g.Suggest(t.Context(), wf, []run.Message{{Query: "q", Answer: "a"}})
	if err == nil || got != nil || !strings.Contains(err.Error(), "Rate Limit Error") {
		t.Fatalf("Suggest = %q, %v: want no questions and the invoke error", got, err)
	}
}

func TestGeneratorWithoutModel(t *testing.T) {
	t.Parallel()
	fake := newFake(t, expect(t))
	cfg := fake.config()
	g, err := NewGenerator(cfg, GeneratorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	wf := runtest.Compile(t, engine(t, cfg), sharedtest.Graph([]string{startNode, endNode("start, q")}, "start->end"))
	if got, err := g.Suggest(t.Context(), wf, []run.Message{{Query: "q", Answer: "a"}}); got != nil || err != nil {
		t.Fatalf("Suggest = %q, %v: want nil, nil", got, err)
	}
	if got, err := g.Name(t.Context(), wf, "hello"); got != "" || !errors.Is(err, ErrNoModel) {
		t.Fatalf("Name = %q, %v: want ErrNoModel", got, err)
	}
	if n := len(fake.requests()); n != 0 {
		t.Fatalf("%d model calls", n)
	}
}

func TestGeneratorModelChoice(t *testing.T) {
	t.Parallel()
	fake := newFake(t, say(`["a"]`))
	cfg := fake.config()
	cfg.Providers = map[string]Provider{
		"openai":   {BaseURL: fake.URL + "/v1", Models: map[string]string{"small": "gpt-4o-mini"}},
		"deepseek": {BaseURL: fake.URL + "/v1"},
	}
	e := engine(t, cfg)
	// A classifier before the llm node in the document: the llm node's
	// model is preferred.
	classifier := `{id: qc, data: {type: question-classifier, title: qc, model: {provider: openai, name: gpt-4o, mode: chat},
		query_variable_selector: [sys, query], classes: [{id: "1", name: A}]}}`
	llmNode := llmYAML("n", `model: {provider: langgenius/deepseek/deepseek, name: deepseek-chat, mode: chat}, prompt_template: [{role: user, text: hi}]`)
	src := sharedtest.Graph([]string{`{id: start, data: {type: start, title: Start, variables: []}}`, classifier, llmNode,
		`{id: answer, data: {type: answer, title: Answer, answer: x}}`}, "start->qc", "qc->n:1", "n->answer")
	wf := runtest.Compile(t, e, strings.Replace(src, "mode: workflow", "mode: advanced-chat", 1))
	onlyClassifier := runtest.Compile(t, e, strings.Replace(sharedtest.Graph([]string{`{id: start, data: {type: start, title: Start, variables: []}}`, classifier,
		`{id: answer, data: {type: answer, title: Answer, answer: x}}`}, "start->qc", "qc->answer:1"), "mode: workflow", "mode: advanced-chat", 1))

	for _, tc := range []struct {
		gc   GeneratorConfig
		wf   *run.Workflow
		want string
	}{
		{GeneratorConfig{}, wf, "deepseek-chat"},
		{GeneratorConfig{}, onlyClassifier, "gpt-4o"},
		// A configured model wins, through the provider's model map.
		{GeneratorConfig{Provider: "langgenius/openai/openai", Model: "small"}, wf, "gpt-4o-mini"},
	} {
		g, err := NewGenerator(cfg, tc.gc)
		if err != nil {
			t.Fatal(err)
		}
		before := len(fake.requests())
		if _, err := g.Suggest(t.Context(), tc.wf, []run.Message{{Query: "q", Answer: "a"}}); err != nil {
			t.Fatal(err)
		}
		reqs := fake.requests()
		if len(reqs) != before+1 || reqs[before].Req.Model != tc.want {
			t.Fatalf("%+v: model %q, want %q", tc.gc, reqs[len(reqs)-1].Req.Model, tc.want)
		}
	}
}

func TestNewGeneratorRejectsBadConfig(t *testing.T) {
	t.Parallel()
	cfg := Config{Providers: map[string]Provider{"openai": {BaseURL: "http://127.0.0.1:1/v1"}}}
	for _, gc := range []GeneratorConfig{
		{Provider: "openai"},
		{Model: "gpt-4o"},
		{Provider: "anthropic", Model: "claude"}, // not configured, no default provider
		{SuggestMaxTokens: -1},
	} {
		if _, err := NewGenerator(cfg, gc); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewGenerator(%+v) = %v, want ErrInvalidConfig", gc, err)
		}
	}
	if _, err := NewGenerator(cfg, GeneratorConfig{Provider: "langgenius/openai/openai", Model: "gpt-4o"}); err != nil {
		t.Fatal(err)
	}
}

// titleHeader is the naming prompt before the query.
const titleHeader = "Write a short title for a chat that begins with the user input below: the user's intention plus its subject.\n\n" +
	"1. Find the language of the input (English, Chinese, Spanish, Arabic, Japanese, French, or any other).\n\n" +
	"2. Write the title\n" +
	"- Join the intention and the subject into one phrase, as short as it can be.\n" +
	"- Keep it natural and friendly, in the language of the input.\n" +
	"- When the input is a question to the assistant, you may end the title with an emoji.\n\n" +
	"3. Answer format\n" +
	"Answer with one JSON object only, with exactly these keys and nothing around it:\n" +
	"{\n" +
	`  "Language Type": "<the language of the input>",` + "\n" +
	`  "Your Reasoning": "<a short explanation, in that language>",` + "\n" +
	`  "Your Output": "<intention + subject>"` + "\n" +
	"}\n\n" +
	"User Input:\n"

func TestNamePrompt(t *testing.T) {
	t.Parallel()
	fake := newFake(t, expect(t, step{[]string{"user: " + titleHeader + "What is the weather  in Paris? {{x}} <|endoftext|>\n"},
		`{"Language Type": "English", "Your Reasoning": "A question about weather.", "Your Output": "  Paris weather ☀️ "}`}))
	g, wf := genSetup(t, fake, GeneratorConfig{})
	got, err := g.Name(t.Context(), wf, "What is the weather\n in Paris? {{x}} <|endoftext|>")
	if err != nil || got != "Paris weather ☀️" {
		t.Fatalf("Name = %q, %v", got, err)
	}
	wantBody(t, fake, "gpt-4o", 500, 1)
}

func TestNameTruncatesALongQuery(t *testing.T) {
	t.Parallel()
	// Characters, not bytes, are counted: 2001 of them, multi-byte, with
	// newlines that become spaces after the cut.
	query := "é\n" + strings.Repeat("日", 1998) + "\nz"
	sent := "é " + strings.Repeat("日", 298) + "...[TRUNCATED]..." + strings.Repeat("日", 298) + " z"
	fake := newFake(t, expect(t, step{[]string{"user: " + titleHeader + sent + "\n"}, "not JSON"}))
	g, wf := genSetup(t, fake, GeneratorConfig{})
	got, err := g.Name(t.Context(), wf, query)
	// An answer without a usable object names the conversation after the
	// query as sent.
	if err != nil || got != sent {
		t.Fatalf("Name = %q, %v", got, err)
	}

	// 2000 characters are sent whole.
	query = strings.Repeat("a", 2000)
	if got := titleQuery(query); got != query {
		t.Fatalf("titleQuery of 2000 characters = %d characters", len(got))
	}
}

func TestNameParsesTolerantly(t *testing.T) {
	t.Parallel()
	const q = "the query"
	for _, tc := range []struct{ answer, want string }{
		{`{"Your Output": "Trip plan"}`, "Trip plan"},
		{"Here it is:\n```json\n{\"Language Type\": \"English\", \"Your Output\": \"Trip plan\"}\n```\nEnjoy!", "Trip plan"},
		{"<think>\nThe user wants {a title}.\n</think>\n{\"Your Output\": \"Trip plan\"}", "Trip plan"},
		// Cut off by max_tokens: the object is closed.
		{`{"Language Type": "English", "Your Output": "Trip pl`, "Trip pl"},
		{`{"Your Output": "   "}`, q},
		{`{"Your Output": 5}`, q},
		{`{"Output": "Trip plan"}`, q},
		{`[{"Your Output": "Trip plan"}]`, q},
		{`"Trip plan"`, q},
		{"Trip plan", q},
	} {
		if got := parseTitle(tc.answer, q); got != tc.want {
			t.Errorf("parseTitle(%q) = %q, want %q", tc.answer, got, tc.want)
		}
	}
}

func TestNameEmptyAnswerAndModelFailure(t *testing.T) {
	t.Parallel()
	fake := newFake(t, func(n int, _ *received) reply {
		if n == 0 {
			return reply{Chunks: []string{""}}
		}
		return reply{Status: http.StatusInternalServerError, Body: "boom"}
	})
	g, wf := genSetup(t, fake, GeneratorConfig{})
	// Dify returns "" for an empty answer.
	if got, err := g.Name(t.Context(), wf, "hello"); got != "" || err != nil {
		t.Fatalf("Name = %q, %v: want \"\", nil", got, err)
	}
	if got, err := g.Name(t.Context(), wf, "hello"); got != "" || err == nil || !strings.Contains(err.Error(), "Server Unavailable Error") {
		t.Fatalf("Name = %q, %v: want the invoke error", got, err)
	}
}

func TestSuggestHistoryTokenCap(t *testing.T) {
	t.Parallel()
	// With token counting on, the history is cut to 3000 tokens, the
	// oldest messages first, as TokenBufferMemory cuts it.
	cfg := Config{Providers: map[string]Provider{"openai": {BaseURL: "http://127.0.0.1:1/v1"}}, CountTokens: true}
	g, err := NewGenerator(cfg, GeneratorConfig{SuggestPrompt: "I"})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat(" word", 3500)
	history := []run.Message{{Query: "one", Answer: "red"}, {Query: long, Answer: "x"}, {Query: "three", Answer: "green"}}
	if got, want := g.suggestPrompt(history), "Assistant: x\nHuman: three\nAssistant: green\nI\nquestions:\n"; got != want {
		t.Fatalf("prompt %q, want %q", got, want)
	}
	g.cfg.CountTokens = false
	if got := g.suggestPrompt(history); !strings.HasPrefix(got, "Human: one\nAssistant: red\nHuman:  word word") {
		t.Fatalf("prompt without counting starts %q", got[:40])
	}
}
