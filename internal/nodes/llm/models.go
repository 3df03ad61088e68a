package llm

import (
	"context"
	"encoding/json"

	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/run"
)

// Models gives node types outside this package (the agent node) the
// models of a Config: the same resolution of DSL providers to servers,
// the same client, errors and usage accounting as the llm node's.
type Models struct {
	cfg Config
}

// NewModels checks cfg as Register does and returns its models.
func NewModels(cfg Config) (*Models, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Models{cfg: cfg.withDefaults()}, nil
}

// Model is a DSL model resolved at build time.
type Model struct {
	cfg    *Config
	m      *model
	err    error
	mc     modelConfig
	params map[string]any
}

// Resolve resolves a DSL model (provider, name and completion_params, as
// in an llm node's model block). A provider that is not configured is not
// an error here: Err reports it, with Dify's message, when the node runs.
// Completion params are checked against b.
func (ms *Models) Resolve(b *run.Build, provider, name string, params map[string]any) *Model {
	mc := modelConfig{Provider: provider, Name: name, CompletionParams: params}
	m, err := ms.cfg.resolve(mc)
	return &Model{cfg: &ms.cfg, m: m, err: err, mc: mc, params: requestParams(b, params)}
}

// Err is why the model cannot be called (nil: it can).
func (m *Model) Err() error { return m.err }

// Provider and Name are the model's DSL provider and name.
func (m *Model) Provider() string { return m.mc.Provider }

// Name is the model's DSL name.
func (m *Model) Name() string { return m.mc.Name }

// Stop is the model's stop words (completion_params.stop).
func (m *Model) Stop() []string {
	var out []string
	stop, _ := m.params["stop"].([]any)
	for _, s := range stop {
		if str, ok := s.(string); ok {
			out = append(out, str)
		}
	}
	return out
}

// Completion is a finished model call.
type Completion struct {
	// Text is the answer, with streamed reasoning in a <think> block.
	Text      string
	ToolCalls []openai.ToolCall
	// Usage is the call's token counts and Latency its duration in
	// seconds.
	Usage   openai.Usage
	Latency float64
}

// Call is one streamed model call of Model.Chat.
type Call struct {
	Messages []openai.Message
	Tools    []openai.Tool
	// Stop replaces the model's stop words when not nil.
	Stop []string
	// User is the end user sent along (sys.user_id).
	User string
	// OnPiece receives each piece of answer text as it arrives;
	// OnToolCall is called for each streamed piece of a tool call. Both
	// may be nil.
	OnPiece    func(string)
	OnToolCall func()
}

// Chat calls the model, streaming. Failures are the llm node's: Dify's
// model runtime errors as *run.NodeError, ctx's cause as it is.
func (m *Model) Chat(ctx context.Context, c *Call) (*Completion, error) {
	if m.err != nil {
		return nil, m.err
	}
	params := m.params
	extra := map[string]any{}
	if c.Stop != nil {
		stop := make([]any, len(c.Stop))
		for i, s := range c.Stop {
			stop[i] = s
		}
		extra["stop"] = stop
	}
	if c.User != "" {
		extra["user"] = c.User
	}
	if len(extra) > 0 {
		params = withParams(params, extra)
	}
	req := &openai.ChatRequest{Messages: c.Messages, Tools: c.Tools, Stream: true, Params: params}
	comp, err := m.cfg.invokeStream(ctx, m.m, req, c.OnPiece, c.OnToolCall)
	if err != nil {
		return nil, err
	}
	lat, _ := comp.usage["latency"].(float64)
	return &Completion{Text: comp.text, ToolCalls: comp.res.ToolCalls, Usage: comp.counts, Latency: lat}, nil
}

// Memory is a node's DSL memory block (Dify's MemoryConfig).
type Memory struct {
	c memoryConfig
}

// UnmarshalJSON decodes the block.
func (m *Memory) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &m.c) }

// NeedAgent declares to b the turns an agent node with this memory reads:
// Dify's agent node passes the window size as the message limit whether
// or not the window is enabled.
func (m *Memory) NeedAgent(b *run.Build) { m.c.need(b, true) }

// agentHistoryTokens is the token limit of an agent's history (Dify's
// TokenBufferMemory default max_token_limit).
const agentHistoryTokens = 2000

// AgentHistory renders a chatflow turn's earlier turns as the agent node
// hands them to its strategy (history_prompt_messages): user and
// assistant messages within the window, at most 2000 tokens when
// Config.CountTokens is set. history nil (no conversation) gives none.
func (ms *Models) AgentHistory(history []run.Message, m *Memory) []openai.Message {
	if m == nil || history == nil {
		return nil
	}
	return ms.cfg.memoryMessages(history, m.c.limit(true), agentHistoryTokens)
}
