package tools

import "encoding/json"

// ParamType is a tool parameter's declared type (Dify's
// ToolParameter.ToolParameterType).
type ParamType string

// Parameter types.
const (
	TypeString        ParamType = "string"
	TypeNumber        ParamType = "number"
	TypeBoolean       ParamType = "boolean"
	TypeSelect        ParamType = "select"
	TypeSecretInput   ParamType = "secret-input"
	TypeFile          ParamType = "file"
	TypeFiles         ParamType = "files"
	TypeCheckbox      ParamType = "checkbox"
	TypeAppSelector   ParamType = "app-selector"
	TypeModelSelector ParamType = "model-selector"
	TypeAny           ParamType = "any"
	TypeDynamicSelect ParamType = "dynamic-select"
	TypeArray         ParamType = "array"
	TypeObject        ParamType = "object"
	TypeSystemFiles   ParamType = "system-files"
	TypeToolSelector  ParamType = "array[tools]"
)

// Form says who fills a parameter in (Dify's ToolParameterForm).
type Form string

// Parameter forms.
const (
	// FormLLM parameters are the tool's arguments: the DSL's
	// tool_parameters, or a model in an agent.
	FormLLM Form = "llm"
	// FormForm parameters are settings: the DSL's tool_configurations.
	FormForm Form = "form"
	// FormSchema parameters are fixed when the tool is added.
	FormSchema Form = "schema"
)

// Param is one parameter of a tool.
type Param struct {
	Name        string
	Type        ParamType
	Required    bool
	Description string // for the model (Dify's llm_description)
	Form        Form
	// Default is used for settings the DSL leaves out in legacy nodes
	// (see the tool node); tools apply their own defaults otherwise.
	Default any
	// Options are the values a select parameter allows.
	Options []string
	// Schema, when set, is the parameter's JSON schema (MCP and OpenAPI
	// tools carry one); it replaces the schema derived from Type.
	Schema map[string]any
}

// Tool describes one tool of a provider.
type Tool struct {
	// Name is the tool's identity name, the DSL's tool_name.
	Name        string
	Label       string
	Description string // for the model
	Params      []Param
	// OutputSchema is the JSON schema of the variables the tool may emit;
	// informative only, as in Dify.
	OutputSchema json.RawMessage
}

// Param returns the parameter named name.
func (t *Tool) Param(name string) (*Param, bool) {
	for i := range t.Params {
		if t.Params[i].Name == name {
			return &t.Params[i], true
		}
	}
	return nil, false
}

// InputSchema is the JSON schema of the tool's model-filled (FormLLM)
// parameters, as Dify's agent gives it to a model: file parameters are
// left out, select parameters list their options as an enum, and a
// parameter's own Schema is used as it is.
func (t *Tool) InputSchema() map[string]any {
	props := map[string]any{}
	required := []any{}
	for _, p := range t.Params {
		if p.Form != FormLLM || p.Type == TypeFile || p.Type == TypeFiles || p.Type == TypeSystemFiles {
			continue
		}
		var s map[string]any
		if p.Schema != nil {
			s = p.Schema
		} else {
			s = map[string]any{"type": string(p.Type.normal()), "description": p.Description}
			if p.Type == TypeSelect && len(p.Options) > 0 {
				enum := make([]any, len(p.Options))
				for i, o := range p.Options {
					enum[i] = o
				}
				s["enum"] = enum
			}
		}
		props[p.Name] = s
		if p.Required {
			required = append(required, p.Name)
		}
	}
	return map[string]any{"type": "object", "properties": props, "required": required}
}

// normal is Dify's as_normal_type: the JSON type a model sees.
func (t ParamType) normal() ParamType {
	switch t {
	case TypeSecretInput, TypeSelect, TypeCheckbox:
		return TypeString
	}
	return t
}
