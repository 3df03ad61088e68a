package tool

import (
	"fmt"
	"maps"
	"slices"

	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/tools"
)

// Kinds of input (Dify's ToolNodeData.ToolInput.type).
const (
	inputMixed    = "mixed"
	inputVariable = "variable"
	inputConstant = "constant"
)

// input is one entry of tool_parameters or tool_configurations.
type input struct {
	name string
	kind string
	// tpl renders mixed inputs, and constant tool_parameters (Dify
	// renders str(value) as a template).
	tpl run.Template
	sel run.Selector
	// value is a constant's value; constant settings are passed as they
	// are.
	value any
	// err is a problem Dify only finds at run time (an invalid setting
	// entry).
	err error
}

// parseParams reads tool_parameters. Entries whose value is null are
// dropped, as Dify's validator drops them. An entry that is a plain value
// rather than {type, value} (documents written by hand, such as Dify's
// test fixtures) is taken as mixed text when it is a string and as a
// constant otherwise, where Dify would drop it.
func parseParams(b *run.Build, raw any) []input {
	m, ok := raw.(map[string]any)
	if !ok {
		if raw != nil {
			b.Errorf("tool_parameters must be a dictionary")
		}
		return nil
	}
	var out []input
	for _, name := range slices.Sorted(maps.Keys(m)) {
		field := "tool_parameters." + name
		e, isEntry := m[name].(map[string]any)
		if !isEntry {
			if m[name] == nil {
				continue
			}
			kind := inputConstant
			if _, ok := m[name].(string); ok {
				kind = inputMixed
			}
			e = map[string]any{"type": kind, "value": m[name]}
		}
		if e["value"] == nil {
			continue
		}
		in, err := parseInput(b, field, name, e)
		if err != nil {
			b.Errorf("%s: %v", field, err)
			continue
		}
		if in.kind == inputConstant {
			in.tpl = b.Template(field, py.Str(in.value))
		}
		out = append(out, in)
	}
	return out
}

// parseConfigs reads the {type, value} settings of current nodes. Entries
// that are not mappings or whose value is null are skipped, as in Dify;
// an invalid entry fails the node when it runs.
func parseConfigs(b *run.Build, raw any) []input {
	m, _ := raw.(map[string]any)
	var out []input
	for _, name := range slices.Sorted(maps.Keys(m)) {
		e, ok := m[name].(map[string]any)
		if !ok || e["value"] == nil {
			continue
		}
		in, err := parseInput(b, "tool_configurations."+name, name, e)
		if err != nil {
			in = input{name: name, err: fmt.Errorf("tool_configurations.%s: %w", name, err)}
		}
		out = append(out, in)
	}
	return out
}

// parseInput checks one {type, value} entry as Dify's ToolInput does.
func parseInput(b *run.Build, field, name string, e map[string]any) (input, error) {
	in := input{name: name, value: e["value"]}
	in.kind, _ = e["type"].(string)
	switch in.kind {
	case inputMixed:
		s, ok := in.value.(string)
		if !ok {
			return in, fmt.Errorf("value must be a string")
		}
		in.tpl = b.Template(field, s)
	case inputVariable:
		l, ok := in.value.([]any)
		if !ok {
			return in, fmt.Errorf("value must be a list")
		}
		for _, p := range l {
			s, ok := p.(string)
			if !ok {
				return in, fmt.Errorf("value must be a list of strings")
			}
			in.sel = append(in.sel, s)
		}
		if len(in.sel) < 2 {
			return in, fmt.Errorf("value must be a variable selector [node_id, name, ...]")
		}
		b.Selector(field, in.sel)
	case inputConstant:
		switch in.value.(type) {
		case string, int64, float64, bool, map[string]any, []any:
		default:
			return in, fmt.Errorf("value must be one of: str, int, float, bool, dict, list")
		}
	default:
		return in, fmt.Errorf("type must be mixed, variable or constant, not %q", e["type"])
	}
	return in, nil
}

// runtimeError is Dify's ToolParameterError raised while the tool's
// runtime is prepared: the node reports "Failed to get tool runtime: …".
type runtimeError struct{ err error }

func (e runtimeError) Error() string { return e.err.Error() }

// settings resolves the tool's settings (form parameters) as Dify's
// ToolManager._convert_tool_parameters_type does.
func (n *node) settings(t *tools.Tool, pool *run.Pool) (map[string]any, error) {
	out := map[string]any{}
	if !n.v2 {
		return out, n.legacySettings(t, out)
	}
	for _, in := range n.configs {
		p, ok := t.Param(in.name)
		if !ok || p.Form != tools.FormForm {
			continue
		}
		if in.err != nil {
			return nil, in.err
		}
		switch in.kind {
		case inputVariable:
			v, ok := pool.Get(in.sel)
			if !ok {
				return nil, runtimeError{variableMissing(in.sel)}
			}
			out[in.name] = v
		case inputConstant:
			out[in.name] = in.value
		case inputMixed:
			out[in.name] = in.tpl.Text(pool)
		}
	}
	return out, nil
}

// legacySettings is Dify's init_frontend_parameter for the plain settings
// of legacy nodes: an empty value takes the default, a required setting
// without either fails, a select's value must be one of its options.
func (n *node) legacySettings(t *tools.Tool, out map[string]any) error {
	for i := range t.Params {
		p := &t.Params[i]
		if p.Form != tools.FormForm {
			continue
		}
		v := n.legacy[p.Name]
		if !py.Truthy(v) && !run.IsZero(v) {
			v = p.Default
			if !py.Truthy(v) && p.Required {
				return fmt.Errorf("tool parameter %s not found in tool config", p.Name)
			}
		}
		if p.Type == tools.TypeSelect && v != nil {
			s := py.Str(v)
			if !slices.Contains(p.Options, s) {
				opts := make([]any, len(p.Options))
				for i, o := range p.Options {
					opts[i] = o
				}
				return fmt.Errorf("tool parameter %s value %s not in options %s", p.Name, s, py.Str(opts))
			}
		}
		c, err := tools.CastValue(p.Type, v)
		if err != nil {
			return err
		}
		out[p.Name] = c
	}
	return nil
}

// arguments resolves tool_parameters as Dify's ToolNode._generate_parameters
// does: a parameter the tool does not declare is passed as null, a
// variable that does not exist is left out (an error when the parameter
// is required), mixed and constant inputs render as text.
func (n *node) arguments(t *tools.Tool, pool *run.Pool) (map[string]any, error) {
	out := make(map[string]any, len(n.params))
	for _, in := range n.params {
		p, ok := t.Param(in.name)
		if !ok {
			out[in.name] = nil
			continue
		}
		if in.kind != inputVariable {
			out[in.name] = in.tpl.Text(pool)
			continue
		}
		v, ok := pool.Get(in.sel)
		if !ok {
			if p.Required {
				return nil, variableMissing(in.sel)
			}
			continue
		}
		out[in.name] = v
	}
	return out, nil
}

// variableMissing is Dify's message, with the selector as a Python list.
func variableMissing(sel run.Selector) error {
	l := make([]any, len(sel))
	for i, s := range sel {
		l[i] = s
	}
	return fmt.Errorf("Variable %s does not exist", py.Str(l)) //nolint:staticcheck // Dify's text
}
