package llm

import (
	"context"
	"errors"
	"fmt"

	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/run"
)

// Generator makes the model calls Dify's chat API makes outside a
// workflow (core/llm_generator/llm_generator.py): the questions suggested
// after an answer (Suggest) and the name of a new conversation (Name).
// Both are one non-streaming call with a single user message, through
// the same client, providers and timeouts as the LLM nodes.
//
// Which model: Dify uses the workspace's default system model. flowrun
// has no workspace, so a Generator uses GeneratorConfig's model when one
// is set, else the model of the app's first llm node (in document order;
// failing that, of its first parameter-extractor or question-classifier).
//
// A Generator is safe for concurrent use.
type Generator struct {
	cfg Config
	// model is the configured model; nil: the workflow's.
	model *modelConfig
	// instruction, maxTokens and temperature shape the suggestion call.
	instruction string
	maxTokens   int
	temperature float64
}

// GeneratorConfig configures a Generator.
type GeneratorConfig struct {
	// Provider and Model name the model both calls use, as a DSL names
	// one (model.provider, model.name), resolved through Config.Providers
	// as an LLM node's model is. Both empty: each app's workflow model.
	Provider, Model string
	// SuggestPrompt replaces the instruction of the suggestion prompt
	// (Dify's SUGGESTED_QUESTIONS_PROMPT); "": DefaultSuggestPrompt.
	SuggestPrompt string
	// SuggestMaxTokens is the suggestion call's max_tokens (Dify's
	// SUGGESTED_QUESTIONS_MAX_TOKENS); 0: DefaultSuggestMaxTokens.
	SuggestMaxTokens int
	// SuggestTemperature is the suggestion call's temperature (Dify's
	// SUGGESTED_QUESTIONS_TEMPERATURE, default 0).
	SuggestTemperature float64
}

// DefaultSuggestMaxTokens is Dify's SUGGESTED_QUESTIONS_MAX_TOKENS default.
const DefaultSuggestMaxTokens = 256

// ErrNoModel is wrapped by Name when neither the Generator nor the app's
// workflow names a model.
// It wraps errors.ErrUnsupported: the API then keeps the conversation's
// first name without logging a failure.
var ErrNoModel = fmt.Errorf("no model: set the chat model or add an llm node to the workflow: %w", errors.ErrUnsupported)

// NewGenerator returns a Generator calling the providers of cfg. It
// returns an error wrapping ErrInvalidConfig when cfg or gc is
// inconsistent, or when gc names a provider cfg does not serve.
func NewGenerator(cfg Config, gc GeneratorConfig) (*Generator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	g := &Generator{
		cfg: cfg.withDefaults(), instruction: gc.SuggestPrompt,
		maxTokens: gc.SuggestMaxTokens, temperature: gc.SuggestTemperature,
	}
	if g.instruction == "" {
		g.instruction = DefaultSuggestPrompt
	}
	if g.maxTokens == 0 {
		g.maxTokens = DefaultSuggestMaxTokens
	}
	if g.maxTokens < 0 {
		return nil, fmt.Errorf("%w: SuggestMaxTokens must not be negative", ErrInvalidConfig)
	}
	switch {
	case gc.Provider == "" && gc.Model == "":
	case gc.Provider == "" || gc.Model == "":
		return nil, fmt.Errorf("%w: the chat model needs both a provider and a model name", ErrInvalidConfig)
	default:
		mc := &modelConfig{Provider: gc.Provider, Name: gc.Model, Mode: "chat"}
		if _, err := g.cfg.resolve(*mc); err != nil {
			return nil, fmt.Errorf("%w: chat model %s:%s: %w", ErrInvalidConfig, gc.Provider, gc.Model, err)
		}
		g.model = mc
	}
	return g, nil
}

// resolve picks the model for a call about an app running wf.
func (g *Generator) resolve(wf *run.Workflow) (*model, error) {
	mc := g.model
	if mc == nil {
		if mc = workflowModel(wf); mc == nil {
			return nil, ErrNoModel
		}
	}
	return g.cfg.resolve(*mc)
}

// modelNodeTypes are the node types whose model a Generator may borrow,
// in order of preference.
var modelNodeTypes = []string{"llm", "parameter-extractor", "question-classifier"}

// workflowModel is the model of wf's first llm node in document order,
// else of its first parameter-extractor or question-classifier; nil when
// it has none.
func workflowModel(wf *run.Workflow) *modelConfig {
	if wf == nil || wf.Doc == nil {
		return nil
	}
	for _, typ := range modelNodeTypes {
		for _, n := range wf.Doc.Workflow.Graph.Nodes {
			if t, _ := n.Data["type"].(string); t != typ {
				continue
			}
			m, _ := n.Data["model"].(map[string]any)
			provider, _ := m["provider"].(string)
			name, _ := m["name"].(string)
			if provider != "" && name != "" {
				mode, _ := m["mode"].(string)
				return &modelConfig{Provider: provider, Name: name, Mode: mode}
			}
		}
	}
	return nil
}

// call sends one user message to m, without streaming, with params, and
// returns the answer's text.
func (g *Generator) call(ctx context.Context, m *model, prompt string, params map[string]any) (string, error) {
	req := &openai.ChatRequest{Messages: []openai.Message{{Role: "user", Content: prompt}}, Params: params}
	c, err := g.cfg.invoke(ctx, m, req, nil)
	if err != nil {
		return "", err
	}
	return c.text, nil
}
