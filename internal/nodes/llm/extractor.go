package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/run"
)

// The parameter-extractor prompts follow the layout of Dify's
// (parameter_extractor/prompts.py): the same messages in the same places,
// few-shot examples before the last user message, the same JSON schema;
// the wording is flowrun's own.
const (
	extractFunctionName = "extract_parameters"

	fcSystemPrompt = "You extract structured data from text by calling the `" + extractFunctionName + "` function.\n" +
		"### Task\nAlways answer with a call to `" + extractFunctionName + "`, filling its arguments from the text you are given.\n" +
		"### Memory\nEarlier conversation, inside <histories></histories> tags:\n<histories>\n{histories}\n</histories>\n" +
		"### Instructions\nFollow these extra instructions as closely as you can:\n<instruction>\n{instruction}\n</instruction>\n" +
		"### Steps\n1. Read the earlier conversation, if any.\n" +
		"2. Find what each parameter asks for; give several values when the text holds several.\n" +
		"3. Call the function with well-formed JSON arguments and no XML tags.\n"

	fcUserTemplate = "Extract the structured information from the text inside <context></context> by calling the function " +
		extractFunctionName + " with arguments that follow the structure inside <structure></structure>.\n" +
		"<context>\n{content}\n</context>\n\n<structure>\n{structure}\n</structure>\n"

	jsonSystemPrompt = "Always answer with one valid JSON object whose structure is given in the user's message.\n\n" +
		"### Memory\nEarlier conversation, inside <histories></histories> tags:\n<histories>\n{histories}\n</histories>\n\n" +
		"### Instructions\nFollow these extra instructions as closely as you can:\n<instructions>\n{instruction}\n</instructions>\n"

	jsonUserTemplate = "### Structure\nThe JSON object must follow this structure:\n<structure>\n{structure}\n</structure>\n\n" +
		"### Text\nConvert the text inside <text></text> into that JSON object:\n<text>\n{text}\n</text>\n"

	jsonCompletionPrompt = "### Instructions\nFollow these extra instructions as closely as you can:\n<instructions>\n{instruction}\n</instructions>\n\n" +
		"### Task\nExtract the information described inside <structure></structure> from the text inside <text></text> and output it as one JSON object.\n" +
		"<structure>\n{structure}\n</structure>\n\n" +
		"### Memory\n<histories>\n{histories}\n</histories>\n\n" +
		"### Text\n<text>\n{text}\n</text>\n\n" +
		"### Answer\nOutput only the JSON object.\n"
)

// extractExample is one few-shot example.
type extractExample struct {
	query  string
	schema obj
	args   obj
}

var extractExamples = []extractExample{
	{
		query:  "Remind me to call Ana tomorrow morning.",
		schema: obj{{"type", "object"}, {"properties", obj{{"name", obj{{"type", "string"}, {"description", "Who to call"}}}}}, {"required", []any{"name"}}},
		args:   obj{{"name", "Ana"}},
	},
	{
		query:  "Please send the quarterly report to the finance team.",
		schema: obj{{"type", "object"}, {"properties", obj{{"recipient", obj{{"type", "string"}, {"description", "Who receives the document"}}}}}, {"required", []any{"recipient"}}},
		args:   obj{{"recipient", "the finance team"}},
	},
}

// extractParam is one declared parameter (Dify's ParameterConfig).
type extractParam struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Options     []string `json:"options"`
	Description string   `json:"description"`
	Required    bool     `json:"required"`
}

type extractorData struct {
	Model         modelConfig    `json:"model"`
	Query         run.Selector   `json:"query"`
	Parameters    []extractParam `json:"parameters"`
	Instruction   string         `json:"instruction"`
	Memory        *memoryConfig  `json:"memory"`
	ReasoningMode string         `json:"reasoning_mode"`
}

type extractorNode struct {
	modelNode
	query       run.Selector
	parameters  []extractParam
	instruction string
	instr       run.Template
	function    bool
	schema      obj
	memory      *memoryConfig
}

// paramTypes maps the accepted parameter types to Dify's segment types
// (legacy "bool" and "select" included).
var paramTypes = map[string]string{
	"string": "string", "number": "number", "boolean": "boolean",
	"array[string]": "array[string]", "array[number]": "array[number]",
	"array[object]": "array[object]", "array[boolean]": "array[boolean]",
	"bool": "boolean", "select": "string",
}

func buildExtractor(cfg *Config, b *run.Build) (run.Executor, error) {
	var d extractorData
	if err := b.Decode(&d); err != nil {
		return nil, err
	}
	n := &extractorNode{modelNode: newModelNode(cfg, b, d.Model), instruction: d.Instruction, memory: d.Memory}
	if n.memory != nil {
		n.memory.need(b, true)
	}
	if len(d.Query) > 0 {
		n.query = b.Selector("query", d.Query)
	}
	n.instr = b.Template("instruction", d.Instruction)
	for i, p := range d.Parameters {
		t, ok := paramTypes[p.Type]
		switch {
		case p.Name == "":
			b.Errorf("parameters[%d]: Parameter name is required", i)
		case p.Name == "__reason" || p.Name == "__is_success":
			b.Errorf("parameters[%d]: Invalid parameter name, __reason and __is_success are reserved", i)
		case !ok:
			b.Errorf("parameters[%d]: type %s is not allowed in a Parameter Extractor node", i, p.Type)
		}
		p.Type = t
		n.parameters = append(n.parameters, p)
	}
	n.schema = parameterSchema(n.parameters)
	mode := d.ReasoningMode
	if mode == "" {
		mode = "function_call"
	}
	// Dify calls the function only when the model supports tool calls;
	// completion-mode models do not.
	n.function = mode == "function_call" && d.Model.Mode != "completion" && n.model != nil && !n.model.prov.NoToolCalls
	return n, nil
}

// parameterSchema is Dify's get_parameter_json_schema.
func parameterSchema(ps []extractParam) obj {
	props := obj{}
	required := []any{}
	for _, p := range ps {
		s := obj{{"description", p.Description}}
		if elem, ok := strings.CutPrefix(p.Type, "array["); ok {
			s = append(s, kv{"type", "array"}, kv{"items", obj{{"type", strings.TrimSuffix(elem, "]")}}})
		} else {
			s = append(s, kv{"type", p.Type})
		}
		if len(p.Options) > 0 {
			opts := make([]any, len(p.Options))
			for i, o := range p.Options {
				opts[i] = o
			}
			s = append(s, kv{"enum", opts})
		}
		props = append(props, kv{p.Name, s})
		if p.Required {
			required = append(required, p.Name)
		}
	}
	return obj{{"type", "object"}, {"properties", props}, {"required", required}}
}

// plainText expands a prompt built from fixed text and the user's query
// as Dify's AdvancedPromptTransform does in these nodes: "{{#context#}}"
// is removed and variable references, resolved against no variables, lose
// their braces.
func plainText(s string) string {
	return run.ParseTemplate(strings.ReplaceAll(s, "{{#context#}}", "")).Text(run.NewPool(nil))
}

func fill(tpl string, pairs ...string) string {
	return strings.NewReplacer(pairs...).Replace(tpl)
}

// messages builds the prompt for the configured reasoning mode, with hist
// (the conversation so far as Human:/Assistant: lines) in the histories
// slot.
func (n *extractorNode) messages(query, instruction, hist string) ([]openai.Message, []openai.Tool) {
	structure := pyDumps(n.schema, true)
	if n.function {
		sys := plainText(fill(fcSystemPrompt, "{histories}", hist, "{instruction}", instruction))
		user := plainText(fill(fcUserTemplate, "{content}", query, "{structure}", structure))
		msgs := []openai.Message{{Role: "system", Content: sys}}
		for i, ex := range extractExamples {
			id := fmt.Sprintf("call_example_%d", i+1)
			args, _ := json.Marshal(ex.args)
			msgs = append(msgs,
				openai.Message{Role: "user", Content: ex.query},
				openai.Message{Role: "assistant", Content: "I call the function with the parameters found in the text.",
					ToolCalls: []openai.ToolCall{{ID: id, Type: "function", Function: openai.FunctionCall{Name: extractFunctionName, Arguments: string(args)}}}},
				openai.Message{Role: "tool", Content: "The function was called with correct arguments.", ToolCallID: id},
				openai.Message{Role: "assistant", Content: "The parameters are extracted."},
			)
		}
		msgs = append(msgs, openai.Message{Role: "user", Content: user})
		tool := openai.Tool{Type: "function", Function: openai.Function{Name: extractFunctionName, Description: "Extract parameters from the text", Parameters: n.schema}}
		return msgs, []openai.Tool{tool}
	}
	if n.mc.Mode == "completion" {
		text := fill(jsonCompletionPrompt, "{instruction}", instruction, "{structure}", structure, "{histories}", hist, "{text}", query)
		return []openai.Message{{Role: "user", Content: plainText(text)}}, nil
	}
	msgs := []openai.Message{{Role: "system", Content: plainText(fill(jsonSystemPrompt, "{histories}", hist, "{instruction}", instruction))}}
	for _, ex := range extractExamples {
		msgs = append(msgs,
			openai.Message{Role: "user", Content: fill(jsonUserTemplate, "{structure}", pyDumps(ex.schema, true), "{text}", ex.query)},
			openai.Message{Role: "assistant", Content: pyDumps(ex.args, true)},
		)
	}
	user := plainText(fill(jsonUserTemplate, "{structure}", structure, "{text}", query))
	return append(msgs, openai.Message{Role: "user", Content: user}), nil
}

// budgetPrompt is the prompt Dify's _calculate_rest_token counts to size
// the memory: the template, without histories or few-shot examples, of
// the function-calling prompt when the model can call tools, else of the
// prompt-engineering one; the query is dressed as the function-calling
// user message only on that path.
func (n *extractorNode) budgetPrompt(query, instruction string) []openai.Message {
	if n.function {
		query = fill(fcUserTemplate, "{content}", query, "{structure}", pyDumps(n.schema, true))
	}
	switch {
	case n.mc.Mode == "completion":
		msgs, _ := n.messages(query, instruction, "")
		return msgs
	case !n.model.prov.NoToolCalls:
		return []openai.Message{
			{Role: "system", Content: plainText(fill(fcSystemPrompt, "{histories}", "", "{instruction}", instruction))},
			{Role: "user", Content: plainText(query)},
		}
	}
	return []openai.Message{
		{Role: "system", Content: plainText(fill(jsonSystemPrompt, "{histories}", "", "{instruction}", instruction))},
		{Role: "user", Content: plainText(query)},
	}
}

// Execute asks the model for the parameters and returns them coerced to
// their declared types, with __is_success, __reason and __usage, as Dify's
// ParameterExtractorNode does. A model answer that does not fit the
// declaration still succeeds, with __is_success 0 and the reason.
func (n *extractorNode) Execute(ctx context.Context, x *run.Exec) (*run.Result, error) {
	query := ""
	if n.query != nil {
		if v, ok := x.Pool.Get(n.query); ok {
			query = run.Text(v)
		}
	}
	declared := make([]any, len(n.parameters))
	for i, p := range n.parameters {
		opts := make([]any, len(p.Options))
		for j, o := range p.Options {
			opts[j] = o
		}
		declared[i] = map[string]any{"name": p.Name, "type": p.Type, "options": opts, "description": p.Description, "required": p.Required}
	}
	inputs := run.Vars{{Name: "query", Value: query}, {Name: "files", Value: []any{}}, {Name: "parameters", Value: declared}, {Name: "instruction", Value: n.instruction}}
	if n.modelErr != nil {
		return &run.Result{Inputs: inputs}, n.modelErr
	}
	instr := n.instr.Text(x.Pool)
	hist := ""
	if history := x.History(); n.memory != nil && history != nil {
		// Dify adds 1000 tokens to the counted prompt for the tool-call
		// messages.
		used := n.cfg.tokens(n.budgetPrompt(query, instr)) + 1000
		hist = n.cfg.memoryText(history, n.memory.limit(true), n.restTokens(used), "Human", "Assistant")
	}
	msgs, tools := n.messages(query, instr, hist)
	function := any(map[string]any{})
	if len(tools) > 0 {
		function = map[string]any{"name": tools[0].Function.Name, "description": tools[0].Function.Description, "parameters": n.schema.toMap()}
	}
	process := run.Vars{
		{Name: "model_mode", Value: n.mc.Mode},
		{Name: "prompts", Value: savedPrompts(n.mc.Mode != "completion", msgs)},
		{Name: "usage", Value: nil},
		{Name: "function", Value: function},
		{Name: "tool_call", Value: nil},
		{Name: "model_provider", Value: n.mc.Provider},
		{Name: "model_name", Value: n.mc.Name},
	}
	params := n.params
	if u := userID(x.Pool); u != "" {
		params = withParams(params, map[string]any{"user": u})
	}
	comp, err := n.cfg.invoke(ctx, n.model, &openai.ChatRequest{Messages: msgs, Tools: tools, Params: params}, nil)
	if err != nil {
		if ctx.Err() != nil {
			return &run.Result{Inputs: inputs, ProcessData: process}, err
		}
		out := run.Vars{{Name: "__is_success", Value: int64(0)}, {Name: "__reason", Value: "Failed to invoke model"}, {Name: "__error", Value: err.Error()}}
		return &run.Result{Inputs: inputs, ProcessData: process, Outputs: out}, err
	}
	var call *openai.ToolCall
	if len(comp.res.ToolCalls) > 0 {
		call = &comp.res.ToolCalls[0]
	}
	process = process.With("usage", comp.usage)
	if call != nil {
		process = process.With("tool_call", map[string]any{"id": call.ID, "type": "function", "function": map[string]any{"name": call.Function.Name, "arguments": call.Function.Arguments}})
	}
	process = append(process, run.Var{Name: "llm_text", Value: comp.text})

	var (
		result map[string]any
		reason any
	)
	if call != nil {
		result = firstJSONObject(call.Function.Arguments)
	} else {
		result = firstJSONObject(comp.text)
		if len(result) == 0 {
			result = n.defaultResult()
			reason = "Failed to extract result from function call or text response, using empty result."
		}
	}
	if result == nil {
		result = map[string]any{}
	}
	if err := n.validate(result); err != nil {
		reason = err.Error()
	}
	success := int64(1)
	if reason != nil {
		success = 0
	}
	out := run.Vars{{Name: "__is_success", Value: success}, {Name: "__reason", Value: reason}, {Name: "__usage", Value: comp.usage}}
	out = append(out, n.transform(result)...)
	return &run.Result{Inputs: inputs, ProcessData: process, Outputs: out, Metadata: metadata(comp.tokens), Tokens: comp.tokens}, nil
}

// firstJSONObject finds the first JSON object in text, as Dify's
// _extract_complete_json_response scans for the first parseable JSON
// value (flowrun keeps it only when it is an object).
func firstJSONObject(text string) map[string]any {
	for i := 0; i < len(text); i++ {
		if text[i] != '{' && text[i] != '[' {
			continue
		}
		s := balanced(text[i:])
		if len(s) == 0 || (s[len(s)-1] != '}' && s[len(s)-1] != ']') {
			continue
		}
		v, err := decodeJSON(s)
		if err != nil {
			continue
		}
		m, _ := v.(map[string]any)
		return m
	}
	return nil
}

// defaultResult is Dify's _generate_default_result: zero values for the
// scalar parameters (array parameters are left out).
func (n *extractorNode) defaultResult() map[string]any {
	out := map[string]any{}
	for _, p := range n.parameters {
		switch p.Type {
		case "number":
			out[p.Name] = int64(0)
		case "boolean":
			out[p.Name] = false
		case "string":
			out[p.Name] = ""
		}
	}
	return out
}

// validate is Dify's _validate_result; the error's text becomes __reason.
func (n *extractorNode) validate(result map[string]any) error {
	if len(n.parameters) != len(result) {
		return errors.New("Invalid number of parameters") //nolint:staticcheck // Dify's message
	}
	for _, p := range n.parameters {
		v, ok := result[p.Name]
		if p.Required && !ok {
			return fmt.Errorf("Parameter %s is required", p.Name) //nolint:staticcheck // Dify's message
		}
		if !validValue(p.Type, v) {
			return fmt.Errorf("Invalid value for parameter %s, expected segment type: %s, actual_type: %s, python_type: %s, value: %s", //nolint:staticcheck // Dify's message
				p.Name, p.Type, segmentType(v), py.Class(v), py.Str(v))
		}
		if p.Type == "string" && len(p.Options) > 0 {
			s, _ := v.(string)
			if !contains(p.Options, s) {
				return fmt.Errorf("Invalid `select` value for parameter %s", p.Name) //nolint:staticcheck // Dify's message
			}
		}
	}
	return nil
}

func validValue(typ string, v any) bool {
	switch typ {
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		switch v.(type) {
		case int64, float64, bool: // a Python bool is an int
			return true
		}
		return false
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	}
	if elem, ok := strings.CutPrefix(typ, "array["); ok {
		list, ok := v.([]any)
		if !ok {
			return false
		}
		elem = strings.TrimSuffix(elem, "]")
		for _, e := range list {
			if !validValue(elem, e) {
				return false
			}
		}
		return true
	}
	return false
}

// transform is Dify's _transform_result: each declared parameter coerced
// to its type, or its zero value.
func (n *extractorNode) transform(result map[string]any) run.Vars {
	out := make(run.Vars, 0, len(n.parameters))
	for _, p := range n.parameters {
		var val any
		if v, ok := result[p.Name]; ok {
			switch p.Type {
			case "number":
				val = toNumber(v)
			case "boolean":
				switch x := v.(type) {
				case bool:
					val = x
				case int64:
					val = x != 0
				}
			case "string":
				if s, ok := v.(string); ok {
					val = s
				}
			default:
				if list, ok := v.([]any); ok {
					val = transformList(strings.TrimSuffix(strings.TrimPrefix(p.Type, "array["), "]"), list)
				}
			}
		}
		if val == nil {
			switch p.Type {
			case "string":
				val = ""
			case "number":
				val = int64(0)
			case "boolean":
				val = false
			default:
				val = []any{}
			}
		}
		out = append(out, run.Var{Name: p.Name, Value: val})
	}
	return out
}

func transformList(elem string, list []any) []any {
	out := []any{}
	for _, e := range list {
		switch elem {
		case "number":
			if x := toNumber(e); x != nil {
				out = append(out, x)
			}
		case "string":
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		case "object":
			if m, ok := e.(map[string]any); ok {
				out = append(out, m)
			}
		case "boolean":
			if b, ok := e.(bool); ok {
				out = append(out, b)
			}
		}
	}
	return out
}

// toNumber is Dify's _transform_number: booleans become 0/1, numeric
// strings are parsed (a "." makes a float), anything else is nil.
func toNumber(v any) any {
	switch x := v.(type) {
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case int64, float64:
		return x
	case string:
		s := strings.TrimSpace(x)
		if strings.Contains(s, ".") {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return f
			}
			return nil
		}
		if i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64); err == nil {
			return i
		}
	}
	return nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// segmentType names v's type as Dify's SegmentType.infer_segment_type.
func segmentType(v any) string {
	switch v.(type) {
	case nil:
		return "none"
	case string:
		return "string"
	case bool:
		return "boolean"
	case int64:
		return "integer"
	case float64:
		return "float"
	case map[string]any:
		return "object"
	case []any:
		return "array[any]"
	}
	return "none"
}
