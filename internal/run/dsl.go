package run

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"go.yaml.in/yaml/v3"
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
	ID        string `json:"id"`
	Name      string `json:"name"`
	ValueType string `json:"value_type"`
	Value     any    `json:"value"`
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

// ParseDocument decodes a DSL document from YAML or JSON.
func ParseDocument(data []byte) (*Document, error) {
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDSL, err)
	}
	raw = Normalize(raw)
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
	js, err := json.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDSL, err)
	}
	// UseNumber keeps integers integers in node data (Normalize below turns
	// json.Number into int64 or float64); a plain decode would make every
	// number a float64.
	var doc Document
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDSL, err)
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
	for i := range doc.Workflow.Graph.Nodes {
		n := &doc.Workflow.Graph.Nodes[i]
		for k, v := range n.Data {
			n.Data[k] = Normalize(v)
		}
	}
	return &doc, nil
}

// decodeData decodes a node's raw data into v (a pointer to a struct with
// json tags).
func decodeData(data map[string]any, v any) error {
	js, err := json.Marshal(data)
	if err != nil {
		return err
	}
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
