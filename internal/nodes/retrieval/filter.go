package retrieval

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/flowrun/flowrun/internal/knowledge"
	"github.com/flowrun/flowrun/internal/nodes/llm"
	"github.com/flowrun/flowrun/internal/run"
)

// filter is the node's metadata filtering, resolved per run into the
// knowledge.Filter its backends get.
type filter struct {
	// mode is disabled, automatic or manual.
	mode    string
	logical string
	// manual are the conditions with templated values, nil when the node
	// has no metadata_filtering_conditions.
	manual []condition
	// model is the metadata model of automatic mode.
	model *llm.Model
}

// condition is one manual condition. A string value, or each string of a
// list, is a template.
type condition struct {
	name, op string
	value    any
	tpl      []run.Template
	raw      []string
	list     bool
}

// breaks are the runs of \r, \n and \t Dify collapses in a string
// value.
var breaks = regexp.MustCompile(`[\r\n\t]+`)

func buildFilter(b *run.Build, mode string, d *nodeData, models *llm.Models) *filter {
	f := &filter{mode: mode, logical: "and"}
	mc := d.MetadataConditions
	if mc != nil && mc.LogicalOperator != "" {
		f.logical = mc.LogicalOperator
	}
	switch mode {
	case "automatic":
		if d.MetadataModel != nil {
			f.model = resolve(b, models, d.MetadataModel)
		}
	case "manual":
		if mc == nil {
			return f
		}
		f.manual = make([]condition, 0, len(mc.Conditions))
		for i, c := range mc.Conditions {
			field := fmt.Sprintf("metadata_filtering_conditions.conditions[%d].value", i)
			cond := condition{name: c.Name, op: c.ComparisonOperator, value: run.Normalize(c.Value)}
			switch v := cond.value.(type) {
			case string:
				cond.tpl, cond.raw = []run.Template{b.Template(field, v)}, []string{v}
			case []any:
				cond.list = true
				for _, item := range v {
					s, ok := item.(string)
					if !ok {
						cond.tpl = nil
						break
					}
					cond.tpl, cond.raw = append(cond.tpl, b.Template(field, s)), append(cond.raw, s)
				}
			}
			f.manual = append(f.manual, cond)
		}
	}
	return f
}

// build returns the filter of this run, nil when there is none.
func (f *filter) build(ctx context.Context, x *run.Exec, query string, datasets []*knowledge.Dataset, used *spent) (*knowledge.Filter, error) {
	switch f.mode {
	case "manual":
		return f.resolve(x.Pool), nil
	case "automatic":
		return f.automatic(ctx, x, query, datasets, used)
	}
	return nil, nil
}

// resolve returns the manual filter of this run: conditions with their
// values templated as Dify's _resolve_metadata_filtering_conditions does
// (a value that is one variable reference keeps the variable's number;
// text has its \r\n\t runs collapsed to a space and is trimmed). nil
// means no filter.
func (f *filter) resolve(pool *run.Pool) *knowledge.Filter {
	if f.mode != "manual" || f.manual == nil {
		return nil
	}
	out := &knowledge.Filter{LogicalOperator: f.logical, Conditions: make([]knowledge.Condition, 0, len(f.manual))}
	for _, c := range f.manual {
		kc := knowledge.Condition{Name: c.name, ComparisonOperator: c.op, Value: c.value}
		switch {
		case c.tpl == nil:
		case c.list:
			vals := make([]any, len(c.tpl))
			for i := range c.tpl {
				vals[i] = run.Text(render(c.tpl[i], c.raw[i], pool))
			}
			kc.Value = vals
		default:
			kc.Value = render(c.tpl[0], c.raw[0], pool)
		}
		out.Conditions = append(out.Conditions, kc)
	}
	return out
}

// render expands one template value: a lone reference to a string,
// number or nothing keeps that value, anything else becomes text.
func render(t run.Template, raw string, pool *run.Pool) any {
	if sels := t.Selectors(); len(sels) == 1 && raw == "{{#"+sels[0].String()+"#}}" {
		if v, ok := pool.Get(sels[0]); ok {
			switch x := v.(type) {
			case nil, int64, float64:
				return x
			case string:
				return clean(x)
			}
			return clean(run.Text(v))
		}
	}
	return clean(t.Text(pool))
}

func clean(s string) string { return strings.TrimSpace(breaks.ReplaceAllString(s, " ")) }
