package llm

import (
	"reflect"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/run/runtest"
	"github.com/flowrun/flowrun/internal/sharedtest"
)

const extractorParams = `parameters: [
	{name: city, type: string, description: "the city", required: true},
	{name: days, type: number, description: "how many days", required: true},
	{name: tags, type: "array[string]", description: "tags", required: false},
	{name: scores, type: "array[number]", description: "scores", required: false},
	{name: urgent, type: bool, description: "is it urgent", required: false},
	{name: level, type: select, options: [low, high], description: "level", required: false}]`

func extractorYAML(mode string) string {
	return `{id: ex, data: {type: parameter-extractor, title: ex, model: {provider: openai, name: gpt-4o, mode: chat},
		query: [start, q], instruction: "Answer for {{#start.n#}} people", reasoning_mode: ` + mode + `, ` + extractorParams + `}}`
}

func extractorDoc(mode string) string {
	return sharedtest.Graph([]string{startNode, extractorYAML(mode), endNode("ex, days", "ex, __is_success")}, "start->ex", "ex->end")
}

func outputsJSON(t *testing.T, ev *runtest.Recorder, id string) string {
	t.Helper()
	out := ev.Node(t, id).Outputs
	var kept run.Vars
	for _, v := range out {
		if v.Name != "__usage" {
			kept = append(kept, v)
		}
	}
	return sharedtest.JSON(t, kept)
}

func TestExtractorPromptModeCoercesTypes(t *testing.T) {
	t.Parallel()
	fake := newFake(t, say(`Sure! {"city": "Oslo", "days": 3, "tags": ["a", 1, "b"], "scores": ["1.5", 2, true, "x"], "urgent": 1, "level": "high"} hope it helps`))
	e := engine(t, fake.config())
	info, ev := runDoc(t, e, extractorDoc("prompt"), map[string]any{"q": "3 days in Oslo", "n": 2})
	wantStatus(t, info, run.StatusSucceeded)
	// Valid types pass validation; arrays keep the elements of their
	// element type, numbers in strings are parsed, booleans count as 1/0.
	want := `{"__is_success":0,"__reason":"Invalid value for parameter tags, expected segment type: array[string], actual_type: array[any], python_type: \u003cclass 'list'\u003e, value: ['a', 1, 'b']","city":"Oslo","days":3,"tags":["a","b"],"scores":[1.5,2,1],"urgent":true,"level":"high"}`
	if got := outputsJSON(t, ev, "ex"); got != want {
		t.Fatalf("outputs\n got %s\nwant %s", got, want)
	}
	r := fake.requests()[0]
	if r.Req.Stream || len(r.Req.Tools) != 0 {
		t.Fatalf("stream %v tools %v", r.Req.Stream, r.Req.Tools)
	}
	msgs := r.Req.Messages
	roles := []string{}
	for _, m := range msgs {
		roles = append(roles, m.Role)
	}
	// System, two few-shot exchanges, then the query.
	sharedtest.EqualLines(t, roles, []string{"system", "user", "assistant", "user", "assistant", "user"})
	if !strings.Contains(msgs[0].Content, "Answer for 2 people") {
		t.Fatalf("instruction missing from:\n%s", msgs[0].Content)
	}
	last := msgs[len(msgs)-1].Content
	schema := `{"type": "object", "properties": {"city": {"description": "the city", "type": "string"}, "days": {"description": "how many days", "type": "number"}, "tags": {"description": "tags", "type": "array", "items": {"type": "string"}}, "scores": {"description": "scores", "type": "array", "items": {"type": "number"}}, "urgent": {"description": "is it urgent", "type": "boolean"}, "level": {"description": "level", "type": "string", "enum": ["low", "high"]}}, "required": ["city", "days"]}`
	if !strings.Contains(last, schema) || !strings.Contains(last, "<text>\n3 days in Oslo\n</text>") {
		t.Fatalf("user message:\n%s", last)
	}
	usage := get(t, ev.Node(t, "ex").Outputs, "__usage").(map[string]any)
	if usage["total_tokens"] != int64(8) || info.TotalTokens != 8 {
		t.Fatalf("usage %v, run tokens %d", usage, info.TotalTokens)
	}
}

func TestExtractorValidAnswer(t *testing.T) {
	t.Parallel()
	fake := newFake(t, say("```json\n", `{"city": "Oslo", "days": "2.5", "tags": [], "scores": [1], "urgent": false, "level": "low"}`, "\n```"))
	e := engine(t, fake.config())
	info, ev := runDoc(t, e, extractorDoc("prompt"), map[string]any{"q": "x"})
	wantStatus(t, info, run.StatusSucceeded)
	// "2.5" is not a number: validation fails, the transform still parses it.
	want := `{"__is_success":0,"__reason":"Invalid value for parameter days, expected segment type: number, actual_type: string, python_type: \u003cclass 'str'\u003e, value: 2.5","city":"Oslo","days":2.5,"tags":[],"scores":[1],"urgent":false,"level":"low"}`
	if got := outputsJSON(t, ev, "ex"); got != want {
		t.Fatalf("outputs\n got %s\nwant %s", got, want)
	}

	fake = newFake(t, say(`{"city": "Oslo", "days": 2, "tags": ["x"], "scores": [], "urgent": true, "level": "low"}`))
	e = engine(t, fake.config())
	info, ev = runDoc(t, e, extractorDoc("prompt"), map[string]any{"q": "x"})
	wantStatus(t, info, run.StatusSucceeded)
	want = `{"__is_success":1,"__reason":null,"city":"Oslo","days":2,"tags":["x"],"scores":[],"urgent":true,"level":"low"}`
	if got := outputsJSON(t, ev, "ex"); got != want {
		t.Fatalf("outputs\n got %s\nwant %s", got, want)
	}
	if sharedtest.JSON(t, info.Outputs) != `{"o0":2,"o1":1}` {
		t.Fatalf("run outputs %s", sharedtest.JSON(t, info.Outputs))
	}
}

func TestExtractorNoJSON(t *testing.T) {
	t.Parallel()
	fake := newFake(t, say("I don't know."))
	e := engine(t, fake.config())
	info, ev := runDoc(t, e, extractorDoc("prompt"), map[string]any{"q": "x"})
	wantStatus(t, info, run.StatusSucceeded)
	// The default result lacks the array parameters: the count check wins.
	want := `{"__is_success":0,"__reason":"Invalid number of parameters","city":"","days":0,"tags":[],"scores":[],"urgent":false,"level":""}`
	if got := outputsJSON(t, ev, "ex"); got != want {
		t.Fatalf("outputs\n got %s\nwant %s", got, want)
	}
}

func TestExtractorFunctionCall(t *testing.T) {
	t.Parallel()
	fake := newFake(t, func(int, *received) reply {
		return reply{ToolCalls: []openai.ToolCall{{ID: "call_1", Type: "function", Function: openai.FunctionCall{Name: "extract_parameters",
			Arguments: `{"city": "Rome", "days": 4, "tags": ["art"], "scores": [9], "urgent": true, "level": "high"}`}}}}
	})
	e := engine(t, fake.config())
	info, ev := runDoc(t, e, extractorDoc("function_call"), map[string]any{"q": "4 days of art in Rome"})
	wantStatus(t, info, run.StatusSucceeded)
	want := `{"__is_success":1,"__reason":null,"city":"Rome","days":4,"tags":["art"],"scores":[9],"urgent":true,"level":"high"}`
	if got := outputsJSON(t, ev, "ex"); got != want {
		t.Fatalf("outputs\n got %s\nwant %s", got, want)
	}
	r := fake.requests()[0]
	if len(r.Req.Tools) != 1 || r.Req.Tools[0].Function.Name != "extract_parameters" {
		t.Fatalf("tools %+v", r.Req.Tools)
	}
	params, _ := r.Body["tools"].([]any)[0].(map[string]any)["function"].(map[string]any)["parameters"].(map[string]any)
	if !reflect.DeepEqual(params["required"], []any{"city", "days"}) {
		t.Fatalf("tool parameters %v", params)
	}
	msgs := r.Req.Messages
	if len(msgs) != 10 || msgs[2].Role != "assistant" || len(msgs[2].ToolCalls) != 1 || msgs[3].Role != "tool" || msgs[3].ToolCallID != msgs[2].ToolCalls[0].ID {
		t.Fatalf("messages %+v", msgs)
	}
	if !strings.Contains(msgs[9].Content, "<context>\n4 days of art in Rome\n</context>") {
		t.Fatalf("last message %q", msgs[9].Content)
	}
	tc := get(t, ev.Node(t, "ex").ProcessData, "tool_call").(map[string]any)
	if tc["id"] != "call_1" {
		t.Fatalf("process_data.tool_call %v", tc)
	}

	// An upstream without tools gets the prompt instead.
	cfg := fake.config()
	cfg.Providers["openai"] = Provider{BaseURL: fake.URL + "/v1", NoToolCalls: true}
	e = engine(t, cfg)
	runDoc(t, e, extractorDoc("function_call"), map[string]any{"q": "x"})
	if r := fake.requests()[1]; len(r.Req.Tools) != 0 {
		t.Fatal("tools sent to an upstream without tool calls")
	}
}

func TestExtractorModelFailure(t *testing.T) {
	t.Parallel()
	fake := newFake(t, func(int, *received) reply { return reply{Status: 500, Body: "boom"} })
	e := engine(t, fake.config())
	info, ev := runDoc(t, e, extractorDoc("prompt"), map[string]any{"q": "x"})
	wantStatus(t, info, run.StatusFailed)
	rec := ev.Node(t, "ex")
	if rec.ErrorType != "InvokeServerUnavailableError" || sharedtest.JSON(t, rec.Outputs) != `{"__is_success":0,"__reason":"Failed to invoke model","__error":"[openai] Server Unavailable Error, Error code: 500 - boom"}` {
		t.Fatalf("%s: %s", rec.ErrorType, sharedtest.JSON(t, rec.Outputs))
	}
}

func TestExtractorRejectsBadParameters(t *testing.T) {
	t.Parallel()
	e := engine(t, Config{})
	for _, p := range []string{`{name: __reason, type: string}`, `{name: x, type: file}`, `{name: "", type: string}`} {
		src := sharedtest.Graph([]string{startNode, `{id: ex, data: {type: parameter-extractor, title: ex, model: {provider: openai, name: m, mode: chat}, query: [start, q], parameters: [` + p + `]}}`}, "start->ex")
		if _, err := e.Compile([]byte(src)); err == nil {
			t.Errorf("%s compiled", p)
		}
	}
}

func TestPyDumps(t *testing.T) {
	t.Parallel()
	got := pyDumps(obj{{"a", "é\"\n"}, {"b", []any{int64(1), 2.0, 1e20, nil, true}}, {"c", map[string]any{"z": 1, "y": "🙂"}}}, true)
	want := `{"a": "\u00e9\"\n", "b": [1, 2.0, 1e+20, null, true], "c": {"y": "\ud83d\ude42", "z": 1}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := pyDumps([]any{"é"}, false); got != `["é"]` {
		t.Fatal(got)
	}
}
