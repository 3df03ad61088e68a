package agent

import (
	"context"
	"strings"

	"github.com/flowrun/flowrun/internal/nodes/llm"
	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/tools"
)

// state is one run of a strategy.
type state struct {
	x       *run.Exec
	model   *llm.Model
	tools   *toolset
	p       *params
	log     *logger
	user    string
	history []openai.Message
	call    *tools.Call

	text    strings.Builder
	usage   openai.Usage
	latency float64
	files   []any
}

// say appends a piece to the text output and streams it.
func (s *state) say(piece string) {
	if piece == "" {
		return
	}
	s.text.WriteString(piece)
	if s.x != nil {
		s.x.Stream("text", piece)
	}
}

// chat calls the model and adds its usage to the node's.
func (s *state) chat(ctx context.Context, c *llm.Call) (*llm.Completion, error) {
	c.User = s.user
	comp, err := s.model.Chat(ctx, c)
	if err != nil {
		return nil, err
	}
	s.usage.PromptTokens += comp.Usage.PromptTokens
	s.usage.CompletionTokens += comp.Usage.CompletionTokens
	s.usage.TotalTokens += comp.Usage.TotalTokens
	s.latency += comp.Latency
	return comp, nil
}

// keepFiles adds the files among a tool's messages to the files output.
func (s *state) keepFiles(msgs []tools.Message) {
	for _, m := range msgs {
		if m.Kind == tools.KindFile && m.File != nil {
			s.files = append(s.files, m.File)
		}
	}
}

// callMeta is a model call's finished log metadata.
func (s *state) callMeta(started float64, comp *llm.Completion, provider bool) map[string]any {
	now := s.log.now()
	m := map[string]any{metaStartedAt: started, metaFinishedAt: now, metaElapsedTime: now - started,
		metaTotalPrice: 0.0, metaCurrency: "USD", metaTotalTokens: comp.Usage.TotalTokens}
	if provider {
		m[metaProvider] = s.model.Provider()
	}
	return m
}

// toolMeta is a tool call's log metadata.
func (s *state) toolMeta(name string, started float64, finished bool) map[string]any {
	provider := ""
	if a, ok := s.tools.byName[name]; ok {
		provider = a.providerID
	}
	m := map[string]any{metaStartedAt: started, metaProvider: provider}
	if finished {
		now := s.log.now()
		m[metaFinishedAt], m[metaElapsedTime] = now, now-started
	}
	return m
}

// result maps the run to Dify's agent node outputs and metadata.
func (s *state) result(inputs run.Vars, strategy string) *run.Result {
	usage := llm.UsageMap(s.usage, s.latency)
	jsonOut := s.log.list(s.x.Node.ID)
	jsonOut = append(jsonOut, map[string]any{"data": []any{}})
	files := s.files
	if files == nil {
		files = []any{}
	}
	return &run.Result{
		Inputs: inputs,
		Outputs: run.Vars{
			{Name: "text", Value: s.text.String()},
			{Name: "usage", Value: usage},
			{Name: "files", Value: files},
			{Name: "json", Value: jsonOut},
		},
		Metadata: map[string]any{
			"total_tokens": s.usage.TotalTokens, "total_price": 0.0, "currency": "USD",
			"tool_info": map[string]any{"icon": nil, "agent_strategy": strategy},
			"agent_log": s.log.list(s.x.Node.ID),
		},
		Tokens: s.usage.TotalTokens,
	}
}
