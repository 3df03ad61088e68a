package run

import (
	"context"
	"errors"
	"math"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"
)

// renderDeadline guards against a render that does not end; every hostile
// template below ends within milliseconds when the budgets work.
const renderDeadline = 60 * time.Second

// maxHeapGrowth is a very loose bound on the heap a hostile render may
// add: without the budgets each of them takes the process down.
const maxHeapGrowth = 256 << 20

type renderResult struct {
	out string
	err error
}

// renderBounded renders src with vars under limits on its own goroutine
// and returns what it rendered, failing the test if it takes longer than
// renderDeadline or if the heap grows by more than maxHeapGrowth meanwhile.
func renderBounded(t *testing.T, ctx context.Context, src string, limits TemplateLimits, vars Vars) (string, error) {
	t.Helper()
	j, err := parseJinja(src, limits)
	if err != nil {
		return "", err
	}
	runtime.GC()
	base := heapObjects()
	done := make(chan renderResult, 1)
	go func() {
		out, err := j.Render(ctx, vars)
		done <- renderResult{out, err}
	}()
	// Sample the heap while the render runs: its peak is what would have
	// taken the process down.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(renderDeadline)
	peak := base
	for {
		select {
		case r := <-done:
			if grown := max(peak, heapObjects()) - base; grown > maxHeapGrowth {
				t.Errorf("heap grew by %d MiB during the render", grown>>20)
			}
			return r.out, r.err
		case <-tick.C:
			peak = max(peak, heapObjects())
		case <-deadline:
			t.Fatalf("render did not end within %s", renderDeadline)
		}
	}
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestJinjaHostileTemplates checks that templates that would exhaust
// memory, the stack or the CPU end their render quickly with an error that
// names the limit and its value. It is not parallel: it measures the heap.
func TestJinjaHostileTemplates(t *testing.T) {
	defaults := TemplateLimits{}
	small := TemplateLimits{Iterations: 10_000, OutputBytes: 1 << 20, AllocBytes: 32 << 20}
	for _, tc := range []struct {
		name, src string
		limits    TemplateLimits
		want      string
	}{
		{"string repeat", `{{ 'x' * 1000000000000 }}`, defaults, "template value exceeds 16777216 bytes: string repeat"},
		{"recursive macro", `{% macro f(n) %}{{ f(n+1) }}{% endmacro %}{{ f(0) }}`, defaults, "template recursion exceeds depth 100"},
		{"recursive loop", `{% for x in l recursive %}{{ loop(l) }}{% endfor %}`, defaults, "template recursion exceeds depth 100"},
		{"billion range", `{% for i in range(10**9) %}{% endfor %}`, defaults, "template value exceeds 16777216 bytes: range() of 1000000000 items"},
		{"range with a huge step count", `{{ range(-(2**62), 2**62, 3)|length }}`, defaults, "template value exceeds 16777216 bytes: range() of 3074457345618258603 items"},
		{"range in a loop", `{% for i in range(100000) %}{% set r = range(200000) %}{% endfor %}`, defaults, "template values exceed 134217728 bytes in total"},
		{"nested loops", `{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}`, small, "template exceeds 10000 loop iterations and macro calls"},
		{"long string loop", `{% for c in big %}{% endfor %}`, small, "template exceeds 10000 loop iterations and macro calls"},
		{"exponential macro", `{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}`, small, "template exceeds 10000 loop iterations and macro calls"},
		{"concatenation in a loop", `{% set ns = namespace(s='') %}{% for i in range(10000) %}{% set ns.s = ns.s ~ ('x' * 1000) %}{% endfor %}`, defaults, "template values exceed 134217728 bytes in total"},
		{"appends kept in a list", `{% set l = [] %}{% for i in range(1000) %}{% do l.append('x' * 1000000) %}{% endfor %}`, small, "template values exceed 33554432 bytes in total"},
		{"shared list doubling", `{% set ns = namespace(x=[1]) %}{% for i in range(100) %}{% set ns.x = [ns.x, ns.x] %}{% endfor %}{{ ns.x }}`, defaults, "template value exceeds 16777216 bytes"},
		{"namespace holding itself", `{% set ns = namespace(a=1) %}{% set ns.self = ns %}{{ ns }}`, defaults, "template value nests deeper than 1000 levels"},
		{"output in a loop", `{% for i in range(1000) %}{{ 'x' * 10000 }}{% endfor %}`, small, "template output exceeds 1048576 bytes"},
		{"join on a huge list", `{{ range(200000)|join('x' * 1000) }}`, defaults, "template value exceeds 16777216 bytes: join"},
		{"center filter", `{{ 'x'|center(10**12) }}`, defaults, "template value exceeds 16777216 bytes: center(1000000000000)"},
		{"center method", `{{ 'x'.center(10**12, '*') }}`, defaults, "template value exceeds 16777216 bytes: str.center"},
		{"zfill", `{{ '1'.zfill(10**12) }}`, defaults, "template value exceeds 16777216 bytes: str.zfill"},
		{"format filter widths", `{{ ('%1000000d' * 100)|format(1) }}`, defaults, "template value exceeds 16777216 bytes: format"},
		{"str.format width", `{{ '{:>1000000000000}'.format('x') }}`, defaults, "template value exceeds 16777216 bytes: str.format"},
		{"str.format nested width", `{{ '{0:{1}}'.format('x', 99999999999) }}`, defaults, "template value exceeds 16777216 bytes: str.format"},
		{"indent", `{{ ('x\n' * 1000000)|indent(1000) }}`, defaults, "template value exceeds 16777216 bytes: indent"},
		{"replace", `{{ ('x' * 1000000)|replace('', 'y' * 100) }}`, defaults, "template value exceeds 16777216 bytes: replace"},
		{"str.replace", `{% set s = 'x' * 1000000 %}{{ s.replace('x', 'y' * 100, -1) }}`, defaults, "template value exceeds 16777216 bytes: str.replace"},
		{"str.join", `{% set s = 'y' * 10000000 %}{{ s.join(['a', 'b', 'c']) }}`, defaults, "template value exceeds 16777216 bytes: str.join"},
		{"split", `{% set s = ',' * 1000000 %}{{ s.split(',')|length }}`, defaults, "template value exceeds 16777216 bytes: str.split"},
		{"list of a string", `{{ ('x' * 1000000)|list|length }}`, defaults, "template value exceeds 16777216 bytes: list"},
		{"lipsum", `{{ lipsum(n=10**9) }}`, defaults, "template value exceeds 16777216 bytes: lipsum(n=1000000000)"},
		{"batch fill", `{{ [1]|batch(10**12, fill_with=0) }}`, defaults, "template value exceeds 16777216 bytes: batch(1000000000000)"},
		{"slice", `{{ [1]|slice(10**12) }}`, defaults, "template value exceeds 16777216 bytes: slice(1000000000000)"},
		{"tojson indent", `{{ {'a': [1, 2]}|tojson(indent=10**12) }}`, defaults, "template value exceeds 16777216 bytes: tojson"},
		{"captured block", `{% set x %}{% for i in range(100) %}{{ 'x' * 1000000 }}{% endfor %}{% endset %}`, defaults, "template value exceeds 16777216 bytes: captured output"},
		{"macro output", `{% macro m() %}{% for i in range(100) %}{{ 'x' * 1000000 }}{% endfor %}{% endmacro %}{{ m() }}`, defaults, "template value exceeds 16777216 bytes: captured output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := renderBounded(t, context.Background(), tc.src, tc.limits, Vars{{"big", strings.Repeat("x", 100_000)}, {"l", []any{int64(1)}}})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("render = %.50q, %v; want error %q", out, err, tc.want)
			}
			if !errors.Is(err, ErrTemplateLimit) {
				t.Fatalf("%v does not wrap ErrTemplateLimit", err)
			}
		})
	}
}

func TestJinjaFastPathOutputLimit(t *testing.T) {
	t.Parallel()
	src := strings.Repeat("{{ a }}", 20)
	j, err := parseJinja(src, TemplateLimits{OutputBytes: 1 << 20})
	if err != nil || j.names == nil {
		t.Fatalf("parse: %v, simple %v", err, j != nil && j.names != nil)
	}
	_, err = j.Render(context.Background(), Vars{{"a", strings.Repeat("x", 100_000)}})
	if err == nil || err.Error() != "template output exceeds 1048576 bytes" || !errors.Is(err, ErrTemplateLimit) {
		t.Fatalf("err %v", err)
	}
}

// TestJinjaNoLimitOff checks that a negative limit turns it off.
func TestJinjaLimitOff(t *testing.T) {
	t.Parallel()
	out, err := renderBounded(t, context.Background(), `{{ ('x' * 20000000)|length }}`, TemplateLimits{ValueBytes: -1, OutputBytes: -1}, nil)
	if err != nil || out != "20000000" {
		t.Fatalf("render %q, %v", out, err)
	}
}

func TestJinjaDeepSyntax(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"{{ " + strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000) + " }}",
		"{{ 1" + strings.Repeat(" ~ 1", 5000) + " }}",
		"{{ x" + strings.Repeat(".a", 5000) + " }}",
		"{{ " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + " }}",
		strings.Repeat("{% if 1 %}", 5000) + strings.Repeat("{% endif %}", 5000),
	} {
		_, err := parseJinja(src, TemplateLimits{})
		if err == nil || !strings.Contains(err.Error(), "template nests deeper than 1000 levels") {
			t.Fatalf("parse %.40q...: %v", src, err)
		}
		if len(err.Error()) > maxTemplateError+len("…") {
			t.Fatalf("error of %d bytes quotes the template", len(err.Error()))
		}
	}
	// Nesting just below the limit parses and renders.
	out, err := renderBounded(t, context.Background(), "{{ 1"+strings.Repeat(" + 1", 900)+" }}", TemplateLimits{}, nil)
	if err != nil || out != "901" {
		t.Fatalf("render %q, %v", out, err)
	}
}

func TestJinjaCannotLoadTemplates(t *testing.T) {
	t.Parallel()
	if _, err := parseJinja(`{% extends "/template" %}`, TemplateLimits{}); err == nil || !strings.Contains(err.Error(), "templates cannot load other templates") {
		t.Fatalf("extends: %v", err)
	}
	for _, src := range []string{`{% include "/template" %}`, `{% import "/template" as m %}`, `{% from "/template" import m %}`, `{% include "/etc/passwd" %}`} {
		_, err := renderBounded(t, context.Background(), src, TemplateLimits{}, nil)
		if err == nil || !strings.Contains(err.Error(), "templates cannot load other templates") {
			t.Fatalf("%s: %v", src, err)
		}
	}
}

// TestJinjaLeavesInputsAlone checks that a template cannot change the
// values it is given: they belong to the run's variable pool, which other
// nodes read concurrently.
func TestJinjaLeavesInputsAlone(t *testing.T) {
	t.Parallel()
	obj := map[string]any{"a": "b"}
	list := make([]any, 3, 10)
	list[0], list[1], list[2] = int64(1), int64(2), int64(3)
	vars := Vars{{"obj", obj}, {"l", list}}

	_, err := renderBounded(t, context.Background(), `{% set obj.a = 'changed' %}`, TemplateLimits{}, vars)
	if err == nil || !strings.Contains(err.Error(), "cannot assign attribute on non-namespace object") || obj["a"] != "b" {
		t.Fatalf("set on an input: %v, obj %v", err, obj)
	}
	out, err := renderBounded(t, context.Background(), `{% do l.reverse() %}{% do l.append(4) %}{{ l }}`, TemplateLimits{}, vars)
	if err != nil || out != "[3, 2, 1, 4]" {
		t.Fatalf("render %q, %v", out, err)
	}
	if list[0] != int64(1) || list[2] != int64(3) || list[:4][3] != nil {
		t.Fatalf("input list changed: %v", list[:4])
	}
	out, err = renderBounded(t, context.Background(), `{% set ns = namespace(n=1) %}{% set ns.n = ns.n + 1 %}{{ ns.n }}`, TemplateLimits{}, nil)
	if err != nil || out != "2" {
		t.Fatalf("namespace: %q, %v", out, err)
	}
}

// TestJinjaOrdinaryTemplates checks that templates well within the limits
// render as before.
func TestJinjaOrdinaryTemplates(t *testing.T) {
	t.Parallel()
	vars := Vars{
		{"name", "Ada"},
		{"items", []any{map[string]any{"title": "b", "n": int64(2)}, map[string]any{"title": "a", "n": int64(1)}}},
		{"text", "one two three four five"},
	}
	for _, tc := range []struct{ src, want string }{
		{"Hello {{ name }}!", "Hello Ada!"},
		{"{% for it in items|sort(attribute='title') %}{{ loop.index }}.{{ it.title }}={{ it.n }} {% endfor %}", "1.a=1 2.b=2 "},
		{"{{ items|map(attribute='n')|sum }} {{ items|length }}", "3 2"},
		{"{{ text|wordwrap(9) }}", "one two\nthree\nfour five"},
		{"{{ text.split(' ')|join(',') }} {{ text|upper|truncate(9, end='') }}", "one,two,three,four,five ONE TWO"},
		{"{{ '%s-%03d'|format(name, 7) }} {{ '{}:{:>4}'.format(name, 5) }}", "Ada-007 Ada:   5"},
		{"{{ range(3)|list }} {{ range(1, 10, 3)|join(' ') }} {{ range(5)|length }}", "[0, 1, 2] 1 4 7 5"},
		{"{{ 2**10 }} {{ 2**-1 }} {{ 7 % 3 }} {{ 'ab' * 3 }} {{ 'x' * -1 }}", "1024 0.5 1 ababab "},
		{"{% macro row(x) %}<{{ x }}>{% endmacro %}{% for i in range(3) %}{{ row(i) }}{% endfor %}", "<0><1><2>"},
		{"{% set ns = namespace(total=0) %}{% for it in items %}{% set ns.total = ns.total + it.n %}{% endfor %}{{ ns.total }}", "3"},
		{"{{ {'b': 1, 'a': [1, 2]}|tojson }} {{ 'x'|center(5) }}|", `{"a":[1,2],"b":1}   x  |`},
		{"{% filter upper %}{{ name }}{% endfilter %} {% set c %}[{{ name }}]{% endset %}{{ c }}", "ADA [Ada]"},
	} {
		out, err := renderBounded(t, context.Background(), tc.src, TemplateLimits{}, vars)
		if err != nil || out != tc.want {
			t.Errorf("%s:\n got %q, %v\nwant %q", tc.src, out, err, tc.want)
		}
	}
}

var errTestCancel = errors.New("test cancelled the render")

// TestJinjaCancelEndsEmptyLoop checks that a render busy in a loop that
// writes nothing returns once its context is cancelled, with the
// context's cause.
func TestJinjaCancelEndsEmptyLoop(t *testing.T) {
	t.Parallel()
	// The limits are off so that only the context can end this loop of
	// 4e10 iterations.
	off := TemplateLimits{Iterations: -1, AllocBytes: -1}
	j, err := parseJinja(`{{ started() }}{% for i in range(200000) %}{% for j in range(200000) %}{% endfor %}{% endfor %}`, off)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := j.Render(ctx, Vars{{"started", func() string { close(started); return "" }}})
		done <- err
	}()
	select {
	case <-started:
	case <-time.After(renderDeadline):
		t.Fatal("render did not start")
	}
	cancel(errTestCancel)
	select {
	case err := <-done:
		if !errors.Is(err, errTestCancel) {
			t.Fatalf("err %v, want the context's cause", err)
		}
	case <-time.After(renderDeadline):
		t.Fatal("render did not return after its context was cancelled")
	}
}

func TestJinjaDeadlineEndsRender(t *testing.T) {
	t.Parallel()
	off := TemplateLimits{Iterations: math.MaxInt, AllocBytes: -1}
	ctx, cancel := context.WithTimeoutCause(context.Background(), 50*time.Millisecond, ErrTimeout)
	defer cancel()
	_, err := renderBounded(t, ctx, `{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}`, off, nil)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v, want %v", err, ErrTimeout)
	}
}

// TestTemplateNodeEndsWithRun checks that the run timeout and stop end a
// template-transform node that is busy in a loop that writes nothing, and
// that the run ends with its own cause, not a template error.
func TestTemplateNodeEndsWithRun(t *testing.T) {
	t.Parallel()
	src := graphYAML([]string{queryStart,
		`t:template-transform:{template: "{% for i in range(200000) %}{% for j in range(200000) %}{% endfor %}{% endfor %}", variables: []}`},
		[]string{"start->t"})
	// Only the run's context can end this loop of 4e10 iterations.
	off := TemplateLimits{Iterations: -1, AllocBytes: -1}
	for _, tc := range []struct {
		name   string
		cfg    Config
		stop   bool
		status Status
		err    string
	}{
		{"timeout", Config{Timeout: 100 * time.Millisecond, Template: off}, false, StatusFailed, "Maximum execution time exceeded: "},
		{"stop", Config{Template: off}, true, StatusStopped, "Stopped by user."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := New(tc.cfg, nil)
			wf := mustCompile(t, e, src)
			in, err := wf.PrepareInputs(nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			started := make(chan struct{}, 1)
			done := make(chan *RunInfo, 1)
			go func() {
				done <- e.Run(ctx, wf, Params{RunID: "r", Inputs: in}, ListenerFunc(func(ev *Event) {
					if ev.Type == EventNodeStarted && ev.Node.NodeID == "t" {
						started <- struct{}{}
					}
				}))
			}()
			if tc.stop {
				select {
				case <-started:
				case <-time.After(renderDeadline):
					t.Fatal("template node did not start")
				}
				cancel(ErrStopped)
			}
			select {
			case info := <-done:
				// The timeout's message carries the time it took (Dify's
				// "Maximum execution time exceeded: 0.12s > 0.1s").
				if info.Status != tc.status || !strings.HasPrefix(info.Error, tc.err) {
					t.Fatalf("status %s error %q, want %s %q", info.Status, info.Error, tc.status, tc.err)
				}
			case <-time.After(renderDeadline):
				t.Fatal("run did not end")
			}
		})
	}
}

func TestTemplateNodeLimitError(t *testing.T) {
	t.Parallel()
	e := New(Config{}, nil)
	wf := mustCompile(t, e, graphYAML([]string{queryStart,
		`t:template-transform:{template: "{{ 'x' * 1000000000000 }}", variables: []}`}, []string{"start->t"}))
	info, rec := runWith(t, context.Background(), e, wf, nil)
	node := rec.finished()["t"]
	want := "template value exceeds 16777216 bytes: string repeat"
	if info.Status != StatusFailed || info.Error != want || node.ErrorType != "TemplateTransformNodeError" || node.Error != want {
		t.Fatalf("run %s %q, node %s %q", info.Status, info.Error, node.ErrorType, node.Error)
	}
}
