package run

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/flowrun/flowrun/internal/third_party/gonja"
	"github.com/flowrun/flowrun/internal/third_party/gonja/exec"
	"github.com/flowrun/flowrun/internal/third_party/gonja/loaders"
)

// Jinja2 templates (template-transform, LLM jinja2 prompts) are rendered with
// gonja, a Go port of Jinja2. Dify renders them with Python's jinja2 in its
// sandbox; gonja matches it for the filters, tests and control structures
// workflows use. The loader only knows the template itself, so {% include %}
// and {% extends %} cannot read files from the server.

func init() {
	gonja.SetLoggerOutput(io.Discard)
}

const jinjaName = "/template"

// Jinja is a parsed Jinja2 template. The common shape, literal text around
// plain {{ name }} expressions, renders without gonja when every value it
// names is a string: the result is the same, several times faster.
type Jinja struct {
	full *exec.Template
	// lits and names describe the simple shape: lits[0] names[0] lits[1]
	// ... lits[n]. names is nil when the template is not simple.
	lits  []string
	names []string
}

var newlines = strings.NewReplacer("\r\n", "\n", "\r", "\n")

var jinjaExpr = regexp.MustCompile(`\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}`)

func parseJinja(src string) (*Jinja, error) {
	loader, err := loaders.NewMemoryLoader(map[string]string{jinjaName: src})
	if err != nil {
		return nil, err
	}
	full, err := exec.NewTemplate(jinjaName, gonja.DefaultConfig, loader, gonja.DefaultEnvironment)
	if err != nil {
		return nil, err
	}
	j := &Jinja{full: full}
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

// Render renders the template with vars as its context.
func (j *Jinja) Render(vars Vars) (string, error) {
	if j.names != nil {
		if s, ok := j.renderSimple(vars); ok {
			return s, nil
		}
	}
	return renderJinja(j.full, vars.Map())
}

func (j *Jinja) renderSimple(vars Vars) (string, bool) {
	n := 0
	for _, l := range j.lits {
		n += len(l)
	}
	vals := make([]string, len(j.names))
	for i, name := range j.names {
		v, _ := vars.Get(name)
		s, ok := v.(string)
		if !ok {
			return "", false
		}
		vals[i] = s
		n += len(s)
	}
	var b strings.Builder
	b.Grow(n)
	for i, l := range j.lits {
		b.WriteString(l)
		if i < len(vals) {
			b.WriteString(vals[i])
		}
	}
	return b.String(), true
}

// renderJinja renders t with vars as its context.
func renderJinja(t *exec.Template, vars map[string]any) (out string, err error) {
	defer func() {
		// gonja panics on some malformed operations; a template must never
		// take down the process.
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("template rendering failed: %v", r)
		}
	}()
	var b strings.Builder
	if err := t.Execute(&b, exec.NewContext(vars)); err != nil {
		return "", err
	}
	return b.String(), nil
}
