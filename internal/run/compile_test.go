package run

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/flowrun/flowrun/internal/sharedtest"
)

func TestValidationReportsEveryProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		nodes []string
		edges []string
		want  []string // substrings, each must appear
	}{
		{
			name:  "no start",
			nodes: []string{"a:test-value"},
			want:  []string{"workflow has no start node"},
		},
		{
			name:  "two starts",
			nodes: []string{queryStart, "s2:start:{variables: []}"},
			want:  []string{"workflow has 2 start nodes (start, s2); exactly one is allowed"},
		},
		{
			name:  "unknown type",
			nodes: []string{queryStart, "x:magic", "y:magic", "z:wizardry"},
			edges: []string{"start->x", "x->y", "y->z"},
			want:  []string{`node x: node type "magic" is not supported (nodes: x, y)`, `node z: node type "wizardry" is not supported (nodes: z)`},
		},
		{
			name:  "dangling edge",
			nodes: []string{queryStart},
			edges: []string{"start->ghost"},
			want:  []string{`edge e0: target node "ghost" does not exist`},
		},
		{
			name:  "cycle",
			nodes: []string{queryStart, "a:test-value", "b:test-value", "c:test-value"},
			edges: []string{"start->a", "a->b", "b->c", "c->a"},
			want:  []string{"cycle in the workflow through nodes a, b, c"},
		},
		{
			name:  "dangling reference",
			nodes: []string{queryStart, `end:end:{outputs: [{variable: o, value_selector: [nowhere, x]}]}`},
			edges: []string{"start->end"},
			want:  []string{`node end: outputs[0].value_selector: references unknown node "nowhere"`},
		},
		{
			name:  "template reference and bad jinja",
			nodes: []string{queryStart, `a:answer:{answer: "{{#nope.x#}}"}`, `t:template-transform:{template: "{% if %}", variables: []}`},
			edges: []string{"start->a", "a->t"},
			want:  []string{`node a: answer: references unknown node "nope"`, "node t: template: invalid Jinja2 template"},
		},
		{
			name:  "bad error strategy and default value",
			nodes: []string{queryStart, `a:test-value:{error_strategy: retry-forever}`, `b:test-value:{error_strategy: default-value, default_value: [{key: k, type: object, value: '{bad'}]}`},
			edges: []string{"start->a", "a->b"},
			want:  []string{`node a: unknown error_strategy "retry-forever"`, `node b: default_value "k": value is not valid object`},
		},
		{
			name:  "bad start variables",
			nodes: []string{`start:start:{variables: [{variable: q, type: colour}, {type: number}]}`},
			want:  []string{`variable "q": unknown type "colour"`, "variables[1]: variable has no name"},
		},
	}
	k := newTestKit()
	e := New(Config{}, k.reg)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := e.Compile([]byte(graphYAML(tc.nodes, tc.edges)))
			var verr *ValidationError
			if !errors.As(err, &verr) || !errors.Is(err, ErrInvalidDSL) {
				t.Fatalf("got %v, want a ValidationError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\n does not mention %q", err, w)
				}
			}
		})
	}
}

func TestMalformedDocuments(t *testing.T) {
	t.Parallel()
	e := New(Config{}, nil)
	for name, src := range map[string]string{
		"not yaml":      "{{{",
		"scalar":        "42",
		"wrong kind":    "kind: dataset\napp: {mode: workflow}\nworkflow: {graph: {nodes: []}}",
		"chat app":      "app: {mode: agent-chat}\nworkflow: {graph: {nodes: [], edges: []}}",
		"nodes not seq": "workflow: {graph: {nodes: 7}}",
		"empty":         "",
	} {
		if _, err := e.Compile([]byte(src)); !errors.Is(err, ErrInvalidDSL) {
			t.Errorf("%s: got %v, want ErrInvalidDSL", name, err)
		}
	}
}

func TestLegacyForms(t *testing.T) {
	t.Parallel()
	e := New(Config{}, nil)
	// No kind/version, JSON instead of YAML, numeric ids, sticky note.
	src := `{"app": {"mode": "workflow", "name": "legacy"}, "workflow": {"graph": {
	  "nodes": [
	    {"id": 1, "type": "custom", "data": {"type": "start", "title": "S", "variables": [{"variable": "q", "type": "paragraph", "required": true}]}},
	    {"id": "note", "type": "custom-note", "data": {"type": "", "text": "hello"}},
	    {"id": 2, "type": "custom", "data": {"type": "variable-assigner", "title": "Agg", "output_type": "string", "variables": [[1, "q"]]}},
	    {"id": 3, "type": "custom", "data": {"type": "end", "title": "E", "outputs": [{"variable": "out", "value_selector": [2, "output"]}]}}
	  ],
	  "edges": [{"id": "a", "source": 1, "target": 2}, {"id": "b", "source": 2, "target": 3}]}}}`
	wf := mustCompile(t, e, src)
	if wf.Doc.Version != "0.1.0" || wf.Doc.Kind != "app" {
		t.Fatalf("version %q kind %q", wf.Doc.Version, wf.Doc.Kind)
	}
	info, _ := runWith(t, t.Context(), e, wf, map[string]any{"q": "hi"})
	if got := sharedtest.JSON(t, info.Outputs); got != `{"out":"hi"}` {
		t.Fatalf("outputs %s (%s)", got, info.Error)
	}
}

func TestPrepareInputs(t *testing.T) {
	t.Parallel()
	e := New(Config{}, nil)
	wf := mustCompile(t, e, graphYAML([]string{`start:start:{variables: [
		{variable: text, type: text-input, required: true, max_length: 5},
		{variable: para, type: paragraph, required: false, default: dflt},
		{variable: level, type: select, options: [low, high], required: false},
		{variable: n, type: number, required: false},
		{variable: ok, type: checkbox, required: false},
		{variable: obj, type: json_object, required: false},
		{variable: doc, type: file, required: false},
		{variable: docs, type: file-list, required: false, max_length: 1}]}`}, nil))
	good := map[string]any{"text": "héllo"}
	tests := []struct {
		name string
		in   map[string]any
		want string // JSON of the prepared inputs, or the error message
	}{
		{"defaults and unknown keys dropped", map[string]any{"text": "a", "junk": 1},
			`{"text":"a","para":"dflt","level":null,"n":null,"ok":null,"obj":null,"doc":null,"docs":null}`},
		{"required missing", map[string]any{}, "text is required in input form"},
		{"required null", map[string]any{"text": nil}, "text is required in input form"},
		{"not a string", map[string]any{"text": 5}, "(type 'text-input') text in input form must be a string"},
		{"too long", map[string]any{"text": "abcdef"}, "text in input form must be less than 5 characters"},
		{"max length counts runes", good, `{"text":"héllo","para":"dflt","level":null,"n":null,"ok":null,"obj":null,"doc":null,"docs":null}`},
		{"select option", map[string]any{"text": "a", "level": "mid"}, "level in input form must be one of the following: ['low', 'high']"},
		{"select not string", map[string]any{"text": "a", "level": true}, "(type 'select') level in input form must be a string"},
		{"int string", map[string]any{"text": "a", "n": "42"}, `"n":42`},
		{"float string", map[string]any{"text": "a", "n": "4.5"}, `"n":4.5`},
		{"empty number", map[string]any{"text": "a", "n": "  "}, `"n":null`},
		{"bad number", map[string]any{"text": "a", "n": "4x"}, "n in input form must be a valid number"},
		{"number wrong type", map[string]any{"text": "a", "n": []any{1}}, "n in input form must be a valid number"},
		{"checkbox string", map[string]any{"text": "a", "ok": "yes"}, `"ok":true`},
		{"checkbox int", map[string]any{"text": "a", "ok": int64(0)}, `"ok":false`},
		{"checkbox bad", map[string]any{"text": "a", "ok": "maybe"}, "ok in input form must be a boolean"},
		{"json object", map[string]any{"text": "a", "obj": []any{}}, "obj in input form must be a JSON object"},
		{"file", map[string]any{"text": "a", "doc": "x"}, "doc in input form must be a file"},
		{"file list too long", map[string]any{"text": "a", "docs": []any{map[string]any{}, map[string]any{}}}, "docs in input form must be less than 1 files"},
		{"NUL removed", map[string]any{"text": "a\x00b"}, `"text":"ab"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := wf.PrepareInputs(tc.in)
			if err != nil {
				var ie *InputError
				if !errors.As(err, &ie) || err.Error() != tc.want {
					t.Fatalf("error %q, want %q", err, tc.want)
				}
				return
			}
			if js := sharedtest.JSON(t, got); !strings.Contains(js, tc.want) {
				t.Fatalf("inputs %s, want %s", js, tc.want)
			}
		})
	}
}

// TestDSLConformance loads every real Dify export in testdata/dsl: each one
// compiles, or fails only because of node types the engine does not support,
// naming every such type.
func TestDSLConformance(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/dsl/*/*.yml")
	if err != nil || len(files) < 20 {
		t.Fatalf("found %d DSL files (%v)", len(files), err)
	}
	e := New(Config{}, nil)
	supported := NewRegistry().Types()
	unsupportedMsg := regexp.MustCompile(`^node type "([a-z0-9-]+)" is not supported \(nodes: [^)]+\)$`)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want := unsupportedTypes(t, data, supported)
			_, err = e.Compile(data)
			if len(want) == 0 {
				if err != nil {
					t.Fatalf("uses only supported node types but does not load: %v", err)
				}
				return
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("uses %v but got %v", want, err)
			}
			var got []string
			for _, p := range verr.Problems {
				m := unsupportedMsg.FindStringSubmatch(p.Message)
				if m == nil {
					t.Errorf("unexpected problem besides unsupported types: %s", p)
					continue
				}
				got = append(got, m[1])
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("unsupported types reported %v, want %v", got, want)
			}
		})
	}
}

func unsupportedTypes(t *testing.T, data []byte, supported []string) []string {
	var doc struct {
		Workflow struct {
			Graph struct {
				Nodes []struct {
					Type string `yaml:"type"`
					Data struct {
						Type string `yaml:"type"`
					} `yaml:"data"`
				} `yaml:"nodes"`
			} `yaml:"graph"`
		} `yaml:"workflow"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range doc.Workflow.Graph.Nodes {
		if n.Type == "custom-note" || slices.Contains(supported, n.Data.Type) || slices.Contains(out, n.Data.Type) {
			continue
		}
		out = append(out, n.Data.Type)
	}
	slices.Sort(out)
	return out
}
