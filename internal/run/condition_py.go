package run

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// truthy is Python's bool(v).
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case float64:
		return x != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	case Vars:
		return len(x) > 0
	}
	return true
}

// pyEqual is Python's == for the engine's value set (True == 1, 1 == 1.0).
func pyEqual(a, b any) bool {
	if ia, ok := a.(int64); ok {
		if ib, ok := b.(int64); ok {
			return ia == ib
		}
	}
	if fa, ok := toFloat(a); ok {
		if fb, ok := toFloat(b); ok {
			return fa == fb
		}
		if bb, ok := b.(bool); ok {
			return fa == boolFloat(bb)
		}
		return false
	}
	if ba, ok := a.(bool); ok {
		if fb, ok := toFloat(b); ok {
			return boolFloat(ba) == fb
		}
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !pyEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !pyEqual(v, w) {
				return false
			}
		}
		return true
	}
	return a == b
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// pyTypeRepr is Python's str(type(v)) for the engine's value set, as Dify
// prints it in errors ("<class 'str'>").
func pyTypeRepr(v any) string {
	name := "object"
	switch v.(type) {
	case nil:
		name = "NoneType"
	case bool:
		name = "bool"
	case int64, int:
		name = "int"
	case float64:
		name = "float"
	case string:
		name = "str"
	case []any:
		name = "list"
	case map[string]any, Vars:
		name = "dict"
	}
	return "<class '" + name + "'>"
}

// pyRepr1 is Python's repr(v).
func pyRepr1(v any) string {
	var b strings.Builder
	pyRepr(&b, v)
	return b.String()
}

// pyNumericString checks s against Python's numeric literal rules for
// underscores (only single ones between digits) and returns it without
// them and without surrounding whitespace.
func pyNumericString(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "_") {
		return s, true
	}
	isDigit := func(i int) bool { return i >= 0 && i < len(s) && s[i] >= '0' && s[i] <= '9' }
	for i := 0; i < len(s); i++ {
		if s[i] == '_' && (!isDigit(i-1) || !isDigit(i+1)) {
			return "", false
		}
	}
	return strings.ReplaceAll(s, "_", ""), true
}

// pyInt is Python's int(x) for an expected value.
func pyInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case float64:
		switch {
		case math.IsNaN(x):
			return 0, errors.New("cannot convert float NaN to integer")
		case math.IsInf(x, 0):
			return 0, errors.New("cannot convert float infinity to integer")
		}
		return int64(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		s, ok := pyNumericString(x)
		if ok && !strings.HasPrefix(s, "0x") && !strings.HasPrefix(s, "0X") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i, nil
			}
		}
		return 0, fmt.Errorf("invalid literal for int() with base 10: %s", Clip(pyRepr1(x)))
	}
	return 0, fmt.Errorf("int() argument must be a string, a bytes-like object or a real number, not '%s'", pyTypeName(v))
}

// pyFloatOf is Python's float(x) for an expected value.
func pyFloatOf(v any) (float64, error) {
	switch x := v.(type) {
	case int64:
		return float64(x), nil
	case float64:
		return x, nil
	case bool:
		return boolFloat(x), nil
	case string:
		if f, ok := parsePyFloat(x); ok {
			return f, nil
		}
		return 0, fmt.Errorf("could not convert string to float: %s", Clip(pyRepr1(x)))
	}
	return 0, fmt.Errorf("float() argument must be a string or a real number, not '%s'", pyTypeName(v))
}

// parsePyFloat parses s as Python's float(str) does.
func parsePyFloat(s string) (float64, bool) {
	t, ok := pyNumericString(s)
	if !ok || t == "" || strings.ContainsAny(t, "xXpP") {
		return 0, false
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return f, true // Python: overflow to ±inf, underflow to 0
		}
		return 0, false
	}
	return f, true
}

// pyTypeName is type(v).__name__.
func pyTypeName(v any) string {
	r := pyTypeRepr(v)
	return r[len("<class '") : len(r)-2]
}
