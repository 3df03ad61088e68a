package run

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"
)

// Document is a Dify app DSL file (YAML as exported, or the same structure
// as JSON). Only what the engine and the service API use is decoded; the
// rest of a node's data stays raw for its builder.
type Document struct {
	App      AppInfo     `json:"app"`
	Kind     string      `json:"kind"`
	Version  string      `json:"version"`
	Workflow WorkflowDoc `json:"workflow"`
}

// AppInfo is the DSL's app section.
type AppInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Mode        string `json:"mode"`
	Icon        string `json:"icon"`
	// IconType, IconBackground and UseIconAsAnswerIcon are the WebApp
	// settings the service API's GET /site reports.
	IconType            string `json:"icon_type"`
	IconBackground      string `json:"icon_background"`
	UseIconAsAnswerIcon bool   `json:"use_icon_as_answer_icon"`
}

// WorkflowDoc is the DSL's workflow section.
type WorkflowDoc struct {
	EnvironmentVariables  []EnvVarSpec   `json:"environment_variables"`
	ConversationVariables []ConvVarSpec  `json:"conversation_variables"`
	Features              map[string]any `json:"features"`
	Graph                 GraphDoc       `json:"graph"`
}

// GraphDoc is the graph as written in the DSL.
type GraphDoc struct {
	Nodes []NodeSpec `json:"nodes"`
	Edges []EdgeSpec `json:"edges"`
}

// EnvVarSpec declares an environment variable (selector [env, name]).
type EnvVarSpec struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	ValueType   string `json:"value_type"`
	Value       any    `json:"value"`
	Description string `json:"description"`
}

// ConvVarSpec declares a conversation variable (chatflow only; selector
// [conversation, name]).
type ConvVarSpec struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	ValueType   string `json:"value_type"`
	Value       any    `json:"value"`
	Description string `json:"description"`
}

// NodeSpec is one node as written in the DSL.
type NodeSpec struct {
	ID       flexString     `json:"id"`
	Type     string         `json:"type"` // custom, custom-note, custom-iteration-start, ...
	ParentID flexString     `json:"parentId"`
	Data     map[string]any `json:"data"`
}

// EdgeSpec is one edge as written in the DSL.
type EdgeSpec struct {
	ID           flexString `json:"id"`
	Source       flexString `json:"source"`
	SourceHandle flexString `json:"sourceHandle"`
	Target       flexString `json:"target"`
	TargetHandle flexString `json:"targetHandle"`
}

// flexString accepts a JSON string, number or boolean: YAML exports are not
// consistent about quoting numeric ids and handles ('true' vs true).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	s, err := flexDecode(b)
	*f = flexString(s)
	return err
}

func flexDecode(b []byte) (string, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return "", nil
	}
	if b[0] == '"' {
		var s string
		err := json.Unmarshal(b, &s)
		return s, err
	}
	if string(b) == "true" || string(b) == "false" {
		return string(b), nil
	}
	if _, err := strconv.ParseFloat(string(b), 64); err == nil {
		return string(b), nil
	}
	return "", fmt.Errorf("want a string, got %s", b)
}

// UnmarshalJSON accepts selector elements written as numbers.
func (s *Selector) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("selector must be a list of strings: %s", truncate(string(b), 60))
	}
	out := make(Selector, len(raw))
	for i, r := range raw {
		str, err := flexDecode(r)
		if err != nil {
			return fmt.Errorf("selector element %d: %w", i, err)
		}
		out[i] = str
	}
	*s = out
	return nil
}

// ParseDocument decodes a DSL document from YAML or JSON within the
// default DocLimits (Engine.Compile applies the engine's).
func ParseDocument(data []byte) (*Document, error) {
	return parseDocument(data, DocLimits{}.withDefaults())
}

func parseDocument(data []byte, lim DocLimits) (*Document, error) {
	if err := lim.checkBytes(data); err != nil {
		return nil, err
	}
	raw, err := decodeYAML(data, lim)
	if err != nil {
		return nil, err
	}
	root, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: document must be a mapping", ErrInvalidDSL)
	}
	// Accept a bare workflow (with a graph) or a bare graph, as API clients
	// sometimes send only that part.
	if _, ok := root["workflow"]; !ok {
		if _, ok := root["graph"]; ok {
			root = map[string]any{"workflow": root}
		} else if _, ok := root["nodes"]; ok {
			root = map[string]any{"workflow": map[string]any{"graph": root}}
		}
	}
	graph := mapAt(mapAt(root, "workflow"), "graph")
	if err := lim.checkGraph(listLen(graph["nodes"]), listLen(graph["edges"])); err != nil {
		return nil, err
	}
	if err := jsonValues(root); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDSL, err)
	}
	// The graph's nodes and edges are nearly all of a document: they are
	// taken from the decoded values as they are. The rest is small and
	// decoded into the Document through JSON.
	var doc Document
	if err := decodeData(withoutGraphLists(root), &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDSL, err)
	}
	if doc.Workflow.Graph.Nodes, err = nodeSpecs(graph["nodes"]); err != nil {
		return nil, fmt.Errorf("%w: workflow.graph.nodes%v", ErrInvalidDSL, err)
	}
	if doc.Workflow.Graph.Edges, err = edgeSpecs(graph["edges"]); err != nil {
		return nil, fmt.Errorf("%w: workflow.graph.edges%v", ErrInvalidDSL, err)
	}
	for i := range doc.Workflow.EnvironmentVariables {
		ev := &doc.Workflow.EnvironmentVariables[i]
		ev.Value = Normalize(ev.Value)
	}
	for i := range doc.Workflow.ConversationVariables {
		cv := &doc.Workflow.ConversationVariables[i]
		cv.Value = Normalize(cv.Value)
	}
	if doc.Kind == "" {
		doc.Kind = "app"
	}
	if doc.Version == "" {
		doc.Version = "0.1.0"
	}
	if doc.Kind != "app" {
		return nil, fmt.Errorf("%w: kind %q is not an app", ErrInvalidDSL, doc.Kind)
	}
	if doc.App.Mode == "" {
		doc.App.Mode = "workflow"
	}
	return &doc, nil
}

// jsonValues turns, in place, the values of a decoded document into those
// a JSON round trip gives, as the loader always has: floats with an
// integral value become int64 (YAML's 1.0 is 1), times become their JSON
// text, and NaN or infinities are refused.
func jsonValues(v any) error {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			j, err := jsonValue(e)
			if err != nil {
				return err
			}
			x[k] = j
		}
	case []any:
		for i, e := range x {
			j, err := jsonValue(e)
			if err != nil {
				return err
			}
			x[i] = j
		}
	}
	return nil
}

func jsonValue(v any) (any, error) {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("unsupported value: %v", x)
		}
		if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 && math.Abs(x) < 1e21 {
			return int64(x), nil
		}
	case time.Time:
		b, err := x.MarshalJSON()
		if err != nil {
			return nil, err
		}
		return string(b[1 : len(b)-1]), nil
	case map[string]any, []any:
		return v, jsonValues(v)
	}
	return v, nil
}

// withoutGraphLists returns root without workflow.graph's nodes and edges,
// copying only the maps on the way.
func withoutGraphLists(root map[string]any) map[string]any {
	wf, ok := root["workflow"].(map[string]any)
	if !ok {
		return root
	}
	graph, ok := wf["graph"].(map[string]any)
	if !ok {
		return root
	}
	graph = maps.Clone(graph)
	delete(graph, "nodes")
	delete(graph, "edges")
	wf = maps.Clone(wf)
	wf["graph"] = graph
	root = maps.Clone(root)
	root["workflow"] = wf
	return root
}

// nodeSpecs reads the graph's nodes as a JSON decode into []NodeSpec
// would, field names matched the same way.
func nodeSpecs(v any) ([]NodeSpec, error) {
	list, err := specList(v)
	if err != nil {
		return nil, err
	}
	out := make([]NodeSpec, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			if e == nil {
				continue
			}
			return nil, fmt.Errorf("[%d]: a node must be a mapping", i)
		}
		n := &out[i]
		var errs [4]error
		n.ID, errs[0] = flexValue(jsonField(m, "id"))
		n.Type, errs[1] = stringValue(jsonField(m, "type"))
		n.ParentID, errs[2] = flexValue(jsonField(m, "parentId"))
		switch d := jsonField(m, "data").(type) {
		case nil:
		case map[string]any:
			n.Data = d
		default:
			errs[3] = errors.New("data must be a mapping")
		}
		if err := errors.Join(errs[:]...); err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return out, nil
}

// edgeSpecs reads the graph's edges as a JSON decode into []EdgeSpec would.
func edgeSpecs(v any) ([]EdgeSpec, error) {
	list, err := specList(v)
	if err != nil {
		return nil, err
	}
	out := make([]EdgeSpec, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			if e == nil {
				continue
			}
			return nil, fmt.Errorf("[%d]: an edge must be a mapping", i)
		}
		ed := &out[i]
		var errs [5]error
		ed.ID, errs[0] = flexValue(jsonField(m, "id"))
		ed.Source, errs[1] = flexValue(jsonField(m, "source"))
		ed.SourceHandle, errs[2] = flexValue(jsonField(m, "sourceHandle"))
		ed.Target, errs[3] = flexValue(jsonField(m, "target"))
		ed.TargetHandle, errs[4] = flexValue(jsonField(m, "targetHandle"))
		if err := errors.Join(errs[:]...); err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return out, nil
}

func specList(v any) ([]any, error) {
	switch l := v.(type) {
	case nil:
		return nil, nil
	case []any:
		return l, nil
	}
	return nil, errors.New(" must be a list")
}

// jsonField looks name up as encoding/json matches struct fields: the exact
// key, else any key equal to it under case folding.
func jsonField(m map[string]any, name string) any {
	if v, ok := m[name]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// flexValue is flexString's decoding of a decoded value.
func flexValue(v any) (flexString, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return flexString(x), nil
	case bool, int64, float64:
		b, err := json.Marshal(x)
		if err != nil {
			return "", err
		}
		s, err := flexDecode(b)
		return flexString(s), err
	}
	return "", fmt.Errorf("want a string, got %s", truncate(Text(v), 60))
}

func stringValue(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	}
	return "", fmt.Errorf("want a string, got %s", truncate(Text(v), 60))
}

func mapAt(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

func listLen(v any) int {
	l, _ := v.([]any)
	return len(l)
}

// decodeData decodes a node's raw data into v (a pointer to a struct with
// json tags).
func decodeData(data map[string]any, v any) error {
	js, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return decodeJSON(js, v)
}

// decodeJSON decodes js into v, numbers as json.Number.
func decodeJSON(js []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	return dec.Decode(v)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
