package run

import (
	"cmp"
	"slices"
	"strings"
)

// Mask replaces a secret's value in events and records.
const Mask = "******"

// secretValues returns the non-empty values env gives to the workflow's
// secret variables, longest first (so a secret containing another is
// masked whole).
func (wf *Workflow) secretValues(env map[string]string) []string {
	var out []string
	for _, name := range wf.secretEnv {
		if v := env[name]; v != "" {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return out
}

// redactEvent masks secret values in what an event carries. The variable
// pool keeps the real values: only what leaves the engine is masked.
func (rs *runState) redactEvent(e *Event) {
	switch {
	case e.Node != nil:
		n := *e.Node
		n.Inputs, n.ProcessData, n.Outputs = rs.redactVars(n.Inputs), rs.redactVars(n.ProcessData), rs.redactVars(n.Outputs)
		n.Error = rs.redactString(n.Error)
		e.Node = &n
	case e.Chunk != nil:
		c := *e.Chunk
		c.Text = rs.redactString(c.Text)
		e.Chunk = &c
	case e.Log != nil:
		l := *e.Log
		l.Error = rs.redactString(l.Error)
		l.Data, _ = rs.redactValue(l.Data).(map[string]any)
		e.Log = &l
	}
}

func (rs *runState) redactString(s string) string {
	for _, sec := range rs.secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	return s
}

func (rs *runState) redactVars(vs Vars) Vars {
	if vs == nil || len(rs.secrets) == 0 {
		return vs
	}
	out := make(Vars, len(vs))
	for i, v := range vs {
		out[i] = Var{v.Name, rs.redactValue(v.Value)}
	}
	return out
}

// redactValue returns v with secrets masked in every string, copying
// containers rather than modifying them.
func (rs *runState) redactValue(v any) any {
	switch x := v.(type) {
	case string:
		return rs.redactString(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = rs.redactValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = rs.redactValue(e)
		}
		return out
	case Vars:
		return rs.redactVars(x)
	}
	return v
}
