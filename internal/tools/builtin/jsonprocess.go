package builtin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/tools"
	"github.com/flowrun/flowrun/internal/tools/builtin/jsonpath"
	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

// newJSONProcess is Dify's json_process plugin (langgenius/json_process,
// tools parse, json_insert, json_delete and json_replace). Every tool
// answers with one text: the resulting JSON, or the error's text; a
// missing argument adds "Invalid parameter <name>" before it, as the
// plugin's messages do.
func newJSONProcess(Options) *provider {
	p := &provider{}
	content := tools.Param{Name: "content", Type: tools.TypeString, Required: true, Form: tools.FormLLM, Description: "JSON data to be processed"}
	query := tools.Param{Name: "query", Type: tools.TypeString, Required: true, Form: tools.FormLLM, Description: "JSON fields to be parsed"}
	ascii := tools.Param{Name: "ensure_ascii", Type: tools.TypeBoolean, Form: tools.FormForm, Default: true, Description: "Ensure the JSON output is ASCII encoded"}
	decode := tools.Param{Name: "value_decode", Type: tools.TypeBoolean, Form: tools.FormForm, Default: false, Description: "Whether to decode the value to a JSON object"}
	p.add(tools.Tool{Name: "parse", Label: "JSON Parse", Description: "A tool for extracting JSON objects", Params: []tools.Param{
		content, {Name: "json_filter", Type: tools.TypeString, Required: true, Form: tools.FormLLM, Description: "JSON fields to be parsed"}, ascii,
	}}, jsonParse)
	p.add(tools.Tool{Name: "json_insert", Label: "JSON Insert", Description: "A tool for inserting JSON objects", Params: []tools.Param{
		content, query, {Name: "new_value", Type: tools.TypeString, Required: true, Form: tools.FormLLM, Description: "New value"}, decode,
		{Name: "create_path", Type: tools.TypeSelect, Required: true, Form: tools.FormForm, Default: "False", Options: []string{"True", "False"}, Description: "Whether to create a path when the path does not exist"},
		ascii,
	}}, jsonInsert)
	p.add(tools.Tool{Name: "json_delete", Label: "JSON Delete", Description: "A tool for deleting JSON content", Params: []tools.Param{
		content, query, ascii,
	}}, jsonDelete)
	p.add(tools.Tool{Name: "json_replace", Label: "JSON Replace", Description: "A tool for replacing JSON content", Params: []tools.Param{
		content, query,
		{Name: "replace_pattern", Type: tools.TypeString, Form: tools.FormLLM, Description: "String to be replaced"},
		{Name: "replace_value", Type: tools.TypeString, Required: true, Form: tools.FormLLM, Description: "New value"},
		decode,
		{Name: "replace_model", Type: tools.TypeSelect, Required: true, Form: tools.FormForm, Default: "pattern", Options: []string{"key", "value", "pattern"}, Description: "Replace mode"},
		ascii,
	}}, jsonReplace)
	return p
}

// jsonCall holds one call's arguments and the notes it answers with
// before its result.
type jsonCall struct {
	call  *tools.Call
	notes []string
}

// require returns argument name (a string after the node's cast, "" when
// absent) and notes "Invalid parameter <name>" when it is empty.
func (c *jsonCall) require(name string) string {
	v := arg(c.call, name, "")
	if !py.Truthy(v) {
		c.notes = append(c.notes, "Invalid parameter "+name)
	}
	return py.Str(v)
}

// flag is a boolean setting (the node casts them to bool).
func (c *jsonCall) flag(name string, def bool) bool { return arg(c.call, name, def) == true }

func (c *jsonCall) dumps(v any) string { return pyjson.Dumps(v, c.flag("ensure_ascii", true)) }

// emit sends the notes, then the result, each as a text message.
func (c *jsonCall) emit(emit tools.Emit, result string) error {
	for _, n := range append(c.notes, result) {
		if err := text(emit, n); err != nil {
			return err
		}
	}
	return nil
}

// load reads a document with mutable lists.
func load(s string) (any, error) {
	v, err := pyjson.Loads(s)
	return pyjson.Mutable(v), err
}

func jsonParse(_ context.Context, call *tools.Call, emit tools.Emit) error {
	c := &jsonCall{call: call}
	content, filter := c.require("content"), c.require("json_filter")
	return c.emit(emit, c.parse(content, filter))
}

func (c *jsonCall) parse(content, filter string) string {
	data, err := load(content)
	if err != nil {
		return err.Error()
	}
	p, err := jsonpath.Parse(filter)
	if err != nil {
		return err.Error()
	}
	matches, err := p.Find(data)
	if err != nil {
		return err.Error()
	}
	switch len(matches) {
	case 0:
		return ""
	case 1:
		switch v := matches[0].Value.(type) {
		case *pyjson.Object, *pyjson.List:
			return c.dumps(v)
		default:
			return pyjson.Str(v)
		}
	}
	values := make([]any, len(matches))
	for i, m := range matches {
		values[i] = m.Value
	}
	return c.dumps(values)
}

func jsonInsert(_ context.Context, call *tools.Call, emit tools.Emit) error {
	c := &jsonCall{call: call}
	content, query, value := c.require("content"), c.require("query"), c.require("new_value")
	return c.emit(emit, c.insert(content, query, value))
}

func (c *jsonCall) insert(content, query, raw string) string {
	data, matches, value, err := c.prepare(content, query, raw, "new")
	if err != nil {
		return err.Error()
	}
	if len(matches) == 0 && py.Truthy(arg(c.call, "create_path", false)) {
		if err := createPath(data, query, value); err != nil {
			return err.Error()
		}
		return c.dumps(data)
	}
	for _, m := range matches {
		switch x := m.Value.(type) {
		case *pyjson.Object:
			add, ok := value.(*pyjson.Object)
			if !ok {
				return "Cannot insert non-dict value into dict"
			}
			for _, k := range add.Keys() {
				v, _ := add.Get(k)
				x.Set(k, v)
			}
		case *pyjson.List:
			if err := listInsert(x, arg(c.call, "index", nil), value); err != nil {
				return err.Error()
			}
		default:
			if err := m.Update(data, value); err != nil {
				return err.Error()
			}
		}
	}
	return c.dumps(data)
}

// listInsert appends v, or inserts it at index (Python's list.insert,
// which clamps the index).
func listInsert(l *pyjson.List, index, v any) error {
	if index == nil {
		l.Items = append(l.Items, v)
		return nil
	}
	n, err := tools.CastValue(tools.TypeNumber, py.Str(index))
	if err != nil {
		return err
	}
	i, _ := n.(int64)
	if _, isInt := n.(int64); !isInt {
		return fmt.Errorf("invalid literal for int() with base 10: %s", py.Repr(py.Str(index)))
	}
	if i < 0 {
		i = max(i+int64(len(l.Items)), 0)
	}
	i = min(i, int64(len(l.Items)))
	l.Items = append(l.Items[:i], append([]any{v}, l.Items[i:]...)...)
	return nil
}

// createPath builds a.b[0].c-style paths as the plugin does: each dotted
// part is a key (created as a mapping), name[i] a list padded with empty
// mappings; the last key gets the value (a last list part gets nothing).
func createPath(data any, query string, value any) error {
	parts := strings.Split(strings.Trim(strings.Trim(query, "$"), "."), ".")
	cur := data
	for i, part := range parts {
		if strings.Contains(part, "[") && strings.Contains(part, "]") {
			split := strings.Split(part, "[")
			if len(split) != 2 {
				return errors.New("too many values to unpack (expected 2)")
			}
			n, err := tools.CastValue(tools.TypeNumber, strings.TrimRight(split[1], "]"))
			idx, isInt := n.(int64)
			if err != nil || !isInt {
				return fmt.Errorf("invalid literal for int() with base 10: %s", py.Repr(strings.TrimRight(split[1], "]")))
			}
			has, err := pyContains(cur, split[0])
			if err != nil {
				return err
			}
			if !has {
				if err := pySetItem(cur, split[0], &pyjson.List{}); err != nil {
					return err
				}
			}
			arr, err := pyGetItem(cur, split[0])
			if err != nil {
				return err
			}
			l, ok := arr.(*pyjson.List)
			if !ok {
				return fmt.Errorf("'%s' object has no attribute 'append'", pyjson.TypeName(arr))
			}
			for int64(len(l.Items)) <= idx {
				l.Items = append(l.Items, pyjson.NewObject())
			}
			if idx < 0 {
				idx += int64(len(l.Items))
				if idx < 0 {
					return errors.New("list index out of range")
				}
			}
			cur = l.Items[idx]
			continue
		}
		if i == len(parts)-1 {
			if err := pySetItem(cur, part, value); err != nil {
				return err
			}
		} else if has, err := pyContains(cur, part); err != nil {
			return err
		} else if !has {
			if err := pySetItem(cur, part, pyjson.NewObject()); err != nil {
				return err
			}
		}
		next, err := pyGetItem(cur, part)
		if err != nil {
			return err
		}
		cur = next
	}
	return nil
}

// pyContains is Python's `key in container` for a string key.
func pyContains(c any, key string) (bool, error) {
	switch x := c.(type) {
	case *pyjson.Object:
		_, ok := x.Get(key)
		return ok, nil
	case *pyjson.List:
		for _, it := range x.Items {
			if jsonpath.Equal(it, key) {
				return true, nil
			}
		}
		return false, nil
	case string:
		return strings.Contains(x, key), nil
	}
	return false, fmt.Errorf("argument of type '%s' is not iterable", pyjson.TypeName(c))
}

// pyGetItem is Python's container[key] for a string key.
func pyGetItem(c any, key string) (any, error) {
	switch x := c.(type) {
	case *pyjson.Object:
		v, ok := x.Get(key)
		if !ok {
			return nil, errors.New(py.Repr(key))
		}
		return v, nil
	case *pyjson.List:
		return nil, errors.New("list indices must be integers or slices, not str")
	case string:
		return nil, errors.New("string indices must be integers, not 'str'")
	}
	return nil, fmt.Errorf("'%s' object is not subscriptable", pyjson.TypeName(c))
}

// pySetItem is Python's container[key] = v for a string key.
func pySetItem(c any, key string, v any) error {
	switch x := c.(type) {
	case *pyjson.Object:
		x.Set(key, v)
		return nil
	case *pyjson.List:
		return errors.New("list indices must be integers or slices, not str")
	}
	return fmt.Errorf("'%s' object does not support item assignment", pyjson.TypeName(c))
}

func jsonDelete(_ context.Context, call *tools.Call, emit tools.Emit) error {
	c := &jsonCall{call: call}
	content, query := c.require("content"), c.require("query")
	result, err := c.delete(content, query)
	if err != nil {
		result = "Failed to delete JSON content: Delete operation failed: " + err.Error()
	}
	return c.emit(emit, result)
}

func (c *jsonCall) delete(content, query string) (string, error) {
	data, err := load(content)
	if err != nil {
		return "", err
	}
	p, err := jsonpath.Parse("$." + strings.TrimLeft(query, "$."))
	if err != nil {
		return "", err
	}
	matches, err := p.Find(data)
	if err != nil {
		return "", err
	}
	for _, m := range matches {
		if m.Context == nil {
			return "", errors.New("'NoneType' object has no attribute 'value'")
		}
		switch x := m.Context.Value.(type) {
		case *pyjson.Object:
			f, _ := m.Field()
			if !x.Delete(f) {
				return "", errors.New(py.Repr(f))
			}
		case *pyjson.List:
			i := indexOf(x.Items, m.Value)
			if i < 0 {
				return "", errors.New("list.remove(x): x not in list")
			}
			x.Items = append(x.Items[:i], x.Items[i+1:]...)
		default:
			return "", errors.New("'DatumInContext' object has no attribute 'parent'")
		}
	}
	return c.dumps(data), nil
}

// indexOf is where list.remove finds v: the first item that is v or
// equals it.
func indexOf(items []any, v any) int {
	for i, it := range items {
		if same(it, v) || jsonpath.Equal(it, v) {
			return i
		}
	}
	return -1
}

// same reports whether a and b are the same container.
func same(a, b any) bool {
	switch x := a.(type) {
	case *pyjson.Object:
		y, ok := b.(*pyjson.Object)
		return ok && x == y
	case *pyjson.List:
		y, ok := b.(*pyjson.List)
		return ok && x == y
	}
	return false
}

func jsonReplace(_ context.Context, call *tools.Call, emit tools.Emit) error {
	c := &jsonCall{call: call}
	content, query, value := c.require("content"), c.require("query"), c.require("replace_value")
	var result string
	switch c.require("replace_model") {
	case "pattern":
		result = c.replacePattern(content, query, c.require("replace_pattern"), value)
	case "key":
		result = c.replaceKey(content, query, value)
	case "value":
		result = c.replaceValue(content, query, value)
	default:
		result = "Failed to replace JSON content"
	}
	return c.emit(emit, result)
}

// find loads content and finds query in it.
func find(content, query string) (any, []*jsonpath.Match, error) {
	data, err := load(content)
	if err != nil {
		return nil, nil, err
	}
	p, err := jsonpath.Parse(query)
	if err != nil {
		return nil, nil, err
	}
	matches, err := p.Find(data)
	return data, matches, err
}

func (c *jsonCall) replacePattern(content, query, pattern, value string) string {
	data, matches, err := find(content, query)
	if err != nil {
		return err.Error()
	}
	for _, m := range matches {
		s, ok := m.Value.(string)
		if !ok {
			return fmt.Sprintf("'%s' object has no attribute 'replace'", pyjson.TypeName(m.Value))
		}
		var nv any = strings.ReplaceAll(s, pattern, value)
		if c.flag("value_decode", false) {
			if nv, err = decode(nv.(string), "replace"); err != nil {
				return err.Error()
			}
		}
		if err := m.Update(data, nv); err != nil {
			return err.Error()
		}
	}
	return c.dumps(data)
}

// decode is value_decode's json.loads, with the plugin's message for
// text that is not JSON ("Cannot decode <which> value to json object").
func decode(s, which string) (any, error) {
	v, err := load(s)
	var syn *pyjson.SyntaxError
	if errors.As(err, &syn) {
		return nil, fmt.Errorf("Cannot decode %s value to json object", which) //nolint:staticcheck // the plugin's text
	}
	return v, err
}

// prepare loads content, parses query, decodes raw when value_decode is
// set, and finds the query, in the plugin's order.
func (c *jsonCall) prepare(content, query, raw, which string) (data any, matches []*jsonpath.Match, value any, err error) {
	if data, err = load(content); err != nil {
		return nil, nil, nil, err
	}
	p, err := jsonpath.Parse(query)
	if err != nil {
		return nil, nil, nil, err
	}
	value = raw
	if c.flag("value_decode", false) {
		if value, err = decode(raw, which); err != nil {
			return nil, nil, nil, err
		}
	}
	matches, err = p.Find(data)
	return data, matches, value, err
}

func (c *jsonCall) replaceKey(content, query, newKey string) string {
	data, matches, err := find(content, query)
	if err != nil {
		return err.Error()
	}
	var oldKey *string // Python's loop variable, kept across matches
	for _, m := range matches {
		if m.Context == nil {
			return "'NoneType' object has no attribute 'value'"
		}
		switch x := m.Context.Value.(type) {
		case *pyjson.Object:
			f, _ := m.Field()
			oldKey = &f
			if v, ok := x.Get(f); ok {
				x.Delete(f)
				x.Set(newKey, v)
			}
		case *pyjson.List:
			for _, it := range x.Items {
				if o, ok := it.(*pyjson.Object); ok {
					if oldKey == nil {
						return "cannot access local variable 'old_key' where it is not associated with a value"
					}
					if v, ok := o.Get(*oldKey); ok {
						o.Delete(*oldKey)
						o.Set(newKey, v)
					}
				}
			}
		}
	}
	return c.dumps(data)
}

func (c *jsonCall) replaceValue(content, query, raw string) string {
	data, matches, value, err := c.prepare(content, query, raw, "replace")
	if err != nil {
		return err.Error()
	}
	for _, m := range matches {
		if err := m.Update(data, value); err != nil {
			return err.Error()
		}
	}
	return c.dumps(data)
}
