package jsonpath

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

// Match is one value a path found (jsonpath-ng's DatumInContext).
type Match struct {
	// Value is the value found.
	Value any
	// Context is the match the value was found in (nil at the top).
	Context *Match
	step    step
}

// stepKind is how a match is reached from its context.
type stepKind uint8

const (
	stepThis stepKind = iota
	stepRoot
	stepField
	stepIndex
)

type step struct {
	kind  stepKind
	field string
	index int
}

// Field is the field name the match was reached by, when it was reached
// by a field (jsonpath-ng's match.path.fields[0]).
func (m *Match) Field() (string, bool) { return m.step.field, m.step.kind == stepField }

// expr is a node of a compiled path.
type expr interface {
	find(d *Match) ([]*Match, error)
}

// Find returns the matches of the path in doc, in jsonpath-ng's order.
func (p *Path) Find(doc any) ([]*Match, error) {
	return p.expr.find(&Match{Value: doc, step: step{kind: stepRoot}})
}

type (
	root        struct{}
	this        struct{}
	parent      struct{}
	child       struct{ left, right expr }
	descendants struct{ left, right expr }
	where       struct {
		left, right expr
		not         bool
	}
	union     struct{ left, right expr }
	intersect struct{}
	fields    []string
	index     []int
	slice     struct{ start, end, step *int }
)

func (root) find(d *Match) ([]*Match, error) {
	for d.Context != nil {
		d = d.Context
	}
	return []*Match{{Value: d.Value, step: step{kind: stepRoot}}}, nil
}

func (this) find(d *Match) ([]*Match, error) { return []*Match{d}, nil }

func (parent) find(d *Match) ([]*Match, error) {
	if d.Context == nil {
		return []*Match{{}}, nil
	}
	return []*Match{d.Context}, nil
}

func (e child) find(d *Match) ([]*Match, error) {
	return eachRight(e.left, e.right, d, func(_ *Match, r []*Match) []*Match { return r })
}

// eachRight finds right at each match of left and keeps what keep returns
// for it.
func eachRight(left, right expr, d *Match, keep func(l *Match, r []*Match) []*Match) ([]*Match, error) {
	ls, err := left.find(d)
	if err != nil {
		return nil, err
	}
	var out []*Match
	for _, l := range ls {
		r, err := right.find(l)
		if err != nil {
			return nil, err
		}
		out = append(out, keep(l, r)...)
	}
	return out, nil
}

// find matches the right side at each left match and at every value
// below it, depth first, parents before children.
func (e descendants) find(d *Match) ([]*Match, error) {
	left, err := e.left.find(d)
	if err != nil {
		return nil, err
	}
	var out []*Match
	var walk func(m *Match) error
	walk = func(m *Match) error {
		r, err := e.right.find(m)
		if err != nil {
			return err
		}
		out = append(out, r...)
		switch x := m.Value.(type) {
		case *pyjson.List:
			for i, v := range x.Items {
				if err := walk(&Match{Value: v, Context: m, step: step{kind: stepIndex, index: i}}); err != nil {
					return err
				}
			}
		case *pyjson.Object:
			for _, k := range x.Keys() {
				v, _ := x.Get(k)
				if err := walk(&Match{Value: v, Context: m, step: step{kind: stepField, field: k}}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, l := range left {
		if err := walk(l); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (e where) find(d *Match) ([]*Match, error) {
	return eachRight(e.left, e.right, d, func(l *Match, r []*Match) []*Match {
		if (len(r) > 0) != e.not {
			return []*Match{l}
		}
		return nil
	})
}

func (e union) find(d *Match) ([]*Match, error) {
	l, err := e.left.find(d)
	if err != nil {
		return nil, err
	}
	r, err := e.right.find(d)
	return append(l, r...), err
}

// find of an intersection is not implemented in jsonpath-ng: it raises
// NotImplementedError, whose text is empty.
func (intersect) find(*Match) ([]*Match, error) { return nil, errors.New("") }

// find looks the fields up in a mapping; "*" stands for all its keys.
// Anything but a mapping has no fields.
func (f fields) find(d *Match) ([]*Match, error) {
	o, ok := d.Value.(*pyjson.Object)
	if !ok {
		return nil, nil
	}
	names := []string(f)
	for _, n := range f {
		if n == "*" {
			names = o.Keys()
			break
		}
	}
	var out []*Match
	for _, n := range names {
		if v, ok := o.Get(n); ok {
			out = append(out, &Match{Value: v, Context: d, step: step{kind: stepField, field: n}})
		}
	}
	return out, nil
}

// find indexes lists and strings (negative indices count from the end); a
// mapping is looked up by an integer key, which JSON never has. Empty and
// false values match nothing.
func (ix index) find(d *Match) ([]*Match, error) {
	var out []*Match
	for _, i := range ix {
		if !py.Truthy(plainish(d.Value)) {
			continue
		}
		n, err := pyLen(d.Value)
		if err != nil {
			return nil, err
		}
		if n <= i {
			continue
		}
		v, err := pyIndex(d.Value, i)
		if err != nil {
			return nil, err
		}
		out = append(out, &Match{Value: v, Context: d, step: step{kind: stepIndex, index: i}})
	}
	return out, nil
}

// find selects list items; another value (but null) is first put in a
// list of one, as jsonpath-ng does.
func (s slice) find(d *Match) ([]*Match, error) {
	l, ok := d.Value.(*pyjson.List)
	switch {
	case d.Value == nil:
		return nil, nil
	case !ok:
		// The wrapping list is new: updates through it change nothing.
		wrapped := &Match{Value: &pyjson.List{Items: []any{d.Value}}, Context: d.Context, step: d.step}
		return s.find(wrapped)
	}
	idx, err := pySlice(len(l.Items), s.start, s.end, s.step)
	if err != nil {
		return nil, err
	}
	out := make([]*Match, 0, len(idx))
	for _, i := range idx {
		out = append(out, &Match{Value: l.Items[i], Context: d, step: step{kind: stepIndex, index: i}})
	}
	return out, nil
}

// pySlice is range(n)[start:end:step].
func pySlice(n int, start, end, stp *int) ([]int, error) {
	st := 1
	if stp != nil {
		st = *stp
	}
	if st == 0 {
		return nil, errors.New("slice step cannot be zero")
	}
	clamp := func(p *int, def int) int {
		if p == nil {
			return def
		}
		v := *p
		if v < 0 {
			v += n
		}
		lo, hi := 0, n
		if st < 0 {
			lo, hi = -1, n-1
		}
		return min(max(v, lo), hi)
	}
	var out []int
	if st > 0 {
		for i := clamp(start, 0); i < clamp(end, n); i += st {
			out = append(out, i)
		}
	} else {
		for i := clamp(start, n-1); i > clamp(end, -1); i += st {
			out = append(out, i)
		}
	}
	return out, nil
}

// plainish lets py.Truthy judge containers by their length.
func plainish(v any) any {
	switch x := v.(type) {
	case *pyjson.List:
		return x.Items
	case *pyjson.Object:
		if x.Len() == 0 {
			return map[string]any{}
		}
		return map[string]any{"": nil}
	case json.Number:
		return x.String() != "0"
	}
	return v
}

// pyLen is Python's len().
func pyLen(v any) (int, error) {
	switch x := v.(type) {
	case *pyjson.List:
		return len(x.Items), nil
	case *pyjson.Object:
		return x.Len(), nil
	case string:
		return utf8.RuneCountInString(x), nil
	}
	return 0, fmt.Errorf("object of type '%s' has no len()", pyjson.TypeName(v))
}

// pyIndex is Python's v[i] for an integer i.
func pyIndex(v any, i int) (any, error) {
	switch x := v.(type) {
	case *pyjson.List:
		if i < 0 {
			i += len(x.Items)
		}
		if i < 0 || i >= len(x.Items) {
			return nil, errors.New("list index out of range")
		}
		return x.Items[i], nil
	case string:
		rs := []rune(x)
		if i < 0 {
			i += len(rs)
		}
		if i < 0 || i >= len(rs) {
			return nil, errors.New("string index out of range")
		}
		return string(rs[i]), nil
	case *pyjson.Object:
		// JSON keys are strings: an integer key is never there.
		return nil, errors.New(strconv.Itoa(i))
	}
	return nil, fmt.Errorf("'%s' object is not subscriptable", pyjson.TypeName(v))
}
