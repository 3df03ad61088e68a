package llm

import (
	"encoding/json"
	"fmt"

	"github.com/flowrun/flowrun/internal/run"
)

// modelConfig is the DSL's model block (Dify's ModelConfig).
type modelConfig struct {
	Provider         string         `json:"provider"`
	Name             string         `json:"name"`
	Mode             string         `json:"mode"`
	CompletionParams map[string]any `json:"completion_params"`
}

// passParams are the completion_params sent to the upstream as they are.
// Others (provider-specific switches of Dify's plugins) are dropped.
var passParams = map[string]bool{
	"temperature": true, "top_p": true, "max_tokens": true, "max_completion_tokens": true,
	"presence_penalty": true, "frequency_penalty": true, "seed": true, "reasoning_effort": true,
	"logit_bias": true,
}

// requestParams maps completion_params onto an OpenAI request body, as
// Dify's OpenAI plugin does: stop words go to "stop", response_format
// "json_object" and "json_schema" (with the json_schema parameter, a JSON
// string) become response_format objects, "text" is the default.
func requestParams(b *run.Build, cp map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range cp {
		if passParams[k] && v != nil {
			out[k] = v
		}
	}
	switch stop := cp["stop"].(type) {
	case []any:
		if len(stop) > 0 {
			out["stop"] = stop
		}
	case string:
		if stop != "" {
			out["stop"] = []any{stop}
		}
	}
	switch rf, _ := cp["response_format"].(string); rf {
	case "json_object":
		out["response_format"] = map[string]any{"type": "json_object"}
	case "json_schema":
		var schema any
		s, _ := cp["json_schema"].(string)
		if err := json.Unmarshal([]byte(s), &schema); err != nil {
			b.Errorf("model.completion_params.json_schema: %v", fmt.Errorf("not valid JSON: %w", err))
			break
		}
		out["response_format"] = map[string]any{"type": "json_schema", "json_schema": schema}
	}
	return out
}

// withParams returns a copy of base with extra set.
func withParams(base map[string]any, extra map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(extra))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// namedSelector is Dify's VariableSelector {variable, value_selector}.
type namedSelector struct {
	Variable      string       `json:"variable"`
	ValueSelector run.Selector `json:"value_selector"`
}
