// Package pyjson reads and writes JSON as Python's json module does, for
// tools whose output Dify produces with json.loads and json.dumps: objects
// keep their keys in insertion order (Object), integers keep every digit,
// errors carry JSONDecodeError's messages and positions, and Dumps writes
// ", " and ": " separators with optional ASCII escaping.
//
// Values are nil, bool, string, int64, json.Number (an integer beyond
// int64), float64 (NaN and ±Inf included), []any and *Object. Dumps also
// accepts map[string]any, written with sorted keys, and *List, the
// mutable array of Mutable.
package pyjson

import "github.com/flowrun/flowrun/internal/py"

// Object is a JSON object whose keys keep their first insertion's place,
// as a Python dict's do.
type Object struct {
	keys []string
	vals map[string]any
}

// NewObject returns an empty object.
func NewObject() *Object { return &Object{vals: map[string]any{}} }

// Len returns the number of keys.
func (o *Object) Len() int { return len(o.keys) }

// Keys returns the keys in order. The slice must not be modified.
func (o *Object) Keys() []string { return o.keys }

// Get returns the value of key k.
func (o *Object) Get(k string) (any, bool) {
	v, ok := o.vals[k]
	return v, ok
}

// Set sets key k, appending it when new.
func (o *Object) Set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

// Delete removes key k and reports whether it was there.
func (o *Object) Delete(k string) bool {
	if _, ok := o.vals[k]; !ok {
		return false
	}
	delete(o.vals, k)
	for i, key := range o.keys {
		if key == k {
			o.keys = append(o.keys[:i:i], o.keys[i+1:]...)
			break
		}
	}
	return true
}

// List is a JSON array shared by reference, as a Python list is: code
// that changes Items through one reference changes it for all.
type List struct{ Items []any }

// Elems returns the items (a List is a py.Sequence).
func (l *List) Elems() []any { return l.Items }

// Mutable returns v with every array replaced by a *List, recursively.
func Mutable(v any) any {
	switch x := v.(type) {
	case []any:
		l := &List{Items: make([]any, len(x))}
		for i, e := range x {
			l.Items[i] = Mutable(e)
		}
		return l
	case *Object:
		for _, k := range x.keys {
			x.vals[k] = Mutable(x.vals[k])
		}
	}
	return v
}

// Map converts o, recursively, into plain Go values (map[string]any for
// objects, int64 or float64 for numbers), losing key order.
func (o *Object) Map() map[string]any {
	m := make(map[string]any, len(o.keys))
	for _, k := range o.keys {
		m[k] = Plain(o.vals[k])
	}
	return m
}

// Plain converts a decoded value into plain Go values (see Object.Map).
// Integers beyond int64 become float64.
func Plain(v any) any {
	switch x := v.(type) {
	case *Object:
		return x.Map()
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Plain(e)
		}
		return out
	case *List:
		return Plain(x.Items)
	case interface{ Float64() (float64, error) }:
		f, _ := x.Float64()
		return f
	}
	return v
}

// TypeName is the Python type name of a value ("int", "dict", …): a
// *List is a list, the rest as py.TypeName names them (an *Object is a
// py.Mapping, so a dict).
func TypeName(v any) string {
	if _, ok := v.(*List); ok {
		return "list"
	}
	return py.TypeName(v)
}
