// Package tool implements Dify's `tool` workflow node on top of the tool
// registry (package tools).
//
// At load time the node parses its DSL data (provider_id, provider_type,
// provider_name, tool_name, tool_parameters, tool_configurations,
// tool_node_version) and checks the variables its parameters reference;
// it does not look the provider up, so a document naming a provider that
// is not configured still loads. At run time it looks the tool up,
// resolves its settings (tool_configurations) and arguments
// (tool_parameters) as Dify's ToolNode and ToolManager do, casts them to
// the declared types, invokes the tool and turns its messages into the
// outputs text, files and json plus the variables it emits, streaming
// text as it comes. docs/nodes.md describes the node; docs/tools.md the
// providers.
package tool

import (
	"errors"
	"slices"
	"strings"

	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/tools"
)

// TypeName is the node's DSL type.
const TypeName = "tool"

// DefaultMaxOutputBytes is Config.MaxOutputBytes's default.
const DefaultMaxOutputBytes = 16 << 20

// ErrOutputTooLarge is wrapped by the error of a tool whose messages
// exceed Config.MaxOutputBytes.
var ErrOutputTooLarge = errors.New("tool output too large")

// Config configures tool nodes.
type Config struct {
	// MaxOutputBytes bounds what one call's messages may add up to (text,
	// variables, JSON and files, as run.Size estimates them); a tool that
	// sends more fails its node. Default DefaultMaxOutputBytes.
	MaxOutputBytes int64
}

// Register adds the tool node type to r; its nodes call the providers of
// reg. Tool nodes honour retry_config, as in Dify.
func Register(r *run.Registry, reg *tools.Registry, cfg Config) {
	if cfg.MaxOutputBytes <= 0 {
		cfg.MaxOutputBytes = DefaultMaxOutputBytes
	}
	r.Register(run.NodeType{
		Name:  TypeName,
		Retry: true,
		Build: func(b *run.Build) (run.Executor, error) { return build(b, reg, cfg) },
	})
}

// providerTypes are Dify's ToolProviderType values.
var providerTypes = []string{"builtin", "plugin", "api", "workflow", "app", "dataset-retrieval", "mcp"}

// nodeData holds the scalar fields of ToolNodeData; tool_parameters and
// tool_configurations are read from the raw data (see input.go).
type nodeData struct {
	ProviderID             string  `json:"provider_id"`
	ProviderType           string  `json:"provider_type"`
	ProviderName           string  `json:"provider_name"`
	ToolName               string  `json:"tool_name"`
	PluginUniqueIdentifier *string `json:"plugin_unique_identifier"`
	ToolNodeVersion        any     `json:"tool_node_version"`
	Version                any     `json:"version"`
}

// node is a compiled tool node.
type node struct {
	reg                                          *tools.Registry
	maxOutput                                    int64
	providerType, providerID, providerName, tool string
	info                                         map[string]any
	// params are the tool_parameters, sorted by name (the order of
	// Dify's YAML exports).
	params []input
	// configs are the tool_configurations of current nodes ({type,
	// value} entries), sorted by name; legacy holds the plain values of
	// legacy nodes (no tool_node_version, version "1").
	v2      bool
	configs []input
	legacy  map[string]any
}

func build(b *run.Build, reg *tools.Registry, cfg Config) (run.Executor, error) {
	var d nodeData
	if err := b.Decode(&d); err != nil {
		return nil, err
	}
	for field, v := range map[string]string{"provider_id": d.ProviderID, "provider_type": d.ProviderType, "tool_name": d.ToolName} {
		if strings.TrimSpace(v) == "" {
			b.Errorf("%s is required", field)
		}
	}
	if d.ProviderType != "" && !slices.Contains(providerTypes, d.ProviderType) {
		b.Errorf("provider_type: %q is not one of %s", d.ProviderType, strings.Join(providerTypes, ", "))
	}
	n := &node{
		reg: reg, maxOutput: cfg.MaxOutputBytes, providerType: d.ProviderType, providerID: d.ProviderID, providerName: d.ProviderName, tool: d.ToolName,
		info: map[string]any{"provider_type": d.ProviderType, "provider_id": d.ProviderID, "plugin_unique_identifier": nil},
	}
	if d.PluginUniqueIdentifier != nil {
		n.info["plugin_unique_identifier"] = *d.PluginUniqueIdentifier
	}
	n.params = parseParams(b, b.Data["tool_parameters"])
	// Dify reads settings as {type, value} entries when the node has a
	// tool_node_version or a version other than "1"; as plain values
	// otherwise (ToolNode._run).
	if d.ToolNodeVersion != nil || (d.Version != nil && py.Str(d.Version) != "1") {
		n.v2 = true
		n.configs = parseConfigs(b, b.Data["tool_configurations"])
	} else {
		n.legacy, _ = b.Data["tool_configurations"].(map[string]any)
	}
	if _, ok := b.Data["tool_configurations"].(map[string]any); !ok && b.Data["tool_configurations"] != nil {
		b.Errorf("tool_configurations must be a dictionary")
	}
	return n, nil
}
