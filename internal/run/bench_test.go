package run

import (
	"context"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/third_party/gonja/exec"
)

// BenchmarkRun runs the reference workflows, each compiled once, with no
// listener: the engine's own cost per run. cpu-ns/op is the process's CPU
// time per run (GC included), steadier than ns/op on a busy machine.
func BenchmarkRun(b *testing.B) {
	for _, name := range []string{"echo", "chain3", "diamond", "branch"} {
		b.Run(name, func(b *testing.B) {
			e := New(Config{}, nil)
			wf, err := e.Compile([]byte(readFile(b, "../../examples/"+name+".yml")))
			if err != nil {
				b.Skipf("%s does not compile yet: %v", name, err)
			}
			in, err := wf.PrepareInputs(map[string]any{"query": "hello world"})
			if err != nil {
				b.Fatal(err)
			}
			p := Params{RunID: "r", TaskID: "t", WorkflowID: "w", AppID: "a", UserID: "u", Inputs: in}
			ctx := context.Background()
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				if info := e.Run(ctx, wf, p, nil); info.Status != StatusSucceeded {
					b.Fatal(info.Status, info.Error)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// benchTemplate is a typical non-trivial Jinja2 template: a loop over
// retrieved documents with filters and a condition.
const benchTemplate = `{% for doc in docs %}{{ loop.index }}. {{ doc.title | upper }} ({{ doc.score | round(2) }})
{% if doc.tags %}tags: {{ doc.tags | join(', ') }}
{% endif %}{{ doc.content | truncate(80) }}
{% endfor %}Total: {{ docs | length }}`

func benchDocs() Vars {
	docs := make([]any, 10)
	for i := range docs {
		docs[i] = map[string]any{
			"title":   "document title",
			"score":   0.87654,
			"tags":    []any{"alpha", "beta"},
			"content": "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.",
		}
	}
	return Vars{{"docs", docs}}
}

// BenchmarkJinja renders benchTemplate within the default budgets
// (budgeted, what nodes do) and with gonja's unbudgeted Execute, which the
// fork keeps unchanged: the difference is what the budgets cost. simple is
// a {{ name }} template on the fast path.
func BenchmarkJinja(b *testing.B) {
	j, err := parseJinja(benchTemplate, TemplateLimits{})
	if err != nil {
		b.Fatal(err)
	}
	vars := benchDocs()
	ctx := context.Background()
	b.Run("budgeted", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := j.Render(ctx, vars); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unbudgeted", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out strings.Builder
			if err := j.full.Execute(&out, exec.NewContext(vars.Map())); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("simple", func(b *testing.B) {
		s, err := parseJinja("Question: {{ q }}\nAnswer briefly.", TemplateLimits{})
		if err != nil || s.names == nil {
			b.Fatal("not on the fast path", err)
		}
		in := Vars{{"q", "What is flowrun?"}}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Render(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVarsJSON encodes a node's outputs as its record stores them:
// short and long strings, a number, a bool and an empty list.
func BenchmarkVarsJSON(b *testing.B) {
	vs := Vars{{"query", "what is the weather like in Paris today?"},
		{"text", strings.Repeat("The quick brown fox jumps over the lazy dog. ", 20)},
		{"n", int64(42)}, {"ok", true}, {"sys.files", []any{}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := vs.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}
