package run

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/flowrun/flowrun/internal/py"
)

// builtinTypes collects the node types defined in this package; each file
// registers its own in init.
var builtinTypes []NodeType

func registerBuiltin(t NodeType) { builtinTypes = append(builtinTypes, t) }

func builtins() []NodeType { return builtinTypes }

// MaxTemplateOutput is Dify's TEMPLATE_TRANSFORM_MAX_LENGTH.
const MaxTemplateOutput = 400000

func init() {
	registerBuiltin(NodeType{Name: "start", Build: buildStart})
	registerBuiltin(NodeType{Name: "end", Build: buildEnd})
	registerBuiltin(NodeType{Name: "answer", Build: buildAnswer})
	registerBuiltin(NodeType{Name: "template-transform", Build: buildTemplateTransform})
	registerBuiltin(NodeType{Name: "variable-aggregator", Build: buildAggregator})
	registerBuiltin(NodeType{Name: "variable-assigner", Build: buildAggregator})
	registerBuiltin(NodeType{Name: "iteration-start", Build: buildPassthrough, Silent: true})
	registerBuiltin(NodeType{Name: "loop-start", Build: buildPassthrough, Silent: true})
}

// ---- start ----

// InputVar is a start-node variable (Dify's VariableEntity).
type InputVar struct {
	Variable    string   `json:"variable"`
	Label       string   `json:"label"`
	Type        string   `json:"type"`
	Required    bool     `json:"required"`
	MaxLength   *int     `json:"max_length"`
	Options     []string `json:"options"`
	Default     any      `json:"default"`
	Description string   `json:"description"`
	Hide        bool     `json:"hide"`
	// AllowedFileTypes, AllowedFileExtensions and AllowedFileUploadMethods
	// restrict the files of file and file-list variables (checked by the
	// API when it resolves them, see package files).
	AllowedFileTypes         []string `json:"allowed_file_types"`
	AllowedFileExtensions    []string `json:"allowed_file_extensions"`
	AllowedFileUploadMethods []string `json:"allowed_file_upload_methods"`
	// Raw is the variable as written in the DSL, served verbatim by
	// GET /parameters.
	Raw map[string]any `json:"-"`
}

type startNode struct {
	vars []InputVar
}

var inputTypes = map[string]bool{
	"text-input": true, "paragraph": true, "select": true, "number": true, "file": true,
	"file-list": true, "checkbox": true, "json_object": true, "external_data_tool": true,
}

func buildStart(b *Build) (Executor, error) {
	var cfg struct {
		Variables []map[string]any `json:"variables"`
	}
	if err := b.Decode(&cfg); err != nil {
		return nil, err
	}
	s := &startNode{}
	seen := map[string]bool{}
	for i, raw := range cfg.Variables {
		var v InputVar
		if err := decodeData(raw, &v); err != nil {
			b.Errorf("variables[%d]: %v", i, err)
			continue
		}
		v.Raw = raw
		switch {
		case v.Variable == "":
			b.Errorf("variables[%d]: variable has no name", i)
		case seen[v.Variable]:
			b.Errorf("variables[%d]: duplicate variable %q", i, v.Variable)
		case !inputTypes[v.Type]:
			b.Errorf("variable %q: unknown type %q", v.Variable, v.Type)
		}
		seen[v.Variable] = true
		s.vars = append(s.vars, v)
	}
	return s, nil
}

func (s *startNode) Execute(_ context.Context, x *Exec) (*Result, error) {
	inputs, _ := x.Pool.Vars(startInputsKey)
	sys, _ := x.Pool.Vars("sys")
	out := make(Vars, 0, len(inputs)+len(sys))
	out = append(out, inputs...)
	for _, v := range sys {
		out = append(out, Var{"sys." + v.Name, v.Value})
	}
	return &Result{Inputs: out, Outputs: out}, nil
}

// InputError is a user input that fails the start node's validation. It
// maps to Dify's ValueError → 400 invalid_param.
type InputError struct {
	Variable string
	Message  string
}

func (e *InputError) Error() string { return e.Message }

// PrepareInputs validates and converts user inputs exactly as Dify's
// _prepare_user_inputs does: undeclared keys are dropped, defaults applied,
// numbers coerced, strings checked. It returns an *InputError on bad input.
func (wf *Workflow) PrepareInputs(in map[string]any) (Vars, error) {
	out := make(Vars, 0, len(wf.Inputs))
	for i := range wf.Inputs {
		v := &wf.Inputs[i]
		val, err := v.validate(Normalize(in[v.Variable]))
		if err != nil {
			return nil, err
		}
		if s, ok := val.(string); ok && strings.IndexByte(s, 0) >= 0 {
			val = strings.ReplaceAll(s, "\x00", "")
		}
		out = append(out, Var{v.Variable, val})
	}
	return out, nil
}

func (v *InputVar) fail(format string, args ...any) error {
	return &InputError{Variable: v.Variable, Message: fmt.Sprintf(format, args...)}
}

func (v *InputVar) validate(val any) (any, error) {
	if val == "" && !v.Required && (v.Type == "file" || v.Type == "file-list") {
		// Dify's form sends "" for a file left empty.
		val = nil
	}
	if val == nil {
		if v.Required {
			return nil, v.fail("%s is required in input form", v.Variable)
		}
		val = Normalize(v.Default)
		if val == nil {
			return nil, nil
		}
	}
	switch v.Type {
	case "text-input", "select", "paragraph":
		s, ok := val.(string)
		if !ok {
			return nil, v.fail("(type '%s') %s in input form must be a string", v.Type, v.Variable)
		}
		if v.Type == "select" {
			if !contains(v.Options, s) {
				return nil, v.fail("%s in input form must be one of the following: %s", v.Variable, py.Str(stringsToAny(v.Options)))
			}
		} else if v.MaxLength != nil && *v.MaxLength > 0 && utf8.RuneCountInString(s) > *v.MaxLength {
			return nil, v.fail("%s in input form must be less than %d characters", v.Variable, *v.MaxLength)
		}
		return s, nil
	case "number":
		switch x := val.(type) {
		case int64, float64:
			return x, nil
		case string:
			if strings.TrimSpace(x) == "" {
				return nil, nil
			}
			n, err := coerceNumber(x)
			if err != nil {
				return nil, v.fail("%s in input form must be a valid number", v.Variable)
			}
			return n, nil
		}
		return nil, v.fail("%s in input form must be a valid number", v.Variable)
	case "checkbox":
		switch x := val.(type) {
		case bool:
			return x, nil
		case int64:
			if x == 0 || x == 1 {
				return x == 1, nil
			}
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true", "1", "yes", "on":
				return true, nil
			case "false", "0", "no", "off":
				return false, nil
			}
		}
		return nil, v.fail("%s in input form must be a boolean", v.Variable)
	case "file":
		if _, ok := val.(map[string]any); !ok {
			return nil, v.fail("%s in input form must be a file", v.Variable)
		}
		return val, nil
	case "file-list":
		list, ok := val.([]any)
		if !ok || !allOf(list, func(e any) bool { _, ok := e.(map[string]any); return ok }) {
			return nil, v.fail("%s in input form must be a list of files", v.Variable)
		}
		if v.MaxLength != nil && *v.MaxLength > 0 && len(list) > *v.MaxLength {
			return nil, v.fail("%s in input form must be less than %d files", v.Variable, *v.MaxLength)
		}
		return val, nil
	case "json_object":
		if _, ok := val.(map[string]any); !ok {
			return nil, v.fail("%s in input form must be a JSON object", v.Variable)
		}
		return val, nil
	}
	return val, nil
}

// coerceNumber converts a numeric string as Dify does: with a "." it is a
// float, otherwise an int.
func coerceNumber(s string) (any, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, ".") {
		var f float64
		if _, err := fmt.Sscan(s, &f); err != nil || !isNumeric(s) {
			return nil, fmt.Errorf("not a number: %q", s)
		}
		return f, nil
	}
	var i int64
	if _, err := fmt.Sscan(s, &i); err != nil || !isNumeric(s) {
		return nil, fmt.Errorf("not a number: %q", s)
	}
	return i, nil
}

func isNumeric(s string) bool {
	for i, r := range s {
		if (r < '0' || r > '9') && r != '.' && !((r == '-' || r == '+') && i == 0) && r != 'e' && r != 'E' && r != '_' {
			return false
		}
	}
	return s != ""
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func stringsToAny(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// ---- end ----

type endOutput struct {
	Variable      string   `json:"variable"`
	ValueSelector Selector `json:"value_selector"`
	ValueType     string   `json:"value_type"`
}

type endNode struct {
	outputs []endOutput
}

func buildEnd(b *Build) (Executor, error) {
	var cfg struct {
		Outputs []endOutput `json:"outputs"`
	}
	if err := b.Decode(&cfg); err != nil {
		return nil, err
	}
	// An output may have an empty name, an empty selector or both: Dify
	// accepts it, and its value is None under that name.
	for i, o := range cfg.Outputs {
		if len(o.ValueSelector) > 0 {
			b.Selector(fmt.Sprintf("outputs[%d].value_selector", i), o.ValueSelector)
		}
	}
	return &endNode{outputs: cfg.Outputs}, nil
}

// Execute collects the outputs. Dify 1.9+ treats End as a response node
// whose template is its outputs joined by "\n": the engine's response
// coordinator streams that text (see coordinator.go), not the node.
func (e *endNode) Execute(_ context.Context, x *Exec) (*Result, error) {
	out := make(Vars, len(e.outputs))
	for i, o := range e.outputs {
		var v any
		if len(o.ValueSelector) > 0 {
			v, _ = x.Pool.Get(o.ValueSelector)
		}
		out[i] = Var{o.Variable, v}
	}
	x.SetOutputs(out)
	return &Result{Inputs: out, Outputs: out}, nil
}

// ---- answer ----

type answerNode struct {
	tpl Template
}

func buildAnswer(b *Build) (Executor, error) {
	var cfg struct {
		Answer string `json:"answer"`
	}
	if err := b.Decode(&cfg); err != nil {
		return nil, err
	}
	return &answerNode{tpl: b.Template("answer", cfg.Answer)}, nil
}

// Execute renders the answer. Its text reaches the client through the
// engine's response coordinator (see coordinator.go), not through the node.
func (a *answerNode) Execute(_ context.Context, x *Exec) (*Result, error) {
	text := a.tpl.Markdown(x.Pool)
	return &Result{Outputs: Vars{{"answer", text}, {"files", []any{}}}}, nil
}

// ---- template-transform ----

type namedSelector struct {
	Variable      string   `json:"variable"`
	ValueSelector Selector `json:"value_selector"`
}

type templateNode struct {
	vars []namedSelector
	tpl  *Jinja
}

func buildTemplateTransform(b *Build) (Executor, error) {
	var cfg struct {
		Variables []namedSelector `json:"variables"`
		Template  string          `json:"template"`
	}
	if err := b.Decode(&cfg); err != nil {
		return nil, err
	}
	checkNamedSelectors(b, "variables", cfg.Variables)
	t := b.Jinja("template", cfg.Template)
	if t == nil {
		return nil, fmt.Errorf("invalid template")
	}
	return &templateNode{vars: cfg.Variables, tpl: t}, nil
}

func checkNamedSelectors(b *Build, field string, vs []namedSelector) {
	for i, v := range vs {
		if v.Variable == "" {
			b.Errorf("%s[%d]: variable has no name", field, i)
		}
		b.Selector(fmt.Sprintf("%s[%d].value_selector", field, i), v.ValueSelector)
	}
}

// namedInputs resolves named selectors into node inputs; a missing
// variable is None, as in Dify.
func namedInputs(p *Pool, vs []namedSelector) Vars {
	out := make(Vars, len(vs))
	for i, v := range vs {
		val, _ := p.Get(v.ValueSelector)
		out[i] = Var{v.Variable, val}
	}
	return out
}

func (t *templateNode) Execute(ctx context.Context, x *Exec) (*Result, error) {
	in := namedInputs(x.Pool, t.vars)
	s, err := t.tpl.Render(ctx, in)
	if err != nil {
		return &Result{Inputs: in}, &NodeError{Type: "TemplateTransformNodeError", Err: err}
	}
	if utf8.RuneCountInString(s) > MaxTemplateOutput {
		return &Result{Inputs: in}, &NodeError{Type: "TemplateTransformNodeError", Err: fmt.Errorf("Output length exceeds %d characters", MaxTemplateOutput)}
	}
	return &Result{Inputs: in, Outputs: Vars{{"output", s}}}, nil
}

// ---- variable-aggregator (and legacy variable-assigner) ----

type aggGroup struct {
	GroupName  string     `json:"group_name"`
	OutputType string     `json:"output_type"`
	Variables  []Selector `json:"variables"`
}

type aggregatorNode struct {
	vars   []Selector
	groups []aggGroup
}

func buildAggregator(b *Build) (Executor, error) {
	var cfg struct {
		OutputType       string     `json:"output_type"`
		Variables        []Selector `json:"variables"`
		AdvancedSettings *struct {
			GroupEnabled bool       `json:"group_enabled"`
			Groups       []aggGroup `json:"groups"`
		} `json:"advanced_settings"`
	}
	if err := b.Decode(&cfg); err != nil {
		return nil, err
	}
	a := &aggregatorNode{vars: cfg.Variables}
	if cfg.AdvancedSettings != nil && cfg.AdvancedSettings.GroupEnabled {
		a.groups = cfg.AdvancedSettings.Groups
		a.vars = nil
		for gi, g := range a.groups {
			if g.GroupName == "" {
				b.Errorf("advanced_settings.groups[%d]: group has no name", gi)
			}
			for i, sel := range g.Variables {
				b.Selector(fmt.Sprintf("groups[%d].variables[%d]", gi, i), sel)
			}
		}
	} else {
		for i, sel := range a.vars {
			b.Selector(fmt.Sprintf("variables[%d]", i), sel)
		}
	}
	return a, nil
}

func firstSet(p *Pool, sels []Selector) (any, bool) {
	for _, sel := range sels {
		if v, ok := p.Get(sel); ok && v != nil {
			return v, true
		}
	}
	return nil, false
}

func (a *aggregatorNode) Execute(_ context.Context, x *Exec) (*Result, error) {
	if a.groups == nil {
		if v, ok := firstSet(x.Pool, a.vars); ok {
			return &Result{Outputs: Vars{{"output", v}}}, nil
		}
		return &Result{Outputs: Vars{}}, nil
	}
	out := make(Vars, 0, len(a.groups))
	for _, g := range a.groups {
		if v, ok := firstSet(x.Pool, g.Variables); ok {
			out = append(out, Var{g.GroupName, map[string]any{"output": v}})
		}
	}
	return &Result{Outputs: out}, nil
}

// ---- iteration-start, loop-start ----

func buildPassthrough(*Build) (Executor, error) {
	return ExecutorFunc(func(context.Context, *Exec) (*Result, error) { return nil, nil }), nil
}
