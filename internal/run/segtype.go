package run

import (
	"fmt"

	"github.com/flowrun/flowrun/internal/py"
)

// Dify attaches a SegmentType to every value in its variable pool. The
// engine keeps plain values and infers the type when it matters: the
// assigner's operation and input checks, and the typing of loop variables.
// The names are Dify's SegmentType values, which appear in error messages.

// segmentType infers the Dify SegmentType of v as Dify's
// SegmentType.infer_segment_type / build_segment do.
func segmentType(v any) string {
	switch x := v.(type) {
	case nil:
		return "none"
	case bool:
		return "boolean"
	case int64, int:
		return "integer"
	case float64:
		return "float"
	case string:
		return "string"
	case map[string]any:
		if isFile(x) {
			return "file"
		}
		return "object"
	case Vars:
		return "object"
	case []any:
		return arraySegmentType(x)
	}
	return fmt.Sprintf("%T", v)
}

func arraySegmentType(xs []any) string {
	types := map[string]bool{}
	allArrays := true
	for _, e := range xs {
		t := segmentType(e)
		types[t] = true
		if _, ok := e.([]any); !ok {
			allArrays = false
		}
	}
	if allArrays { // also the empty list
		return "array[any]"
	}
	if len(types) != 1 {
		for t := range types {
			if t != "integer" && t != "float" {
				return "array[any]"
			}
		}
		return "array[number]"
	}
	for t := range types {
		switch t {
		case "string":
			return "array[string]"
		case "integer", "float":
			return "array[number]"
		case "boolean":
			return "array[boolean]"
		case "object":
			return "array[object]"
		case "file":
			return "array[file]"
		}
	}
	return "array[any]"
}

func isArrayType(t string) bool {
	switch t {
	case "array[any]", "array[string]", "array[number]", "array[object]", "array[boolean]", "array[file]":
		return true
	}
	return false
}

func isNumberType(t string) bool { return t == "number" || t == "integer" || t == "float" }

// typeMismatchError is Dify's TypeMismatchError.
func typeMismatchError(format string, args ...any) error {
	return &NodeError{Type: "TypeMismatchError", Err: fmt.Errorf(format, args...)}
}

// typedValue checks v against the declared type t as Dify's
// build_segment_with_type does: a "number" accepts integers and floats, an
// empty list fits every array type, anything else must match exactly.
func typedValue(t string, v any) (any, error) {
	if v == nil {
		if t == "none" {
			return nil, nil
		}
		return nil, typeMismatchError("Type mismatch: expected %s, but got None", t)
	}
	if xs, ok := v.([]any); ok && len(xs) == 0 {
		if isArrayType(t) {
			return v, nil
		}
		return nil, typeMismatchError("Type mismatch: expected %s, but got empty list", t)
	}
	inferred := segmentType(v)
	if inferred == t || (t == "number" && (inferred == "integer" || inferred == "float")) {
		return v, nil
	}
	return nil, typeMismatchError("Type mismatch: expected %s, but got %s, value=%s", t, inferred, py.Str(v))
}

// zeroValue is Dify's SegmentType.get_zero_value, used by "clear".
func zeroValue(t string) (any, bool) {
	switch t {
	case "string":
		return "", true
	case "integer", "number":
		return int64(0), true
	case "float":
		return 0.0, true
	case "boolean":
		return false, true
	case "object":
		return map[string]any{}, true
	}
	if isArrayType(t) {
		return []any{}, true
	}
	return nil, false
}

// pySelector renders a selector as Python's str(list) does.
func pySelector(sel Selector) string { return py.Str(stringsToAny(sel)) }

// selectorOf converts a decoded DSL value into a selector when it is a
// list of strings (or numbers, which exports sometimes use for node ids).
func selectorOf(v any) (Selector, bool) {
	xs, ok := v.([]any)
	if !ok {
		return nil, false
	}
	sel := make(Selector, len(xs))
	for i, e := range xs {
		switch x := e.(type) {
		case string:
			sel[i] = x
		case int64, float64:
			sel[i] = py.Str(x)
		default:
			return nil, false
		}
	}
	return sel, true
}
