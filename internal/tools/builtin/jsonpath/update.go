package jsonpath

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

// fullPath is the match's path from the top, as jsonpath-ng's full_path
// builds it (`this` and `$` steps fold away).
func (m *Match) fullPath() []step {
	if m.Context == nil {
		return []step{m.step}
	}
	p := m.Context.fullPath()
	if len(p) == 1 && (p[0].kind == stepRoot || p[0].kind == stepThis) {
		return []step{m.step}
	}
	switch m.step.kind {
	case stepThis:
		return p
	case stepRoot:
		return []step{m.step}
	}
	return append(p[:len(p):len(p)], m.step)
}

// Update sets the value at the match's full path in doc to val, as
// jsonpath-ng's match.full_path.update(doc, val) does: the path is
// followed again from the top, a field is set only where it exists, an
// index only where the list is long enough, and a list val gives each
// index its first item (popped). Updating the top itself changes
// nothing.
func (m *Match) Update(doc, val any) error {
	path := m.fullPath()
	last := path[len(path)-1]
	if last.kind == stepRoot || last.kind == stepThis {
		return nil
	}
	at := []*Match{{Value: doc}}
	for _, s := range path[:len(path)-1] {
		var next []*Match
		for _, d := range at {
			found, err := s.expr().find(d)
			if err != nil {
				return err
			}
			next = append(next, found...)
		}
		at = next
	}
	for _, d := range at {
		if err := updateStep(d.Value, last, val); err != nil {
			return err
		}
	}
	return nil
}

func (s step) expr() expr {
	switch s.kind {
	case stepField:
		return fields{s.field}
	case stepIndex:
		return index{s.index}
	case stepRoot:
		return root{}
	}
	return this{}
}

// updateStep is Fields.update or Index.update on one container.
func updateStep(data any, s step, val any) error {
	if s.kind == stepField {
		return updateField(data, s.field, val)
	}
	n, err := pyLen(data)
	if err != nil {
		return err
	}
	if n <= s.index {
		return nil
	}
	if l, ok := val.(*pyjson.List); ok {
		if len(l.Items) == 0 {
			return errors.New("pop from empty list")
		}
		val = l.Items[0]
		l.Items = l.Items[1:]
	}
	switch x := data.(type) {
	case *pyjson.List:
		i := s.index
		if i < 0 {
			i += len(x.Items)
		}
		if i < 0 || i >= len(x.Items) {
			return errors.New("list assignment index out of range")
		}
		x.Items[i] = val
	case *pyjson.Object:
		x.Set(strconv.Itoa(s.index), val)
	default:
		return fmt.Errorf("'%s' object does not support item assignment", pyjson.TypeName(data))
	}
	return nil
}

// updateField sets field f where it exists (Python's `f in data`).
func updateField(data any, f string, val any) error {
	switch x := data.(type) {
	case nil, bool:
		return nil
	case *pyjson.Object:
		if _, ok := x.Get(f); ok {
			x.Set(f, val)
		}
		return nil
	case *pyjson.List:
		for _, it := range x.Items {
			if Equal(it, f) {
				return errors.New("list indices must be integers or slices, not str")
			}
		}
		return nil
	case string:
		if strings.Contains(x, f) {
			return errors.New("'str' object does not support item assignment")
		}
		return nil
	}
	return fmt.Errorf("argument of type '%s' is not iterable", pyjson.TypeName(data))
}

// Equal is Python's == on document values: numbers by value (True == 1
// == 1.0), lists item by item, mappings by keys and values.
func Equal(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case *pyjson.List:
		y, ok := b.(*pyjson.List)
		if !ok || len(x.Items) != len(y.Items) {
			return false
		}
		for i := range x.Items {
			if !Equal(x.Items[i], y.Items[i]) {
				return false
			}
		}
		return true
	case *pyjson.Object:
		y, ok := b.(*pyjson.Object)
		if !ok || x.Len() != y.Len() {
			return false
		}
		for _, k := range x.Keys() {
			va, _ := x.Get(k)
			vb, ok := y.Get(k)
			if !ok || !Equal(va, vb) {
				return false
			}
		}
		return true
	}
	return false
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}
