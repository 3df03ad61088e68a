package run

import (
	"regexp"
	"strings"
	"sync"
)

// Selector addresses a value in the variable pool: node id, variable name,
// then optional attribute path into objects ([node_id, var, ...attr]).
// The pseudo node ids "sys" and "env" address system and environment
// variables.
type Selector []string

// String joins the selector with dots, as Dify writes it in templates.
func (s Selector) String() string { return strings.Join(s, ".") }

// Pool is the variable pool of one run: the outputs of every node that has
// run, plus sys.* and env.*. Containers (iteration, loop) run their children
// in a child pool that falls back to its parent, so parallel iterations
// never see each other's values. A Pool is safe for concurrent use.
type Pool struct {
	mu     sync.RWMutex
	parent *Pool
	vars   map[string]Vars
}

// NewPool returns an empty pool whose lookups fall back to parent (which may
// be nil).
func NewPool(parent *Pool) *Pool {
	return &Pool{parent: parent, vars: make(map[string]Vars, 8)}
}

// Set replaces the variables of node id in this pool.
func (p *Pool) Set(id string, vs Vars) {
	p.mu.Lock()
	p.vars[id] = vs
	p.mu.Unlock()
}

// Vars returns the variables of node id, looking through parent pools.
func (p *Pool) Vars(id string) (Vars, bool) {
	for q := p; q != nil; q = q.parent {
		q.mu.RLock()
		vs, ok := q.vars[id]
		q.mu.RUnlock()
		if ok {
			return vs, true
		}
	}
	return nil, false
}

// Update sets variable name of node id in the nearest pool that holds node id
// (so an assigner inside a loop writes the loop's own variables). It reports
// false when no pool holds id.
func (p *Pool) Update(id, name string, value any) bool {
	for q := p; q != nil; q = q.parent {
		q.mu.Lock()
		vs, ok := q.vars[id]
		if ok {
			q.vars[id] = vs.With(name, value)
		}
		q.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// Get resolves sel. It reports false when the node, the variable or any
// attribute along the path is missing.
func (p *Pool) Get(sel Selector) (any, bool) {
	if len(sel) < 2 {
		return nil, false
	}
	vs, ok := p.Vars(sel[0])
	if !ok {
		return nil, false
	}
	v, ok := vs.Get(sel[1])
	if !ok {
		return nil, false
	}
	for _, attr := range sel[2:] {
		switch x := v.(type) {
		case map[string]any:
			if isFile(x) {
				// A File's attributes (FileAttribute): an unknown one
				// is a variable that does not exist.
				if !fileAttributes[attr] {
					return nil, false
				}
				v = fileAttr(x, attr)
				continue
			}
			if v, ok = x[attr]; !ok {
				return nil, false
			}
		case Vars:
			if v, ok = x.Get(attr); !ok {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return v, true
}

// refPattern is Dify's VARIABLE_PATTERN: {{#node.var(.attr)*#}}.
var refPattern = regexp.MustCompile(`\{\{#([a-zA-Z0-9_]{1,50}(?:\.[a-zA-Z_][a-zA-Z0-9_]{0,29}){1,10})#\}\}`)

// Template is a string with {{#node.var#}} references, parsed once at load.
type Template struct {
	parts []tplPart
}

type tplPart struct {
	lit string
	sel Selector // nil for a literal
}

// ParseTemplate splits s into literal text and variable references.
func ParseTemplate(s string) Template {
	var t Template
	last := 0
	for _, m := range refPattern.FindAllStringSubmatchIndex(s, -1) {
		if m[0] > last {
			t.parts = append(t.parts, tplPart{lit: s[last:m[0]]})
		}
		ref := s[m[2]:m[3]]
		t.parts = append(t.parts, tplPart{lit: ref, sel: strings.Split(ref, ".")})
		last = m[1]
	}
	if last < len(s) {
		t.parts = append(t.parts, tplPart{lit: s[last:]})
	}
	return t
}

// Selectors lists the references in t.
func (t Template) Selectors() []Selector {
	var out []Selector
	for _, p := range t.parts {
		if p.sel != nil {
			out = append(out, p.sel)
		}
	}
	return out
}

// IsEmpty reports whether t renders to "" regardless of the pool.
func (t Template) IsEmpty() bool { return len(t.parts) == 0 }

// Text expands t with Segment.text rendering. As in Dify, a reference that
// does not resolve is left as its dotted path without braces.
func (t Template) Text(p *Pool) string { return t.render(p, Text) }

// Markdown expands t with Segment.markdown rendering.
func (t Template) Markdown(p *Pool) string { return t.render(p, Markdown) }

func (t Template) render(p *Pool, f func(any) string) string {
	if len(t.parts) == 1 && t.parts[0].sel == nil {
		return t.parts[0].lit
	}
	var b strings.Builder
	for _, part := range t.parts {
		if part.sel == nil {
			b.WriteString(part.lit)
			continue
		}
		if v, ok := p.Get(part.sel); ok {
			b.WriteString(f(v))
		} else {
			b.WriteString(part.lit)
		}
	}
	return b.String()
}
