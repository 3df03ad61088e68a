package run

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzCompile feeds arbitrary documents to the loader: it must return a
// workflow or an error wrapping ErrInvalidDSL, never panic. Documents that
// compile are run once, which must not panic either.
func FuzzCompile(f *testing.F) {
	files, _ := filepath.Glob("../../examples/*.yml")
	more, _ := filepath.Glob("testdata/dsl/dify-fixtures/*.yml")
	for _, p := range append(files, more...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"workflow":{"graph":{"nodes":[{"id":"s","data":{"type":"start"}}],"edges":[{"source":"s","target":"s"}]}}}`))
	// Alias expansion is bounded by DSL_MAX_YAML_NODES; a smaller bound
	// keeps each input fast.
	e := New(Config{MaxSteps: 50, Logger: discardLogger(), Document: DocLimits{MaxYAMLNodes: 20_000}}, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		// A document must never hang the loader or the engine.
		done := make(chan struct{})
		go func() {
			defer close(done)
			compileAndRun(e, data)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("compile+run did not finish within 5 s")
		}
	})
}

func compileAndRun(e *Engine, data []byte) {
	{
		wf, err := e.Compile(data)
		if err != nil {
			return
		}
		in, err := wf.PrepareInputs(map[string]any{"query": "fuzz"})
		if err != nil {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		e.Run(ctx, wf, Params{RunID: "r", Inputs: in}, nil)
	}
}

// FuzzTemplate checks that {{#...#}} parsing and rendering never panic and
// that text without references renders unchanged.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"{{#start.query#}}", "a {{#n.v.x#}} b {{#sys.user_id#}}", "{{#", "#}}", "{{#a.b#}}{{#a.b#}}", "{{#x#}}", "{{#1234.5abc#}}"} {
		f.Add(s)
	}
	pool := NewPool(nil)
	pool.Set("n", Vars{{"v", map[string]any{"x": []any{int64(1), "two", 3.5, nil, true}}}})
	pool.Set("sys", Vars{{"user_id", "u"}})
	f.Fuzz(func(t *testing.T, s string) {
		tpl := ParseTemplate(s)
		text := tpl.Text(pool)
		_ = tpl.Markdown(pool)
		if len(tpl.Selectors()) == 0 && text != s {
			t.Fatalf("template without references changed: %q -> %q", s, text)
		}
		for _, sel := range tpl.Selectors() {
			if len(sel) < 2 || len(sel) > 11 {
				t.Fatalf("selector %v out of Dify's bounds", sel)
			}
			pool.Get(sel)
		}
	})
}

// FuzzJinja checks that arbitrary Jinja2 sources fail cleanly.
func FuzzJinja(f *testing.F) {
	for _, s := range []string{"{{ q }}-1", "{% for x in l %}{{ x }}{% endfor %}", "{{ q | upper }}", "{% if %}", "{{ 1/0 }}", "{% include 'x' %}", "a {{q}} b\n", "{{ q }}{{q}}\r\n", "x {{ missing }}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tpl, err := parseJinja(s, TemplateLimits{})
		if err != nil {
			return
		}
		vars := Vars{{"q", "v"}, {"l", []any{int64(1), "a"}}}
		fast, err := tpl.Render(context.Background(), vars)
		if tpl.names == nil || err != nil {
			return
		}
		// The fast path must agree with gonja.
		slow, err := renderJinja(context.Background(), tpl.full, vars.Map(), tpl.limits)
		if err == nil && slow != fast {
			t.Fatalf("fast path %q, gonja %q for %q", fast, slow, s)
		}
	})
}
