package run

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/flowrun/flowrun/internal/py"
)

// This file ports Dify's list-operator node
// (api/core/workflow/nodes/list_operator/node.py, as of Dify 1.12.1).

func init() {
	registerBuiltin(NodeType{Name: "list-operator", Build: buildListOperator})
}

// ListOperatorError is a list-operator failure of Dify's ListOperatorError
// family (InvalidFilterValueError, InvalidKeyError, InvalidConditionError).
// Dify records the node's inputs with these failures, unlike with the
// ValueErrors and TypeErrors that escape the node (bad numbers, a serial
// below 1, a filter value of the wrong type).
type ListOperatorError struct {
	// Type is the Python exception class name.
	Type string
	Msg  string
}

// Error returns the message Dify reports.
func (e *ListOperatorError) Error() string { return e.Msg }

func listOpErrorf(typ, format string, args ...any) error {
	return &ListOperatorError{Type: typ, Msg: fmt.Sprintf(format, args...)}
}

// filterOperators are Dify's list-operator FilterOperator values.
var filterOperators = map[string]bool{
	"contains": true, "start with": true, "end with": true, "is": true, "in": true, "empty": true,
	"not contains": true, "is not": true, "not in": true, "not empty": true,
	"=": true, "≠": true, "<": true, ">": true, "≥": true, "≤": true,
}

type listFilter struct {
	key   string
	op    string
	value any       // string, []any of strings, or bool
	tpl   *Template // set when value is a string
}

type listOperatorNode struct {
	variable   Selector
	filters    []listFilter
	filterOn   bool
	extractOn  bool
	serial     Template
	orderOn    bool
	orderKey   string
	orderDesc  bool
	limitOn    bool
	limitSize  int
	selectorPy string // the selector as Dify prints it in errors
}

func buildListOperator(b *Build) (Executor, error) {
	type filterCond struct {
		Key                string  `json:"key"`
		ComparisonOperator *string `json:"comparison_operator"`
		Value              any     `json:"value"`
	}
	var cfg struct {
		Variable Selector `json:"variable"`
		FilterBy *struct {
			Enabled    bool         `json:"enabled"`
			Conditions []filterCond `json:"conditions"`
		} `json:"filter_by"`
		OrderBy *struct {
			Enabled bool    `json:"enabled"`
			Key     string  `json:"key"`
			Value   *string `json:"value"`
		} `json:"order_by"`
		Limit *struct {
			Enabled bool `json:"enabled"`
			Size    *int `json:"size"`
		} `json:"limit"`
		ExtractBy *struct {
			Enabled bool    `json:"enabled"`
			Serial  *string `json:"serial"`
		} `json:"extract_by"`
	}
	if err := b.Decode(&cfg); err != nil {
		return nil, err
	}
	n := &listOperatorNode{
		variable:   b.Selector("variable", cfg.Variable),
		selectorPy: py.Str(stringsToAny(cfg.Variable)),
		limitSize:  -1,
		serial:     ParseTemplate("1"),
	}
	// filter_by, order_by and limit have no defaults in Dify's
	// ListOperatorNodeData: a node without them does not load.
	for _, missing := range []struct {
		name string
		nil  bool
	}{{"filter_by", cfg.FilterBy == nil}, {"order_by", cfg.OrderBy == nil}, {"limit", cfg.Limit == nil}} {
		if missing.nil {
			b.Errorf("%s is required", missing.name)
		}
	}
	if f := cfg.FilterBy; f != nil {
		n.filterOn = f.Enabled
		for i, c := range f.Conditions {
			field := fmt.Sprintf("filter_by.conditions[%d]", i)
			lf := listFilter{key: c.Key, op: "contains", value: Normalize(c.Value)}
			if c.ComparisonOperator != nil {
				lf.op = *c.ComparisonOperator
			}
			if !filterOperators[lf.op] {
				b.Errorf("%s: unknown comparison_operator %q", field, lf.op)
			}
			switch v := lf.value.(type) {
			case nil:
				lf.value = "" // FilterCondition.value defaults to ""
				t := ParseTemplate("")
				lf.tpl = &t
			case string:
				t := b.Template(field+".value", v)
				lf.tpl = &t
			case bool:
			case []any:
				if !allOf(v, func(e any) bool { _, ok := e.(string); return ok }) {
					b.Errorf("%s: value must be a string, a list of strings or a boolean", field)
				}
			default:
				b.Errorf("%s: value must be a string, a list of strings or a boolean, not %s", field, typeName(v))
			}
			n.filters = append(n.filters, lf)
		}
	}
	if o := cfg.OrderBy; o != nil {
		n.orderOn, n.orderKey = o.Enabled, o.Key
		if o.Value != nil {
			switch *o.Value {
			case "asc":
			case "desc":
				n.orderDesc = true
			default:
				b.Errorf("order_by.value must be \"asc\" or \"desc\", not %q", *o.Value)
			}
		}
	}
	if l := cfg.Limit; l != nil {
		n.limitOn = l.Enabled
		if l.Size != nil {
			n.limitSize = *l.Size
		}
	}
	if e := cfg.ExtractBy; e != nil {
		n.extractOn = e.Enabled
		if e.Serial != nil {
			n.serial = b.Template("extract_by.serial", *e.Serial)
		}
	}
	return n, nil
}

// listKind is the Dify segment type of an array, which decides how it is
// filtered and ordered.
type listKind int

const (
	listUnsupported listKind = iota
	listString
	listNumber
	listBoolean
	listFile
)

func classifyList(v any) listKind {
	xs, ok := v.([]any)
	if !ok || len(xs) == 0 {
		return listUnsupported
	}
	switch {
	case allOf(xs, func(e any) bool { _, ok := e.(string); return ok }):
		return listString
	case allOf(xs, func(e any) bool { _, ok := e.(bool); return !ok && isNumber(e) }):
		return listNumber
	case allOf(xs, func(e any) bool { _, ok := e.(bool); return ok }):
		return listBoolean
	case allOf(xs, isFile):
		return listFile
	}
	return listUnsupported
}

// pyVariableClass names the Dify variable class a value is stored as in
// the variable pool (variable_factory.build_segment + segment_to_variable),
// as printed by type(variable). Attribute lookups (selectors longer than
// two) return segments rather than variables.
func pyVariableClass(v any, attr bool) string {
	name := "Any"
	switch x := v.(type) {
	case nil:
		name = "None"
	case string:
		name = "String"
	case bool:
		name = "Boolean"
	case int64:
		name = "Integer"
	case float64:
		name = "Float"
	case map[string]any:
		name = "Object"
		if isFile(x) {
			name = "File"
		}
	case Vars:
		name = "Object"
	case []any:
		name = "ArrayAny"
		if len(x) > 0 && allOf(x, func(e any) bool { m, ok := e.(map[string]any); return ok && !isFile(m) }) {
			name = "ArrayObject"
		}
	}
	if attr {
		return "<class 'core.variables.segments." + name + "Segment'>"
	}
	return "<class 'core.variables.variables." + name + "Variable'>"
}

// Execute applies filter, extract, order and limit, in that order, as
// Dify does.
func (n *listOperatorNode) Execute(_ context.Context, x *Exec) (*Result, error) {
	v, ok := x.Pool.Get(n.variable)
	if !ok {
		return &Result{Inputs: Vars{}, Outputs: Vars{}}, fmt.Errorf("Variable not found for selector: %s", n.selectorPy)
	}
	if !py.Truthy(v) {
		return &Result{
			Inputs:      Vars{{"variable", []any{}}},
			ProcessData: Vars{{"variable", []any{}}},
			Outputs:     Vars{{"result", []any{}}, {"first_record", nil}, {"last_record", nil}},
		}, nil
	}
	kind := classifyList(v)
	if kind == listUnsupported {
		return &Result{Inputs: Vars{}, Outputs: Vars{}}, fmt.Errorf("Variable %s is not an array type, actual type: %s", n.selectorPy, pyVariableClass(v, len(n.variable) > 2))
	}
	items := v.([]any)
	res := &Result{
		Inputs:      Vars{{"variable", items}},
		ProcessData: Vars{{"variable", items}},
		Outputs:     Vars{},
	}
	out, err := n.apply(x.Pool, kind, items)
	if err != nil {
		var le *ListOperatorError
		if !errors.As(err, &le) {
			// Not a ListOperatorError: Dify's node lets it escape and the
			// failure is recorded without inputs.
			res = &Result{}
		}
		return res, err
	}
	var first, last any
	if len(out) > 0 {
		first, last = out[0], out[len(out)-1]
	}
	res.Outputs = Vars{{"result", out}, {"first_record", first}, {"last_record", last}}
	return res, nil
}

func (n *listOperatorNode) apply(p *Pool, kind listKind, items []any) ([]any, error) {
	var err error
	if n.filterOn {
		for _, f := range n.filters {
			if items, err = n.filter(p, kind, f, items); err != nil {
				return nil, err
			}
		}
	}
	if n.extractOn {
		s := n.serial.Text(p)
		i, err := pyInt(s)
		if err != nil {
			return nil, err
		}
		switch {
		case i < 1:
			return nil, fmt.Errorf("Invalid serial index: must be >= 1, got %d", i)
		case i > int64(len(items)):
			return nil, listOpErrorf("InvalidKeyError", "Invalid serial index: must be <= %d, got %d", len(items), i)
		}
		items = []any{items[i-1]}
	}
	if n.orderOn {
		if items, err = n.order(kind, items); err != nil {
			return nil, err
		}
	}
	if n.limitOn {
		items = pySliceTo(items, n.limitSize)
	}
	return items, nil
}

// pySliceTo is Python's xs[:n], negative n counting from the end.
func pySliceTo(xs []any, n int) []any {
	if n < 0 {
		n += len(xs)
	}
	return xs[:max(0, min(n, len(xs)))]
}

func (n *listOperatorNode) filter(p *Pool, kind listKind, f listFilter, items []any) ([]any, error) {
	var pred func(any) (bool, error)
	switch kind {
	case listString, listNumber:
		if f.tpl == nil {
			return nil, listOpErrorf("InvalidFilterValueError", "Invalid filter value: %s", Clip(py.Str(f.value)))
		}
		value := f.tpl.Text(p)
		if kind == listString {
			sp, err := stringFilter(f.op, value)
			if err != nil {
				return nil, err
			}
			pred = func(e any) (bool, error) { return sp(e.(string)), nil }
			break
		}
		num, err := pyFloatOf(value)
		if err != nil {
			return nil, err
		}
		np, err := numberFilter(f.op, num)
		if err != nil {
			return nil, err
		}
		pred = func(e any) (bool, error) { return np(e), nil }
	case listFile:
		value := f.value
		switch v := f.value.(type) {
		case string:
			value = f.tpl.Text(p)
		case bool:
			return nil, fmt.Errorf("File filter expects a string value, got %s", py.Class(v))
		}
		fp, err := fileFilter(f.key, f.op, value)
		if err != nil {
			return nil, err
		}
		pred = func(e any) (bool, error) { return fp(e.(map[string]any)) }
	case listBoolean:
		b, ok := f.value.(bool)
		if !ok {
			return nil, fmt.Errorf("Boolean filter expects a boolean value, got %s", py.Class(f.value))
		}
		var neg bool
		switch f.op {
		case "is":
		case "is not":
			neg = true
		default:
			return nil, invalidCondition(f.op)
		}
		pred = func(e any) (bool, error) { return (e.(bool) == b) != neg, nil }
	}
	out := make([]any, 0, len(items))
	for _, e := range items {
		ok, err := pred(e)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, e)
		}
	}
	return out, nil
}

func invalidCondition(op string) error {
	return listOpErrorf("InvalidConditionError", "Invalid condition: %s", op)
}

// stringFilter is Dify's _get_string_filter_func. "in" tests whether the
// item is a substring of value, since the value is a string.
func stringFilter(op, value string) (func(string) bool, error) {
	switch op {
	case "contains":
		return func(x string) bool { return strings.Contains(x, value) }, nil
	case "not contains":
		return func(x string) bool { return !strings.Contains(x, value) }, nil
	case "start with":
		return func(x string) bool { return strings.HasPrefix(x, value) }, nil
	case "end with":
		return func(x string) bool { return strings.HasSuffix(x, value) }, nil
	case "is":
		return func(x string) bool { return x == value }, nil
	case "is not":
		return func(x string) bool { return x != value }, nil
	case "in":
		return func(x string) bool { return strings.Contains(value, x) }, nil
	case "not in":
		return func(x string) bool { return !strings.Contains(value, x) }, nil
	case "empty":
		return func(x string) bool { return x == "" }, nil
	case "not empty":
		return func(x string) bool { return x != "" }, nil
	}
	return nil, invalidCondition(op)
}

// numberFilter is Dify's _get_number_filter_func: items compared with a
// float, exactly as Python compares ints with floats.
func numberFilter(op string, value float64) (func(any) bool, error) {
	test := map[string]func(c int) bool{
		"=": func(c int) bool { return c == 0 }, "≠": func(c int) bool { return c != 0 },
		"<": func(c int) bool { return c < 0 }, "≤": func(c int) bool { return c <= 0 },
		">": func(c int) bool { return c > 0 }, "≥": func(c int) bool { return c >= 0 },
	}[op]
	if test == nil {
		return nil, invalidCondition(op)
	}
	want := pyNumber{f: value, isFloat: true}
	return func(e any) bool {
		c, ordered := asPyNumber(e).cmp(want)
		if !ordered {
			return op == "≠" // NaN: every comparison but != is false
		}
		return test(c)
	}, nil
}

func asPyNumber(v any) pyNumber {
	switch x := v.(type) {
	case int64:
		return pyNumber{i: x}
	case float64:
		return pyNumber{f: x, isFloat: true}
	case bool:
		return pyNumber{i: int64(boolFloat(x))}
	}
	f, _ := py.Number(v)
	return pyNumber{f: f, isFloat: true}
}

// fileStringAttr is Dify's _get_file_extract_string_func: the attribute
// as a string, "" when unset. url is the remote URL only.
func fileStringAttr(f map[string]any, key string) string {
	field := map[string]string{"name": "filename", "url": "remote_url"}[key]
	if field == "" {
		field = key
	}
	s, _ := f[field].(string)
	return s
}

// fileSize is File.size (-1 when unknown).
func fileSize(f map[string]any) pyNumber {
	switch v := f["size"].(type) {
	case int64, float64:
		return asPyNumber(v)
	}
	return pyNumber{i: -1}
}

// fileFilter is Dify's _get_file_filter_func.
func fileFilter(key, op string, value any) (func(map[string]any) (bool, error), error) {
	s, isStr := value.(string)
	switch {
	case isStr && (key == "name" || key == "extension" || key == "mime_type" || key == "url"):
		// Dify builds the string filter per item, so a bad operator only
		// fails when there is an item to filter.
		return func(f map[string]any) (bool, error) {
			sp, err := stringFilter(op, s)
			if err != nil {
				return false, err
			}
			return sp(fileStringAttr(f, key)), nil
		}, nil
	case key == "type" || key == "transfer_method":
		return func(f map[string]any) (bool, error) {
			if op != "in" && op != "not in" {
				return false, invalidCondition(op)
			}
			x := fileStringAttr(f, key)
			var in bool
			switch v := value.(type) {
			case string:
				in = strings.Contains(v, x)
			case []any:
				in = slices.ContainsFunc(v, func(e any) bool { return py.Equal(e, x) })
			default:
				return false, fmt.Errorf("argument of type '%s' is not iterable", py.TypeName(value))
			}
			return in != (op == "not in"), nil
		}, nil
	case isStr && key == "size":
		return func(f map[string]any) (bool, error) {
			num, err := pyFloatOf(s)
			if err != nil {
				return false, err
			}
			np, err := numberFilter(op, num)
			if err != nil {
				return false, err
			}
			sz := fileSize(f)
			if sz.isFloat {
				return np(sz.f), nil
			}
			return np(sz.i), nil
		}, nil
	}
	return nil, listOpErrorf("InvalidKeyError", "Invalid key: %s", key)
}

// order sorts items as Dify's _apply_order: stable, descending when
// asked; files by the order_by key.
func (n *listOperatorNode) order(kind listKind, items []any) ([]any, error) {
	var c func(a, b any) int
	switch kind {
	case listString:
		c = func(a, b any) int { return strings.Compare(a.(string), b.(string)) }
	case listNumber:
		c = func(a, b any) int { r, _ := asPyNumber(a).cmp(asPyNumber(b)); return r }
	case listBoolean:
		c = func(a, b any) int { return cmp.Compare(boolFloat(a.(bool)), boolFloat(b.(bool))) }
	case listFile:
		switch n.orderKey {
		case "name", "type", "extension", "mime_type", "transfer_method", "url":
			c = func(a, b any) int {
				return strings.Compare(fileStringAttr(a.(map[string]any), n.orderKey), fileStringAttr(b.(map[string]any), n.orderKey))
			}
		case "size":
			c = func(a, b any) int { r, _ := fileSize(a.(map[string]any)).cmp(fileSize(b.(map[string]any))); return r }
		default:
			return nil, listOpErrorf("InvalidKeyError", "Invalid order key: %s", n.orderKey)
		}
	}
	out := slices.Clone(items)
	if n.orderDesc {
		slices.SortStableFunc(out, func(a, b any) int { return c(b, a) })
	} else {
		slices.SortStableFunc(out, c)
	}
	return out, nil
}
