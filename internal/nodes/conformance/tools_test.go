package conformance

import (
	"context"
	"testing"

	"github.com/flowrun/flowrun/internal/tools"
	"github.com/flowrun/flowrun/internal/tools/builtin"
	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

// toolsYAML is the tool configuration of the conformance runs, as an
// operator writes tools.yaml. The built-in providers are on by default.
// Dify's fixture http_request_with_json_tool_workflow.yml calls tool
// json_parse of a provider "builtin" that exists only in Dify's mock
// tests (they set the node's output to {"result": <the parsed body>}); the
// test kind "fixture" stands in for it, as MCP or OpenAPI providers would
// for a real plugin.
const toolsYAML = `
providers:
- id: builtin
  kind: fixture
`

// toolRegistry builds the tool registry from toolsYAML with the kinds
// cmd/api has plus "fixture".
func toolRegistry(t testing.TB) *tools.Registry {
	t.Helper()
	cfg, err := tools.ParseConfig([]byte(toolsYAML), "")
	if err != nil {
		t.Fatal(err)
	}
	kinds := tools.Kinds{"builtin": builtin.Kind(builtin.Options{})}
	kinds["fixture"] = func(context.Context, *tools.ProviderConfig) (tools.Provider, error) { return fixtureTools{}, nil }
	reg, err := tools.Build(context.Background(), cfg, kinds, builtin.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// fixtureTools is the provider Dify's mock tests imply: json_parse
// parses json_string and sets the variable result.
type fixtureTools struct{}

func (fixtureTools) Tools(context.Context) ([]tools.Tool, error) {
	return []tools.Tool{{Name: "json_parse", Params: []tools.Param{
		{Name: "json_string", Type: tools.TypeString, Required: true, Form: tools.FormLLM},
	}}}, nil
}

func (fixtureTools) Invoke(_ context.Context, call *tools.Call, emit tools.Emit) error {
	s, _ := call.Args["json_string"].(string)
	v, err := pyjson.Loads(s)
	if err != nil {
		return tools.InvokeErrorf("%v", err)
	}
	return emit(tools.VariableMessage("result", pyjson.Plain(v)))
}
