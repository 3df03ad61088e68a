package run

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/flowrun/flowrun/internal/third_party/gonja"
	"github.com/flowrun/flowrun/internal/third_party/gonja/exec"
	"github.com/flowrun/flowrun/internal/third_party/gonja/loaders"
	"github.com/flowrun/flowrun/internal/third_party/gonja/parser"
)

// Jinja2 templates (template-transform, LLM jinja2 prompts) are rendered with
// gonja, a Go port of Jinja2, forked into internal/third_party/gonja so that
// every render runs within TemplateLimits and stops when its context ends
// (docs/engine.md, "Template budgets"). Dify renders them with Python's
// jinja2 in its sandbox; gonja matches it for the filters, tests and control
// structures workflows use. Templates cannot load other templates: no
// {% include %}, {% import %} or {% extends %}, as in Dify, which renders
// without a loader.

func init() {
	gonja.SetLoggerOutput(io.Discard)
}

// Default template limits: far above what a real template needs, far below
// what would hurt the service.
const (
	DefaultTemplateOutputBytes = 16 << 20
	DefaultTemplateValueBytes  = 16 << 20
	DefaultTemplateAllocBytes  = 128 << 20
	DefaultTemplateIterations  = 1_000_000
	DefaultTemplateDepth       = 100
)

// TemplateLimits bounds one Jinja2 render. A render that goes over one fails
// its node with an error that names the limit and its value, wrapping
// ErrTemplateLimit. Zero fields take the defaults above; a negative one
// turns its limit off.
type TemplateLimits struct {
	// OutputBytes caps the rendered text.
	OutputBytes int
	// ValueBytes caps any one value the template builds: a string's bytes;
	// for a list or dict, what it holds plus 64 bytes per item.
	ValueBytes int
	// AllocBytes caps the total size of all the values one render builds,
	// discarded ones included: it bounds what lists, namespaces and
	// variables can keep.
	AllocBytes int
	// Iterations caps loop items and macro calls, summed over the render.
	Iterations int
	// Depth caps nested macro calls and recursive loop() calls.
	Depth int
}

func (l TemplateLimits) withDefaults() TemplateLimits {
	return TemplateLimits{
		OutputBytes: cmp.Or(l.OutputBytes, DefaultTemplateOutputBytes),
		ValueBytes:  cmp.Or(l.ValueBytes, DefaultTemplateValueBytes),
		AllocBytes:  cmp.Or(l.AllocBytes, DefaultTemplateAllocBytes),
		Iterations:  cmp.Or(l.Iterations, DefaultTemplateIterations),
		Depth:       cmp.Or(l.Depth, DefaultTemplateDepth),
	}
}

func (l TemplateLimits) exec() exec.Limits {
	return exec.Limits{Output: l.OutputBytes, Value: l.ValueBytes, Alloc: l.AllocBytes, Iterations: l.Iterations, Depth: l.Depth}
}

// ErrTemplateLimit is wrapped by the error of a render that went over its
// TemplateLimits.
var ErrTemplateLimit = exec.ErrLimit

const jinjaName = "/template"

// Jinja is a parsed Jinja2 template. The common shape, literal text around
// plain {{ name }} expressions, renders without gonja when every value it
// names is a string: the result is the same, several times faster.
type Jinja struct {
	full   *exec.Template
	limits exec.Limits
	// lits and names describe the simple shape: lits[0] names[0] lits[1]
	// ... lits[n]. names is nil when the template is not simple.
	lits  []string
	names []string
}

var newlines = strings.NewReplacer("\r\n", "\n", "\r", "\n")

var jinjaExpr = regexp.MustCompile(`\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}`)

func parseJinja(src string, limits TemplateLimits) (*Jinja, error) {
	full, err := exec.NewTemplate(jinjaName, gonja.DefaultConfig, &ownSource{src: src}, gonja.DefaultEnvironment)
	if err != nil {
		// The syntax error itself, with its position, without one
		// "unable to parse" per enclosing tag.
		var syntax *parser.SyntaxError
		if errors.As(err, &syntax) {
			err = syntax
		}
		return nil, templateError{err}
	}
	j := &Jinja{full: full, limits: limits.withDefaults().exec()}
	if strings.Contains(src, "{{-") || strings.Contains(src, "-}}") {
		return j, nil // whitespace control: leave it to gonja
	}
	// Jinja2 drops a single trailing newline (keep_trailing_newline=False).
	body := src
	for _, nl := range []string{"\r\n", "\n", "\r"} {
		if strings.HasSuffix(body, nl) {
			body = strings.TrimSuffix(body, nl)
			break
		}
	}
	last := 0
	var lits, names []string
	for _, m := range jinjaExpr.FindAllStringSubmatchIndex(body, -1) {
		lits = append(lits, body[last:m[0]])
		names = append(names, body[m[2]:m[3]])
		last = m[1]
	}
	lits = append(lits, body[last:])
	for i, l := range lits {
		// Jinja2 normalises newlines in template data to "\n".
		lits[i] = newlines.Replace(l)
		if strings.Contains(l, "{{") || strings.Contains(l, "{%") || strings.Contains(l, "{#") {
			return j, nil
		}
	}
	if names == nil {
		names = []string{}
	}
	j.lits, j.names = lits, names
	return j, nil
}

// Render renders the template with vars as its context, within the
// template's limits and until ctx ends. A render that goes over a limit
// fails with an error wrapping ErrTemplateLimit; one whose ctx ends fails
// with context.Cause(ctx).
func (j *Jinja) Render(ctx context.Context, vars Vars) (string, error) {
	if j.names != nil {
		if s, ok, err := j.renderSimple(vars); ok {
			return s, err
		}
	}
	return renderJinja(ctx, j.full, vars.Map(), j.limits)
}

func (j *Jinja) renderSimple(vars Vars) (string, bool, error) {
	n := 0
	for _, l := range j.lits {
		n += len(l)
	}
	vals := make([]string, len(j.names))
	for i, name := range j.names {
		v, _ := vars.Get(name)
		s, ok := v.(string)
		if !ok {
			return "", false, nil
		}
		vals[i] = s
		n += len(s)
	}
	if j.limits.Output > 0 && n > j.limits.Output {
		return "", true, exec.OutputExceeded(j.limits.Output)
	}
	var b strings.Builder
	b.Grow(n)
	for i, l := range j.lits {
		b.WriteString(l)
		if i < len(vals) {
			b.WriteString(vals[i])
		}
	}
	return b.String(), true, nil
}

// renderJinja renders t with vars as its context, within limits and until
// ctx ends.
func renderJinja(ctx context.Context, t *exec.Template, vars map[string]any, limits exec.Limits) (out string, err error) {
	defer func() {
		// gonja panics on some malformed operations; a template must never
		// take down the process.
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("template rendering failed: %v", r)
		}
	}()
	var b strings.Builder
	if err := t.ExecuteContext(ctx, &b, exec.NewContext(vars), limits); err != nil {
		return "", templateError{err}
	}
	return b.String(), nil
}

// maxTemplateError bounds the message of a template error: gonja quotes the
// expressions and tokens it fails on, which can be as long as the template.
const maxTemplateError = 1000

// templateError bounds the message of err.
type templateError struct{ err error }

func (e templateError) Error() string { return truncate(e.err.Error(), maxTemplateError) }

func (e templateError) Unwrap() error { return e.err }

// errNoLoading is the error of {% include %}, {% import %} and
// {% extends %}.
var errNoLoading = errors.New("templates cannot load other templates")

// ownSource is a template's loader: it gives the template's own source to
// the parser once and refuses everything else, so that no template can
// read a file, nor load itself, which would recurse until the stack
// overflows.
type ownSource struct {
	src  string
	read atomic.Bool
}

func (l *ownSource) Read(string) (io.Reader, error) {
	if l.read.Swap(true) {
		return nil, errNoLoading
	}
	return strings.NewReader(l.src), nil
}

func (l *ownSource) Resolve(string) (string, error) { return "", errNoLoading }

func (l *ownSource) Inherit(string) (loaders.Loader, error) { return nil, errNoLoading }
