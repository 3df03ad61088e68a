package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/run"
)

// The question-classifier prompt follows the layout of Dify's
// (question_classifier/template_prompts.py): a system message, two
// few-shot exchanges whose answers are JSON with keywords, category_id and
// category_name, then the input; the wording and examples are flowrun's
// own.
const (
	classifySystemPrompt = "\n    ### Role\n" +
		"    You are a text classifier: you read a text and assign it exactly one of the given categories.\n" +
		"    ### Task\n" +
		"    Choose the single category that fits the input text best, and list the key words of the text that led to the choice.\n" +
		"    ### Input\n" +
		"    The text is in the field input_text. The categories are in the field categories, each with a category_id and a category_name. The field classification_instructions may hold extra guidance.\n" +
		"    ### Output\n" +
		"    Answer with one JSON object holding keywords, category_id and category_name, and nothing else.\n" +
		"    ### Memory\n" +
		"    Earlier conversation, inside <histories></histories> tags:\n" +
		"    <histories>\n    {histories}\n    </histories>\n"

	classifyUser1 = "\n    {\"input_text\": [\"The checkout page keeps timing out when I try to pay.\"],\n" +
		"    \"categories\": [{\"category_id\":\"3f1c2a9e-1b7d-4c55-9a60-2f0e8d1b7c11\",\"category_name\":\"Billing\"},{\"category_id\":\"8b2e4d70-5c3a-4f19-b6e2-91d0a7c4e532\",\"category_name\":\"Technical issue\"},{\"category_id\":\"c7a95f08-2d64-4e8b-8f31-5b6d0e9a2f47\",\"category_name\":\"Feedback\"}],\n" +
		"    \"classification_instructions\": [\"route support tickets by topic\"]}\n"
	classifyAssistant1 = "\n```json\n    {\"keywords\": [\"checkout page\", \"timing out\", \"pay\"],\n" +
		"    \"category_id\": \"8b2e4d70-5c3a-4f19-b6e2-91d0a7c4e532\",\n    \"category_name\": \"Technical issue\"}\n```\n"
	classifyUser2 = "\n    {\"input_text\": [\"Loved the new dashboard, it is so much faster\"],\n" +
		"    \"categories\": [{\"category_id\":\"d2f6b1a4-7e0c-4a9d-8b53-6c1e2f7a0d98\",\"category_name\":\"Complaint\"},{\"category_id\":\"5e9a3c17-0b8f-4d26-a4e1-7f2c9b6d3e05\",\"category_name\":\"Praise\"},{\"category_id\":\"a04d7e62-9c1b-4f38-b2a7-e85f1c3d6b90\",\"category_name\":\"Question\"}],\n" +
		"    \"classification_instructions\": []}\n"
	classifyAssistant2 = "\n```json\n    {\"keywords\": [\"loved\", \"new dashboard\", \"faster\"],\n" +
		"    \"category_id\": \"5e9a3c17-0b8f-4d26-a4e1-7f2c9b6d3e05\",\n    \"category_name\": \"Praise\"}\n```\n"
	classifyUser3 = "\n    {\"input_text\": [\"{input_text}\"],\n" +
		"    \"categories\": {categories},\n" +
		"    \"classification_instructions\": [\"{classification_instructions}\"]}\n"

	classifyCompletionPrompt = "\n### Role\nYou are a text classifier: you read a text and assign it exactly one of the given categories.\n" +
		"### Task\nChoose the single category that fits the input text best, and list the key words of the text that led to the choice.\n" +
		"### Output\nAnswer with one JSON object holding keywords, category_id and category_name, and nothing else.\n" +
		"### Example\n<example>\nUser:" + `{"input_text": ["Loved the new dashboard, it is so much faster"], "categories": [{"category_id":"d2f6b1a4-7e0c-4a9d-8b53-6c1e2f7a0d98","category_name":"Complaint"},{"category_id":"5e9a3c17-0b8f-4d26-a4e1-7f2c9b6d3e05","category_name":"Praise"}], "classification_instructions": []}` +
		"\nAssistant:" + `{"keywords": ["loved", "new dashboard", "faster"],"category_id": "5e9a3c17-0b8f-4d26-a4e1-7f2c9b6d3e05","category_name": "Praise"}` +
		"\n</example>\n### Memory\n<histories>\n{histories}\n</histories>\n" +
		"### User Input\n{\"input_text\" : [\"{input_text}\"], \"categories\" : {categories},\"classification_instruction\" : [\"{classification_instructions}\"]}\n" +
		"### Assistant Output\n"
)

// flexString accepts a JSON string or number (class ids are sometimes
// written unquoted in hand-made DSLs).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case string:
		*f = flexString(x)
	case float64:
		*f = flexString(pyFloatInt(x))
	case nil:
		*f = ""
	default:
		return fmt.Errorf("want a string, got %s", b)
	}
	return nil
}

func pyFloatInt(f float64) string {
	if f == float64(int64(f)) {
		return fmt.Sprint(int64(f))
	}
	return py.FloatJSON(f)
}

type classifierClass struct {
	ID   flexString `json:"id"`
	Name string     `json:"name"`
}

type classifierData struct {
	Model                 modelConfig       `json:"model"`
	QueryVariableSelector run.Selector      `json:"query_variable_selector"`
	Classes               []classifierClass `json:"classes"`
	Instruction           string            `json:"instruction"`
	Memory                *memoryConfig     `json:"memory"`
}

type classifierNode struct {
	modelNode
	query   run.Selector
	classes []classifierClass
	instr   run.Template
	memory  *memoryConfig
}

func buildClassifier(cfg *Config, b *run.Build) (run.Executor, error) {
	var d classifierData
	if err := b.Decode(&d); err != nil {
		return nil, err
	}
	n := &classifierNode{modelNode: newModelNode(cfg, b, d.Model), classes: d.Classes, memory: d.Memory}
	if n.memory != nil {
		n.memory.need(b, true)
	}
	if len(d.QueryVariableSelector) > 0 {
		n.query = b.Selector("query_variable_selector", d.QueryVariableSelector)
	}
	n.instr = b.Template("instruction", d.Instruction)
	if len(d.Classes) == 0 {
		b.Errorf("classes: a question classifier needs at least one class")
		return nil, errors.New("no classes")
	}
	return n, nil
}

// messages builds the prompt as Dify's QuestionClassifierNode does, with
// hist (the conversation so far as Human:/Assistant: lines) in the
// histories slot. The classification message is the last one: Dify 1.12
// passes an empty sys_query so that no second user message follows it.
func (n *classifierNode) messages(pool *run.Pool, query, instruction, hist string) []openai.Message {
	msgs := n.template(pool, query, instruction, hist)
	if n.mc.Mode == "completion" {
		// fetch_prompt_messages puts its own (empty) histories first,
		// after a newline.
		msgs[0].Content = "\n" + msgs[0].Content
	}
	return msgs
}

// template is the classifier's prompt template, rendered.
func (n *classifierNode) template(pool *run.Pool, query, instruction, hist string) []openai.Message {
	cats := make([]any, len(n.classes))
	for i, c := range n.classes {
		cats[i] = obj{{"category_id", string(c.ID)}, {"category_name", c.Name}}
	}
	if n.mc.Mode == "completion" {
		text := fill(classifyCompletionPrompt, "{histories}", hist, "{input_text}", query,
			"{categories}", pyDumps(cats, true), "{classification_instructions}", instruction)
		return []openai.Message{{Role: "user", Content: run.ParseTemplate(text).Text(pool)}}
	}
	raw := []openai.Message{
		{Role: "system", Content: fill(classifySystemPrompt, "{histories}", hist)},
		{Role: "user", Content: classifyUser1},
		{Role: "assistant", Content: classifyAssistant1},
		{Role: "user", Content: classifyUser2},
		{Role: "assistant", Content: classifyAssistant2},
		{Role: "user", Content: fill(classifyUser3, "{input_text}", query, "{categories}", pyDumps(cats, false), "{classification_instructions}", instruction)},
	}
	out := raw[:0]
	for _, m := range raw {
		m.Content = run.ParseTemplate(m.Content).Text(pool)
		if m.Content != "" {
			out = append(out, m)
		}
	}
	return out
}

// Execute asks the model for the category and routes to it: the node's
// handle is the chosen class id. An answer naming no known class selects
// the first class; an answer with no JSON fails the node, as in Dify.
func (n *classifierNode) Execute(ctx context.Context, x *run.Exec) (*run.Result, error) {
	var qv any
	if n.query != nil {
		qv, _ = x.Pool.Get(n.query)
	}
	query := ""
	if qv != nil {
		query = run.Text(qv)
	}
	inputs := run.Vars{{Name: "query", Value: qv}}
	if n.modelErr != nil {
		return &run.Result{Inputs: inputs}, n.modelErr
	}
	instr := n.instr.Text(x.Pool)
	hist := ""
	if history := x.History(); n.memory != nil && history != nil {
		// The budget leaves room for the prompt without histories.
		used := n.cfg.tokens(n.template(x.Pool, query, instr, ""))
		hist = n.cfg.memoryText(history, n.memory.limit(true), n.restTokens(used), "Human", "Assistant")
	}
	msgs := n.messages(x.Pool, query, instr, hist)
	params := n.params
	if u := userID(x.Pool); u != "" {
		params = withParams(params, map[string]any{"user": u})
	}
	comp, err := n.cfg.invoke(ctx, n.model, &openai.ChatRequest{Messages: msgs, Stream: true, Params: params}, nil)
	if err != nil {
		return &run.Result{Inputs: inputs, Metadata: metadata(0)}, err
	}
	res := &run.Result{Inputs: inputs, Metadata: metadata(comp.tokens), Tokens: comp.tokens}
	answer, err := parseJSONMarkdown(comp.text)
	if err != nil {
		return res, err
	}
	chosen := n.classes[0]
	if _, ok := answer["category_name"]; ok {
		if id, ok := answer["category_id"].(string); ok {
			for _, c := range n.classes {
				if string(c.ID) == id {
					chosen = c
					break
				}
			}
		}
	}
	res.ProcessData = run.Vars{
		{Name: "model_mode", Value: n.mc.Mode},
		{Name: "prompts", Value: savedPrompts(n.mc.Mode != "completion", msgs)},
		{Name: "usage", Value: comp.usage},
		{Name: "finish_reason", Value: comp.finish},
		{Name: "model_provider", Value: n.mc.Provider},
		{Name: "model_name", Value: n.mc.Name},
	}
	res.Outputs = run.Vars{{Name: "class_name", Value: chosen.Name}, {Name: "class_id", Value: string(chosen.ID)}, {Name: "usage", Value: comp.usage}}
	res.Handle = string(chosen.ID)
	return res, nil
}

// parseJSONMarkdown finds the JSON in a model answer as Dify's
// parse_and_check_json_markdown does: inside a ```json fence or other
// backticks, else from the first brace or bracket to the last; a list
// holding a single object stands for that object.
func parseJSONMarkdown(text string) (map[string]any, error) {
	s := strings.TrimSpace(text)
	start := -1
	for _, st := range []string{"```json", "```", "``", "`", "{", "["} {
		if i := strings.Index(s, st); i >= 0 {
			start = i
			if s[i] != '{' && s[i] != '[' {
				start += len(st)
			}
			break
		}
	}
	end := -1
	if start >= 0 {
		for _, e := range []string{"```", "``", "`", "}", "]"} {
			if i := strings.LastIndex(s[start:], e); i >= 0 {
				end = start + i
				if s[end] == '}' || s[end] == ']' {
					end++
				}
				break
			}
		}
	}
	if start < 0 || end < 0 || start >= end {
		return nil, fail("ValueError", "could not find json block in the output.")
	}
	v, err := decodeJSON(strings.TrimSpace(s[start:end]))
	if err != nil {
		return nil, fail("OutputParserError", "got invalid json object. error: %v", err)
	}
	switch x := v.(type) {
	case map[string]any:
		return x, nil
	case []any:
		if len(x) == 1 {
			if m, ok := x[0].(map[string]any); ok {
				return m, nil
			}
		}
		return nil, fail("OutputParserError", "got invalid return object. obj:%s", py.Str(x))
	}
	return nil, fail("TypeError", "argument of type '%s' is not iterable", py.TypeName(v))
}
