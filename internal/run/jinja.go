package run

import (
	"fmt"
	"io"
	"strings"

	"github.com/nikolalohinski/gonja/v2"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
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

func parseJinja(src string) (*exec.Template, error) {
	loader, err := loaders.NewMemoryLoader(map[string]string{jinjaName: src})
	if err != nil {
		return nil, err
	}
	return exec.NewTemplate(jinjaName, gonja.DefaultConfig, loader, gonja.DefaultEnvironment)
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
