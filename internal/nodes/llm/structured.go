package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/flowrun/flowrun/internal/nodes/llm/openai"
	"github.com/flowrun/flowrun/internal/run"
)

// schemaPrompt asks a model without native structured output for JSON that
// follows a schema. It plays the part of Dify's STRUCTURED_OUTPUT_PROMPT
// (same placement and intent; the wording is flowrun's own).
const schemaPrompt = `You are a helpful assistant that answers only with JSON.
Rules:
    - Reply with a single JSON object and nothing else: no prose, no code fences.
    - Write boolean values as strings ("true" or "false").
    - Write every number as a plain JSON number.
Example:
    Schema: {"properties": {"city": {"type": "string"}, "days": {"type": "number"}}, "required": ["city", "days"], "type": "object"}
    Question: Plan three days in Lisbon.
    Answer: {"city": "Lisbon", "days": 3}
The JSON schema to follow:
{{schema}}
`

// withSchemaPrompt puts the schema instructions in front of the first
// system message, which becomes the only one, as Dify's
// _handle_prompt_based_schema does.
func withSchemaPrompt(msgs []openai.Message, schema map[string]any) []openai.Message {
	p := strings.ReplaceAll(schemaPrompt, "{{schema}}", pyDumps(schema, false))
	content := p
	for _, m := range msgs {
		if m.Role == "system" {
			content = p + "\n\n" + m.Content
			break
		}
	}
	out := []openai.Message{{Role: "system", Content: content}}
	for _, m := range msgs {
		if m.Role != "system" {
			out = append(out, m)
		}
	}
	return out
}

// booleansAsStrings copies a JSON schema with every "type": "boolean"
// turned into "string", as Dify does before sending a schema natively.
func booleansAsStrings(v map[string]any) map[string]any {
	out := make(map[string]any, len(v))
	for k, e := range v {
		out[k] = boolToString(e)
	}
	if out["type"] == "boolean" {
		out["type"] = "string"
	}
	return out
}

func boolToString(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return booleansAsStrings(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = boolToString(e)
		}
		return out
	}
	return v
}

var errNoJSON = errors.New("no JSON object found")

// parseStructured reads the structured output from a model's answer as
// Dify's _parse_structured_output does: a JSON object as is; an array
// gives its first object (or {}). Where Dify falls back on json_repair,
// flowrun drops <think> blocks and code fences, takes the first balanced
// JSON value in the text and closes one the answer left open; anything
// else fails with the text in the message, as in Dify.
func parseStructured(text string) (map[string]any, error) {
	if v, err := decodeJSON(text); err == nil {
		if m, ok := asObject(v); ok {
			return m, nil
		}
		return nil, fmt.Errorf("Failed to parse structured output: %s", text) //nolint:staticcheck // Dify's message
	}
	s := thinkBlock.ReplaceAllString(text, "")
	if start := strings.IndexAny(s, "{["); start >= 0 {
		if v, err := decodeJSON(balanced(s[start:])); err == nil {
			if m, ok := asObject(v); ok {
				return m, nil
			}
		}
	}
	return nil, fmt.Errorf("Failed to parse structured output: %s", text) //nolint:staticcheck // Dify's message
}

func asObject(v any) (map[string]any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return x, true
	case []any:
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				return m, true
			}
		}
		return map[string]any{}, true
	}
	return nil, false
}

// decodeJSON decodes exactly one JSON value into the engine's value set.
func decodeJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if strings.TrimSpace(s[dec.InputOffset():]) != "" {
		return nil, fmt.Errorf("%w: extra data after the JSON value", errNoJSON)
	}
	return run.Normalize(v), nil
}

// balanced returns the JSON value s starts with, up to its matching close,
// or s with the missing closers appended when it is cut short.
func balanced(s string) string {
	var stack []byte
	inStr, esc := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inStr && esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case inStr && c == '"':
			inStr = false
		case inStr:
		case c == '"':
			inStr = true
		case c == '{':
			stack = append(stack, '}')
		case c == '[':
			stack = append(stack, ']')
		case c == '}' || c == ']':
			if len(stack) == 0 || stack[len(stack)-1] != c {
				return s[:i]
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return s[:i+1]
			}
		}
	}
	var b bytes.Buffer
	b.WriteString(strings.TrimRight(s, " \t\r\n,"))
	if inStr {
		b.WriteByte('"')
	}
	for i := len(stack) - 1; i >= 0; i-- {
		b.WriteByte(stack[i])
	}
	return b.String()
}
