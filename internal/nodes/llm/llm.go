package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/run"
)

// promptMessage is one entry of a chat prompt_template, or the completion
// template (Dify's LLMNodeChatModelMessage / CompletionModelPromptTemplate).
type promptMessage struct {
	Role        string  `json:"role"`
	Text        string  `json:"text"`
	EditionType string  `json:"edition_type"`
	Jinja2Text  *string `json:"jinja2_text"`
}

// llmData is the llm node's DSL data (Dify's LLMNodeData).
type llmData struct {
	Model          modelConfig     `json:"model"`
	PromptTemplate json.RawMessage `json:"prompt_template"`
	PromptConfig   *struct {
		Jinja2Variables []namedSelector `json:"jinja2_variables"`
	} `json:"prompt_config"`
	Memory  *memoryConfig `json:"memory"`
	Context *struct {
		Enabled          bool         `json:"enabled"`
		VariableSelector run.Selector `json:"variable_selector"`
	} `json:"context"`
	StructuredOutput        map[string]any `json:"structured_output"`
	StructuredOutputEnabled bool           `json:"structured_output_enabled"`
	ReasoningFormat         string         `json:"reasoning_format"`
}

// message is a compiled prompt message.
type message struct {
	role string
	// jinja2 edition: jinja renders it (nil: the template is empty).
	isJinja bool
	jinja   *run.Jinja
	// basic edition: text as written, and parsed.
	text string
	tpl  run.Template
}

// modelNode is what every model-calling node holds: its configured model,
// resolved (or why it cannot be), and the request parameters.
type modelNode struct {
	cfg      *Config
	mc       modelConfig
	model    *model
	modelErr error
	params   map[string]any
}

func newModelNode(cfg *Config, b *run.Build, mc modelConfig) modelNode {
	m := modelNode{cfg: cfg, mc: mc}
	m.model, m.modelErr = cfg.resolve(mc)
	m.params = requestParams(b, mc.CompletionParams)
	return m
}

type llmNode struct {
	modelNode
	// chat is false for a completion template: msgs then holds one user
	// message.
	chat      bool
	msgs      []message
	jinjaVars []namedSelector
	memory    *memoryConfig
	query     run.Template
	ctxSel    run.Selector
	// structured is set when structured_output_enabled and a
	// structured_output block are both present; schema is its "schema".
	structured bool
	schema     map[string]any
	separated  bool
}

var roles = map[string]bool{"system": true, "user": true, "assistant": true}

func buildLLM(cfg *Config, b *run.Build) (run.Executor, error) {
	var d llmData
	if err := b.Decode(&d); err != nil {
		return nil, err
	}
	n := &llmNode{modelNode: newModelNode(cfg, b, d.Model), separated: d.ReasoningFormat == "separated"}
	raw := bytes.TrimSpace(d.PromptTemplate)
	switch {
	case len(raw) > 0 && raw[0] == '[':
		var pms []promptMessage
		if err := json.Unmarshal(raw, &pms); err != nil {
			b.Errorf("prompt_template: %v", err)
			return nil, err
		}
		n.chat = true
		for i, pm := range pms {
			if !roles[pm.Role] {
				b.Errorf("prompt_template[%d]: role %q is not supported", i, pm.Role)
			}
			n.msgs = append(n.msgs, compileMessage(b, fmt.Sprintf("prompt_template[%d]", i), pm))
		}
	case len(raw) > 0 && raw[0] == '{':
		var pm promptMessage
		if err := json.Unmarshal(raw, &pm); err != nil {
			b.Errorf("prompt_template: %v", err)
			return nil, err
		}
		pm.Role = "user"
		n.msgs = []message{compileMessage(b, "prompt_template", pm)}
	default:
		b.Errorf("prompt_template must be a list of chat messages or a completion template")
		return nil, fmt.Errorf("no prompt_template")
	}
	if d.PromptConfig != nil {
		n.jinjaVars = d.PromptConfig.Jinja2Variables
		for i, v := range n.jinjaVars {
			b.Selector(fmt.Sprintf("prompt_config.jinja2_variables[%d].value_selector", i), v.ValueSelector)
		}
	}
	if d.Memory != nil {
		n.memory = d.Memory
		n.query = b.Template("memory.query_prompt_template", d.Memory.QueryPromptTemplate)
		n.memory.need(b, false)
	}
	if d.Context != nil && d.Context.Enabled && len(d.Context.VariableSelector) > 0 {
		n.ctxSel = b.Selector("context.variable_selector", d.Context.VariableSelector)
	}
	if d.StructuredOutputEnabled && d.StructuredOutput != nil {
		n.structured = true
		n.schema, _ = d.StructuredOutput["schema"].(map[string]any)
		if n.schema == nil {
			n.schema = map[string]any{}
		}
		n.schema = run.Normalize(n.schema).(map[string]any)
	}
	return n, nil
}

func compileMessage(b *run.Build, field string, pm promptMessage) message {
	m := message{role: pm.Role, text: pm.Text}
	if pm.EditionType == "jinja2" {
		m.isJinja = true
		if pm.Jinja2Text != nil && *pm.Jinja2Text != "" {
			m.jinja = b.Jinja(field+".jinja2_text", *pm.Jinja2Text)
		}
		return m
	}
	m.tpl = b.Template(field+".text", pm.Text)
	return m
}

// Execute runs the node as Dify's LLMNode._run does: resolve the prompt's
// variables, build the messages, stream the model's answer as it arrives
// (Exec.Stream with [node_id, "text"]) and return text, reasoning_content,
// usage, finish_reason and, when enabled, structured_output.
func (n *llmNode) Execute(ctx context.Context, x *run.Exec) (*run.Result, error) {
	pool := x.Pool
	inputs := run.Vars{}
	for _, m := range n.msgs {
		for _, sel := range m.tpl.Selectors() {
			if _, ok := pool.Get(sel); !ok {
				return &run.Result{Inputs: inputs}, fail("VariableNotFoundError", "Variable #%s# not found", sel.String())
			}
		}
	}
	jvars := make(run.Vars, 0, len(n.jinjaVars))
	for _, v := range n.jinjaVars {
		val, ok := pool.Get(v.ValueSelector)
		if !ok {
			return &run.Result{Inputs: inputs}, fail("VariableNotFoundError", "Variable %s not found", v.Variable)
		}
		jvars = append(jvars, run.Var{Name: v.Variable, Value: val})
	}
	ctxText, resources, err := contextText(pool, n.ctxSel)
	if err != nil {
		return &run.Result{Inputs: inputs, RetrieverResources: resources}, err
	}
	if ctxText != "" {
		inputs = append(inputs, run.Var{Name: "#context#", Value: ctxText})
	}
	if n.modelErr != nil {
		return &run.Result{Inputs: inputs, RetrieverResources: resources}, n.modelErr
	}
	msgs, err := n.messages(ctx, pool, jvars, ctxText, x.History())
	if err != nil {
		return &run.Result{Inputs: inputs, RetrieverResources: resources}, err
	}
	params := n.params
	if u := userID(pool); u != "" {
		params = withParams(params, map[string]any{"user": u})
	}
	prompts := savedPrompts(n.chat, msgs) // before any schema instructions, as Dify records them
	if n.structured {
		if n.model.prov.StructuredOutput == StructuredOutputJSONSchema {
			schema := booleansAsStrings(n.schema)
			params = withParams(params, map[string]any{"response_format": map[string]any{
				"type": "json_schema", "json_schema": map[string]any{"schema": schema, "name": "llm_response"},
			}})
		} else {
			msgs = withSchemaPrompt(msgs, n.schema)
		}
	}
	req := &openai.ChatRequest{Messages: msgs, Stream: true, Params: params}
	comp, err := n.cfg.invoke(ctx, n.model, req, func(piece string) { x.Stream("text", piece) })
	if err != nil {
		return &run.Result{Inputs: inputs, RetrieverResources: resources}, err
	}
	text, reasoning := comp.text, ""
	if n.separated {
		text, reasoning = splitReasoning(text)
	}
	process := run.Vars{
		{Name: "model_mode", Value: n.mc.Mode},
		{Name: "prompts", Value: prompts},
		{Name: "usage", Value: comp.usage},
		{Name: "finish_reason", Value: comp.finish},
		{Name: "model_provider", Value: n.mc.Provider},
		{Name: "model_name", Value: n.mc.Name},
	}
	outputs := run.Vars{
		{Name: "text", Value: text},
		{Name: "reasoning_content", Value: reasoning},
		{Name: "usage", Value: comp.usage},
		{Name: "finish_reason", Value: comp.finish},
	}
	res := &run.Result{Inputs: inputs, ProcessData: process, Metadata: metadata(comp.tokens), Tokens: comp.tokens, RetrieverResources: resources}
	if n.structured {
		so, err := parseStructured(comp.text)
		if err != nil {
			return res, fail("LLMNodeError", "Failed to parse structured output: %v", err)
		}
		outputs = append(outputs, run.Var{Name: "structured_output", Value: so})
	}
	res.Outputs = outputs
	return res, nil
}

// messages builds the prompt as Dify's LLMNode.fetch_prompt_messages does.
// history is the conversation's earlier turns, nil outside a chatflow
// turn (then the node has no memory, as in Dify without a conversation).
func (n *llmNode) messages(ctx context.Context, pool *run.Pool, jvars run.Vars, ctxText string, history []run.Message) ([]openai.Message, error) {
	out := make([]openai.Message, 0, len(n.msgs)+1)
	for _, m := range n.msgs {
		var text string
		switch {
		case m.isJinja && m.jinja != nil:
			s, err := m.jinja.Render(ctx, jvars)
			if err != nil {
				return nil, fail("CodeExecutionError", "%w", err)
			}
			text = s
		case m.isJinja:
		case ctxText != "" && strings.Contains(m.text, "{#context#}"):
			// Dify replaces "{#context#}" — inside the editor's
			// "{{#context#}}" that leaves the context between single
			// braces — and then expands variables, also any the context
			// itself contains.
			text = run.ParseTemplate(strings.ReplaceAll(m.text, "{#context#}", ctxText)).Text(pool)
		default:
			text = m.tpl.Text(pool)
		}
		out = append(out, openai.Message{Role: m.role, Content: text})
	}
	query := ""
	if n.memory != nil {
		if n.memory.QueryPromptTemplate != "" {
			query = n.memory.QueryPromptTemplate
		} else if v, ok := pool.Get(run.Selector{"sys", "query"}); ok {
			query = run.Text(v)
		}
	}
	withMemory := n.memory != nil && history != nil
	// The memory's budget: the whole context less max_tokens and an
	// empty prompt (Dify counts the history alone).
	budget := 0
	if withMemory {
		budget = n.restTokens(n.cfg.tokens(nil))
	}
	if n.chat {
		// History messages follow the template, then the query.
		if withMemory {
			out = append(out, n.cfg.memoryMessages(history, n.memory.limit(false), budget)...)
		}
		if query != "" {
			out = append(out, openai.Message{Role: "user", Content: run.ParseTemplate(query).Text(pool)})
		}
	} else {
		// The history, as text, goes where the template says
		// #histories# (the editor's {{#histories#}} keeps its outer
		// braces, as in Dify), or before the prompt after a newline.
		hist := ""
		if withMemory {
			rp := n.memory.RolePrefix
			if rp == nil {
				return nil, fail("MemoryRolePrefixRequiredError", "Memory role prefix is required for completion model.")
			}
			hist = n.cfg.memoryText(history, n.memory.limit(false), budget, rp.User, rp.Assistant)
		}
		c := out[0].Content
		if strings.Contains(c, "#histories#") {
			c = strings.ReplaceAll(c, "#histories#", hist)
		} else {
			c = hist + "\n" + c
		}
		if query != "" {
			c = strings.ReplaceAll(c, "#sys.query#", query)
		}
		out[0].Content = c
	}
	kept := out[:0]
	for _, m := range out {
		if m.Content != "" {
			kept = append(kept, m)
		}
	}
	if len(kept) == 0 {
		return nil, fail("NoPromptFoundError", "No prompt found in the LLM configuration. Please ensure a prompt is properly configured before proceeding.")
	}
	return kept, nil
}

// contextText resolves the context variable as Dify's _fetch_context does:
// a string as is; an array of strings or retrieval results
// ({content, summary?, ...}) one per line, trimmed. Anything else, or a
// missing variable, is no context. resources are the retriever resources
// of the knowledge results among the items (see retrieverResource).
func contextText(pool *run.Pool, sel run.Selector) (text string, resources []map[string]any, err error) {
	if sel == nil {
		return "", nil, nil
	}
	v, ok := pool.Get(sel)
	if !ok {
		return "", nil, nil
	}
	switch x := v.(type) {
	case string:
		return x, nil, nil
	case []any:
		var b strings.Builder
		for _, item := range x {
			switch it := item.(type) {
			case string:
				b.WriteString(it)
				b.WriteByte('\n')
			case map[string]any:
				content, ok := it["content"]
				if !ok {
					return "", nil, fail("InvalidContextStructureError", "Invalid context structure: %s", run.Text(it))
				}
				if s, _ := it["summary"].(string); s != "" {
					b.WriteString(s)
					b.WriteByte('\n')
				}
				b.WriteString(run.Text(content))
				b.WriteByte('\n')
				if r := retrieverResource(it); r != nil {
					resources = append(resources, r)
				}
			default:
				return "", nil, fail("InvalidContextStructureError", "Invalid context structure: %s", run.Text(it))
			}
		}
		return strings.TrimSpace(b.String()), resources, nil
	}
	return "", nil, nil
}

// retrieverResource is Dify's _convert_to_original_retriever_resource:
// the RetrievalSourceMetadata of a knowledge-retrieval result (metadata
// _source "knowledge"), nil for any other item.
func retrieverResource(item map[string]any) map[string]any {
	md, _ := item["metadata"].(map[string]any)
	if md == nil || md["_source"] != "knowledge" {
		return nil
	}
	return map[string]any{
		"position": md["position"], "dataset_id": md["dataset_id"], "dataset_name": md["dataset_name"],
		"document_id": md["document_id"], "document_name": md["document_name"], "data_source_type": md["data_source_type"],
		"segment_id": md["segment_id"], "retriever_from": md["retriever_from"], "score": md["score"],
		"hit_count": md["segment_hit_count"], "word_count": md["segment_word_count"], "segment_position": md["segment_position"],
		"index_node_hash": md["segment_index_node_hash"], "content": item["content"], "page": md["page"],
		"doc_metadata": md["doc_metadata"], "title": nil, "files": item["files"], "summary": item["summary"],
	}
}

var (
	thinkBlock = regexp.MustCompile(`(?is)<think[^>]*>(.*?)</think>`)
	blankLines = regexp.MustCompile(`\n\s*\n`)
)

// splitReasoning separates <think> blocks from the answer, as Dify's
// reasoning_format "separated" does.
func splitReasoning(text string) (clean, reasoning string) {
	var parts []string
	for _, m := range thinkBlock.FindAllStringSubmatch(text, -1) {
		parts = append(parts, strings.TrimSpace(m[1]))
	}
	clean = thinkBlock.ReplaceAllString(text, "")
	clean = strings.TrimSpace(blankLines.ReplaceAllString(clean, "\n\n"))
	return clean, strings.Join(parts, "\n")
}
