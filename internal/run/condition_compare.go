package run

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/flowrun/flowrun/internal/py"
)

// compare is Dify's _evaluate_condition.
func compare(op string, value, expected any) (bool, error) {
	switch op {
	case "contains", "not contains":
		neg := op == "not contains"
		if !py.Truthy(value) {
			return neg, nil
		}
		switch v := value.(type) {
		case string:
			e, ok := expected.(string)
			if !ok {
				e = py.Str(expected)
			}
			return strings.Contains(v, e) != neg, nil
		case []any:
			in := slices.ContainsFunc(v, func(x any) bool { return py.Equal(x, expected) })
			return in != neg, nil
		}
		return false, errors.New("Invalid actual value type: string or array")
	case "start with", "end with":
		if !py.Truthy(value) {
			return false, nil
		}
		s, ok := value.(string)
		if !ok {
			return false, errors.New("Invalid actual value type: string")
		}
		e, ok := expected.(string)
		if !ok {
			return false, fmt.Errorf("Expected value must be a string for %s", strings.ReplaceAll(op, " ", "s"))
		}
		if op == "start with" {
			return strings.HasPrefix(s, e), nil
		}
		return strings.HasSuffix(s, e), nil
	case "is", "is not":
		if value == nil {
			return false, nil
		}
		switch value.(type) {
		case string, bool:
		default:
			return false, errors.New("Invalid actual value type: string or boolean")
		}
		return py.Equal(value, expected) == (op == "is"), nil
	case "empty":
		return !py.Truthy(value), nil
	case "not empty":
		return py.Truthy(value), nil
	case "=", "≠":
		if value == nil {
			return false, nil
		}
		exp, err := equalityExpected(value, expected)
		if err != nil {
			return false, err
		}
		return py.Equal(value, exp) == (op == "="), nil
	case ">", "<", "≥", "≤":
		return compareOrdered(op, value, expected)
	case "null", "not exists":
		return value == nil, nil
	case "not null", "exists":
		return value != nil, nil
	case "in", "not in":
		neg := op == "not in"
		if !py.Truthy(value) {
			return neg, nil
		}
		list, ok := expected.([]any)
		if !ok {
			return false, errors.New("Invalid expected value type: array")
		}
		in := slices.ContainsFunc(list, func(e any) bool { return py.Equal(e, value) })
		return in != neg, nil
	case "all of":
		list, ok := expected.([]any)
		if !ok {
			return false, fmt.Errorf("Unsupported operator: %s", op)
		}
		return allOfCondition(value, list)
	}
	return false, fmt.Errorf("Unsupported operator: %s", op)
}

// allOfCondition is Dify's "all of": every expected string must be in the
// actual string or list, or every expected boolean in the actual list. An
// actual value of another type is simply false.
func allOfCondition(value any, expected []any) (bool, error) {
	isStr := func(e any) bool { _, ok := e.(string); return ok }
	isBool := func(e any) bool { _, ok := e.(bool); return ok }
	switch {
	case allOf(expected, isStr):
		if !py.Truthy(value) {
			return false, nil
		}
		switch v := value.(type) {
		case string:
			return allOf(expected, func(e any) bool { return strings.Contains(v, e.(string)) }), nil
		case []any:
			return allOf(expected, func(e any) bool { return slices.ContainsFunc(v, func(x any) bool { return py.Equal(x, e) }) }), nil
		}
		return false, nil
	case allOf(expected, isBool):
		v, ok := value.([]any)
		if !ok || len(v) == 0 {
			return false, nil
		}
		return allOf(expected, func(e any) bool { return slices.ContainsFunc(v, func(x any) bool { return py.Equal(x, e) }) }), nil
	}
	return false, errors.New("all of operator expects homogeneous list of strings or booleans")
}

// equalityExpected converts expected to the actual value's type for = and
// ≠, as Dify does: bool(expected), int(expected) or float(expected).
func equalityExpected(value, expected any) (any, error) {
	switch value.(type) {
	case bool:
		switch expected.(type) {
		case bool, int64, string:
			return py.Truthy(expected), nil
		}
		return nil, fmt.Errorf("Cannot convert %s to bool", py.Class(expected))
	case int64:
		switch expected.(type) {
		case bool, int64, float64, string:
			return pyInt(expected)
		}
		return nil, fmt.Errorf("Cannot convert %s to int", py.Class(expected))
	case float64:
		switch expected.(type) {
		case bool, int64, float64, string:
			return pyFloatOf(expected)
		}
		return nil, fmt.Errorf("Cannot convert %s to float", py.Class(expected))
	}
	return nil, errors.New("Invalid actual value type: number or boolean")
}

// compareOrdered is Dify's >, <, ≥ and ≤ (with _normalize_numeric_values):
// a boolean actual counts as 0 or 1 (Python's bool is an int); a string
// expected value is parsed as a float and compared as an int when the
// actual value is an int and the float is integral.
func compareOrdered(op string, value, expected any) (bool, error) {
	if value == nil {
		return false, nil
	}
	var v pyNumber
	switch x := value.(type) {
	case bool:
		v = pyNumber{i: int64(boolFloat(x))}
	case int64:
		v = pyNumber{i: x}
	case float64:
		v = pyNumber{f: x, isFloat: true}
	default:
		return false, errors.New("Invalid actual value type: number")
	}
	var e pyNumber
	switch x := expected.(type) {
	case string:
		f, ok := py.ParseFloat(x)
		if !ok {
			return false, fmt.Errorf("Cannot convert '%s' to number", Clip(x))
		}
		e = pyNumber{f: f, isFloat: true}
	case float64:
		e = pyNumber{f: x, isFloat: true}
	case int64:
		e = pyNumber{i: x}
	case bool:
		e = pyNumber{i: int64(boolFloat(x))}
	default:
		return false, fmt.Errorf("Cannot convert %s to number", py.Class(expected))
	}
	c, ordered := v.cmp(e)
	if !ordered {
		return false, nil
	}
	switch op {
	case ">":
		return c > 0, nil
	case "<":
		return c < 0, nil
	case "≥":
		return c >= 0, nil
	default: // ≤
		return c <= 0, nil
	}
}

// pyNumber is a Python int or float, compared exactly as Python does.
type pyNumber struct {
	i       int64
	f       float64
	isFloat bool
}

// cmp compares n with m; ordered is false when either is NaN.
func (n pyNumber) cmp(m pyNumber) (c int, ordered bool) {
	switch {
	case !n.isFloat && !m.isFloat:
		return cmpOrdered(n.i, m.i), true
	case n.isFloat && m.isFloat:
		if math.IsNaN(n.f) || math.IsNaN(m.f) {
			return 0, false
		}
		return cmpOrdered(n.f, m.f), true
	case !n.isFloat:
		return cmpIntFloat(n.i, m.f)
	default:
		c, ordered := cmpIntFloat(m.i, n.f)
		return -c, ordered
	}
}

// cmpIntFloat compares an int with a float exactly (no rounding of i).
func cmpIntFloat(i int64, f float64) (int, bool) {
	switch {
	case math.IsNaN(f):
		return 0, false
	case f >= math.MaxInt64: // 2^63 and above, +inf
		return -1, true
	case f < math.MinInt64:
		return 1, true
	}
	t := math.Trunc(f)
	if c := cmpOrdered(i, int64(t)); c != 0 {
		return c, true
	}
	return cmpOrdered(t, f), true
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
