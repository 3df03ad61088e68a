package llm

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/run/runtest"
	"github.com/flowrun/flowrun/internal/sharedtest"
)

// chatflow is an advanced-chat document: Start, the node under test (id
// n), then an Answer node showing answer; a handle (a classifier's class
// id) picks the edge to it.
func chatflow(node, answer string, handle ...string) string {
	edge := "n->answer"
	if len(handle) > 0 {
		edge += ":" + handle[0]
	}
	src := sharedtest.Graph([]string{`{id: start, data: {type: start, title: Start, variables: []}}`, node,
		`{id: answer, data: {type: answer, title: Answer, answer: "` + answer + `"}}`}, "start->n", edge)
	return strings.Replace(src, "mode: workflow", "mode: advanced-chat", 1)
}

// conversation plays the chat API's part: each turn gets the earlier
// turns, at most the workflow's HistoryLimit of them, and adds itself to
// them with the answer it streamed (empty when it failed).
type conversation struct {
	t     *testing.T
	e     *run.Engine
	wf    *run.Workflow
	turns []run.Message
}

func newConversation(t *testing.T, cfg Config, src string, earlier ...run.Message) *conversation {
	t.Helper()
	e := engine(t, cfg)
	return &conversation{t: t, e: e, wf: runtest.Compile(t, e, src), turns: earlier}
}

func (c *conversation) say(query string) (*run.RunInfo, *runtest.Recorder) {
	c.t.Helper()
	n := len(c.turns)
	history := c.turns[max(n-c.wf.HistoryLimit(), 0):]
	ev := &runtest.Recorder{}
	info := c.e.Run(c.t.Context(), c.wf, run.Params{
		RunID: fmt.Sprintf("run-%d", n+1), UserID: "user-1", Query: query,
		Conversation: &run.Conversation{ID: "conv-1", Turn: int64(n + 1), History: history},
	}, ev)
	answer := ""
	if info.Status == run.StatusSucceeded {
		answer = ev.Text()
	}
	c.turns = append(c.turns, run.Message{Query: query, Answer: answer})
	return info, ev
}

func (c *conversation) wantLimit(n int) {
	c.t.Helper()
	if got := c.wf.HistoryLimit(); got != n {
		c.t.Fatalf("HistoryLimit() = %d, want %d", got, n)
	}
}

// earlier are four earlier turns; the third failed, so it has no answer.
var earlier = []run.Message{{Query: "one", Answer: "red"}, {Query: "two", Answer: "blue"}, {Query: "three"}, {Query: "four", Answer: "green"}}

func chatLLM(data string) string {
	return llmYAML("n", `model: {provider: openai, name: gpt-4o, mode: chat}, prompt_template: [{role: system, text: "Be brief."}], `+data)
}

func TestMemoryCarriesEarlierTurns(t *testing.T) {
	t.Parallel()
	fake := newFake(t, expect(t,
		step{[]string{"system: Be brief.", "user: one"}, "red"},
		step{[]string{"system: Be brief.", "user: one", "assistant: red", "user: two"}, "blue"},
		step{[]string{"system: Be brief.", "user: one", "assistant: red", "user: two", "assistant: blue", "user: three"}, "green"},
	))
	// The editor's default: the window off (its size is then ignored).
	c := newConversation(t, fake.config(), chatflow(chatLLM(`memory: {window: {enabled: false, size: 50}, query_prompt_template: "{{#sys.query#}}"}`), "{{#n.text#}}"))
	c.wantLimit(run.HistoryUnbounded - 1)
	for _, q := range []string{"one", "two", "three"} {
		info, _ := c.say(q)
		wantStatus(t, info, run.StatusSucceeded)
	}
	if c.turns[2].Answer != "green" {
		t.Fatalf("turns %+v", c.turns)
	}
}

func TestMemoryWindow(t *testing.T) {
	t.Parallel()
	// A window of 3 message rows holds the turn being answered and the
	// two before it; the failed turn's empty answer is dropped, its query
	// is not.
	fake := newFake(t, expect(t,
		step{[]string{"system: Be brief.", "user: three", "user: four", "assistant: green", "user: five (turn 5)"}, "ok"},
	))
	c := newConversation(t, fake.config(), chatflow(chatLLM(`memory: {window: {enabled: true, size: 3}, query_prompt_template: "{{#sys.query#}} (turn {{#sys.dialogue_count#}})"}`), "{{#n.text#}}"), earlier...)
	c.wantLimit(2)
	info, ev := c.say("five")
	wantStatus(t, info, run.StatusSucceeded)
	var saved []string
	for _, p := range get(t, ev.Node(t, "n").ProcessData, "prompts").([]any) {
		m := p.(map[string]any)
		saved = append(saved, fmt.Sprintf("%s: %s", m["role"], m["text"]))
	}
	sharedtest.EqualLines(t, saved, []string{"system: Be brief.", "user: three", "user: four", "assistant: green", "user: five (turn 5)"})

	// A window of one row is the turn itself: no history is loaded.
	fake = newFake(t, expect(t, step{[]string{"system: Be brief.", "user: five"}, "ok"}))
	c = newConversation(t, fake.config(), chatflow(chatLLM(`memory: {window: {enabled: true, size: 1}}`), "{{#n.text#}}"), earlier...)
	c.wantLimit(0)
	info, _ = c.say("five")
	wantStatus(t, info, run.StatusSucceeded)

	// An enabled window without a size reads as far back as Dify does.
	c = newConversation(t, fake.config(), chatflow(chatLLM(`memory: {window: {enabled: true, size: null}}`), "{{#n.text#}}"))
	c.wantLimit(run.HistoryUnbounded - 1)
}

func TestCompletionMemory(t *testing.T) {
	t.Parallel()
	fake := newFake(t, expect(t,
		// #histories# is replaced, so the editor's {{#histories#}} keeps
		// its braces; #sys.query# becomes the query (sys.query when the
		// memory has no query_prompt_template), after histories went in.
		step{[]string{"user: Chat so far:\n{{User: one\nBot: red\nUser: two\nBot: blue\nUser: three\nBot: \nUser: four\nBot: green}}\nNow: five five"}, "ok"},
		// Without #histories#, the history goes first, then a newline.
		step{[]string{"user: User: one\nBot: red\nUser: two\nBot: blue\nUser: three\nBot: \nUser: four\nBot: green\nSay five"}, "ok"},
	))
	node := func(text string) string {
		return llmYAML("n", `model: {provider: openai, name: gpt-3.5-turbo-instruct, mode: completion}, prompt_template: {text: "`+text+`"},
			memory: {role_prefix: {user: User, assistant: Bot}, window: {enabled: false, size: 50}}`)
	}
	for _, text := range []string{`Chat so far:\n{{#histories#}}\nNow: {{#sys.query#}} #sys.query#`, `Say {{#sys.query#}}`} {
		c := newConversation(t, fake.config(), chatflow(node(text), "{{#n.text#}}"), earlier...)
		info, _ := c.say("five")
		wantStatus(t, info, run.StatusSucceeded)
	}
}

func TestCompletionMemoryNeedsRolePrefix(t *testing.T) {
	t.Parallel()
	fake := newFake(t, expect(t, step{[]string{"user: \nSay hi"}, "ok"}))
	node := llmYAML("n", `model: {provider: openai, name: gpt-3.5-turbo-instruct, mode: completion}, prompt_template: {text: "Say hi"}, memory: {window: {enabled: false}}`)
	// In a chatflow the node has memory, even on the first turn.
	c := newConversation(t, fake.config(), chatflow(node, "{{#n.text#}}"))
	info, ev := c.say("hello")
	wantStatus(t, info, run.StatusFailed)
	if rec := ev.Node(t, "n"); rec.ErrorType != "MemoryRolePrefixRequiredError" || rec.Error != "Memory role prefix is required for completion model." {
		t.Fatalf("%s: %s", rec.ErrorType, rec.Error)
	}
	// A workflow app has no conversation, so no memory to check.
	info, _ = runDoc(t, engine(t, fake.config()), sharedtest.Graph([]string{startNode, node, endNode("n, text")}, "start->n", "n->end"), nil)
	wantStatus(t, info, run.StatusSucceeded)
}

func TestMemoryTokenBudget(t *testing.T) {
	t.Parallel()
	// Counted as Dify's OpenAI-compatible plugin counts: 3 per message
	// plus role and content ("user" 1 token, "assistant" 2, each word
	// here 1), 3 for the reply. The four turns are 4*(5+6)+3 = 47
	// tokens; the budget is context_size - max_tokens - 3 (the empty
	// prompt), and the oldest messages go while the rest exceeds it.
	turns := []run.Message{{Query: "one", Answer: "red"}, {Query: "two", Answer: "blue"}, {Query: "three", Answer: "green"}, {Query: "four", Answer: "five"}}
	all := []string{"user: one", "assistant: red", "user: two", "assistant: blue", "user: three", "assistant: green", "user: four", "assistant: five"}
	for _, tc := range []struct {
		name   string
		count  bool
		size   int
		sizes  map[string]int
		max    int
		expect []string
	}{
		{"budget 42 drops the first query", true, 100, nil, 55, all[1:]},
		{"budget 41 drops the first turn", true, 100, nil, 56, all[2:]},
		{"the model's own size wins", true, 100, map[string]int{"gpt-4o": 1000}, 56, all},
		{"no context size: 2000 tokens", true, 0, nil, 56, all},
		{"budget 0 keeps the last message", true, 50, nil, 55, all[7:]},
		{"Dify's default counts nothing", false, 50, nil, 55, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := append([]string{"system: S"}, tc.expect...)
			fake := newFake(t, expect(t, step{append(want, "user: six"), "ok"}))
			cfg := fake.config()
			cfg.CountTokens = tc.count
			cfg.Providers["openai"] = Provider{BaseURL: fake.URL + "/v1", ContextSize: tc.size, ContextSizes: tc.sizes}
			node := llmYAML("n", fmt.Sprintf(`model: {provider: openai, name: gpt-4o, mode: chat, completion_params: {max_tokens: %d}}, prompt_template: [{role: system, text: S}], memory: {window: {enabled: false}}`, tc.max))
			c := newConversation(t, cfg, chatflow(node, "{{#n.text#}}"), turns...)
			info, _ := c.say("six")
			wantStatus(t, info, run.StatusSucceeded)
		})
	}
}

func classifierYAML(mode, memory string) string {
	return `{id: n, data: {type: question-classifier, title: n, model: {provider: openai, name: gpt-4o, mode: ` + mode + `},
		query_variable_selector: [sys, query], instruction: "", classes: [{id: '1', name: A}, {id: '2', name: B}], memory: ` + memory + `}}`
}

const classifierAnswer = `{"category_id": "2", "category_name": "B"}`

func TestClassifierMemory(t *testing.T) {
	t.Parallel()
	cats := `[{"category_id": "1", "category_name": "A"}, {"category_id": "2", "category_name": "B"}]`
	chat := func(hist string) []string {
		return messages([]openai.Message{
			{Role: "system", Content: fill(classifySystemPrompt, "{histories}", hist)},
			{Role: "user", Content: classifyUser1}, {Role: "assistant", Content: classifyAssistant1},
			{Role: "user", Content: classifyUser2}, {Role: "assistant", Content: classifyAssistant2},
			{Role: "user", Content: fill(classifyUser3, "{input_text}", "five", "{categories}", cats, "{classification_instructions}", "")},
		})
	}
	completion := "user: \n" + fill(classifyCompletionPrompt, "{histories}", "Human: one\nAssistant: red\nHuman: two\nAssistant: blue\nHuman: three\nAssistant: \nHuman: four\nAssistant: green",
		"{input_text}", "five", "{categories}", `[{"category_id": "1", "category_name": "A"}, {"category_id": "2", "category_name": "B"}]`, "{classification_instructions}", "")
	fake := newFake(t, expect(t,
		// The window's size applies even when it is off: 3 rows, so the
		// two turns before this one, as Human:/Assistant: lines.
		step{chat("Human: three\nAssistant: \nHuman: four\nAssistant: green"), classifierAnswer},
		// No size: as far back as Dify reads.
		step{[]string{completion}, classifierAnswer},
	))
	c := newConversation(t, fake.config(), chatflow(classifierYAML("chat", `{window: {enabled: false, size: 3}}`), "{{#n.class_name#}}", "2"), earlier...)
	c.wantLimit(2)
	info, _ := c.say("five")
	wantStatus(t, info, run.StatusSucceeded)
	if c.turns[4].Answer != "B" {
		t.Fatalf("answer %q", c.turns[4].Answer)
	}
	c = newConversation(t, fake.config(), chatflow(classifierYAML("completion", `{window: {enabled: true}}`), "{{#n.class_name#}}", "2"), earlier...)
	c.wantLimit(run.HistoryUnbounded - 1)
	info, _ = c.say("five")
	wantStatus(t, info, run.StatusSucceeded)

	// Outside a chatflow the histories stay empty.
	fake = newFake(t, say(classifierAnswer))
	doc := sharedtest.Graph([]string{startNode, strings.Replace(classifierYAML("chat", `{window: {enabled: false, size: 3}}`), "[sys, query]", "[start, q]", 1), endNode("n, class_name")}, "start->n", "n->end")
	info, _ = runDoc(t, engine(t, fake.config()), doc, map[string]any{"q": "five"})
	wantStatus(t, info, run.StatusSucceeded)
	if got := fake.requests()[0].Req.Messages[0].Content; got != fill(classifySystemPrompt, "{histories}", "") {
		t.Fatalf("system message %q", got)
	}
}

func extractorMemYAML(mode, memory string) string {
	return `{id: n, data: {type: parameter-extractor, title: n, model: {provider: openai, name: gpt-4o, mode: chat},
		query: [sys, query], instruction: "", reasoning_mode: ` + mode + `, memory: ` + memory + `,
		parameters: [{name: city, type: string, description: "the city", required: true}]}}`
}

func TestExtractorMemory(t *testing.T) {
	t.Parallel()
	all := "Human: one\nAssistant: red\nHuman: two\nAssistant: blue\nHuman: three\nAssistant: \nHuman: four\nAssistant: green"
	for _, tc := range []struct {
		name, mode, memory string
		count              bool
		size               int
		limit              int
		system             string
	}{
		{"prompt mode", "prompt", `{window: {enabled: false, size: 2}}`, false, 0, 1,
			plainText(fill(jsonSystemPrompt, "{histories}", "Human: four\nAssistant: green", "{instruction}", ""))},
		{"function calling", "function_call", `{window: {enabled: false, size: null}}`, false, 0, run.HistoryUnbounded - 1,
			plainText(fill(fcSystemPrompt, "{histories}", all, "{instruction}", ""))},
		// Dify counts the prompt plus 1000 tokens for the tool calls: a
		// context of 1000 leaves nothing, so one message stays.
		{"budget 0", "function_call", `{window: {enabled: false}}`, true, 1000, run.HistoryUnbounded - 1,
			plainText(fill(fcSystemPrompt, "{histories}", "Assistant: green", "{instruction}", ""))},
		{"no context size", "function_call", `{window: {enabled: false}}`, true, 0, run.HistoryUnbounded - 1,
			plainText(fill(fcSystemPrompt, "{histories}", all, "{instruction}", ""))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t, func(int, *received) reply {
				return reply{Chunks: []string{`{"city": "Rome"}`}, ToolCalls: []openai.ToolCall{{ID: "c1", Type: "function",
					Function: openai.FunctionCall{Name: extractFunctionName, Arguments: `{"city": "Rome"}`}}}}
			})
			cfg := fake.config()
			cfg.CountTokens = tc.count
			cfg.Providers["openai"] = Provider{BaseURL: fake.URL + "/v1", ContextSize: tc.size}
			c := newConversation(t, cfg, chatflow(extractorMemYAML(tc.mode, tc.memory), "{{#n.city#}}"), earlier...)
			c.wantLimit(tc.limit)
			info, _ := c.say("five")
			wantStatus(t, info, run.StatusSucceeded)
			msgs := fake.requests()[0].Req.Messages
			if msgs[0].Role != "system" || msgs[0].Content != tc.system {
				t.Fatalf("system message\n got %q\nwant %q", msgs[0].Content, tc.system)
			}
			// The history is in the system prompt only.
			for _, m := range msgs[1:] {
				if strings.Contains(m.Content, "Human: ") {
					t.Fatalf("history outside the system prompt: %q", m.Content)
				}
			}
			if last := msgs[len(msgs)-1]; last.Role != "user" || !strings.Contains(last.Content, "five") {
				t.Fatalf("last message %+v", last)
			}
		})
	}
}
