package tools

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

// Cast returns a copy of args with each declared parameter's value cast to
// its type, as Dify's Tool.invoke does (cast_parameter_value): string
// types take Python's str() of the value, numbers are parsed from strings
// ("3" → 3, "2.5" → 2.5), booleans from YAML's words, arrays and objects
// from JSON text. Undeclared arguments are kept as they are. A value that
// does not fit fails with Python's message ("invalid literal for int()
// with base 10: 'x'").
func (t *Tool) Cast(args map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(args))
	for k, v := range args {
		out[k] = v
	}
	for i := range t.Params {
		p := &t.Params[i]
		v, ok := args[p.Name]
		if !ok {
			continue
		}
		c, err := CastValue(p.Type, v)
		if err != nil {
			return nil, err
		}
		out[p.Name] = c
	}
	return out, nil
}

// CastValue casts one value to typ (see Tool.Cast).
func CastValue(typ ParamType, v any) (any, error) {
	switch typ {
	case TypeString, TypeSecretInput, TypeSelect, TypeCheckbox, TypeDynamicSelect:
		if v == nil {
			return "", nil
		}
		return py.Str(v), nil
	case TypeBoolean:
		return castBool(v), nil
	case TypeNumber:
		return castNumber(v)
	case TypeSystemFiles, TypeFiles:
		if l, ok := v.([]any); ok {
			return l, nil
		}
		return []any{v}, nil
	case TypeFile:
		if l, ok := v.([]any); ok {
			if len(l) != 1 {
				return nil, errors.New("This parameter only accepts one file but got multiple files while invoking.") //nolint:staticcheck // Dify's text
			}
			return l[0], nil
		}
		return v, nil
	case TypeModelSelector, TypeAppSelector:
		if _, ok := v.(map[string]any); !ok {
			return nil, errors.New("The selector must be a dictionary.") //nolint:staticcheck // Dify's text
		}
		return v, nil
	case TypeToolSelector:
		if _, ok := v.([]any); !ok && py.Truthy(v) {
			return nil, errors.New("The tools selector must be a list.") //nolint:staticcheck // Dify's text
		}
		return v, nil
	case TypeAny:
		switch v.(type) {
		case string, map[string]any, []any, int64, float64, bool:
		default:
			if py.Truthy(v) {
				return nil, errors.New("The var selector must be a string, dictionary, list or number.") //nolint:staticcheck // Dify's text
			}
		}
		return v, nil
	case TypeArray:
		if l, ok := v.([]any); ok {
			return l, nil
		}
		if s, ok := v.(string); ok {
			if d, err := pyjson.Loads(s); err == nil {
				if l, ok := pyjson.Plain(d).([]any); ok {
					return l, nil
				}
			}
		}
		return []any{v}, nil
	case TypeObject:
		if m, ok := v.(map[string]any); ok {
			return m, nil
		}
		if s, ok := v.(string); ok {
			if d, err := pyjson.Loads(s); err == nil {
				if m, ok := pyjson.Plain(d).(map[string]any); ok {
					return m, nil
				}
			}
		}
		return map[string]any{}, nil
	}
	return py.Str(v), nil
}

// castBool is Dify's boolean cast: YAML's words (and "1", "0") in strings,
// Python's truth value otherwise.
func castBool(v any) bool {
	if s, ok := v.(string); ok {
		switch strings.ToLower(s) {
		case "true", "yes", "y", "1":
			return true
		case "false", "no", "n", "0":
			return false
		}
	}
	return py.Truthy(v)
}

// castNumber is Dify's number cast: numbers as they are (booleans too, as
// Python ints), non-empty strings through float() when they hold a dot and
// int() otherwise, anything else None.
func castNumber(v any) (any, error) {
	switch x := v.(type) {
	case int64, float64, bool, int:
		return v, nil
	case string:
		if x == "" {
			return nil, nil
		}
		if strings.Contains(x, ".") {
			return pyFloat(x)
		}
		return pyInt(x)
	}
	return nil, nil
}

// pyInt is Python's int(s) (py.IntText). Values beyond int64 are kept as
// json.Number.
func pyInt(s string) (any, error) {
	t, ok := py.IntText(s)
	if !ok {
		return nil, fmt.Errorf("invalid literal for int() with base 10: %s", py.Repr(s))
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return n, nil
	}
	n, _ := new(big.Int).SetString(t, 10)
	return json.Number(n.String()), nil
}

// pyFloat is Python's float(s) (py.ParseFloat).
func pyFloat(s string) (any, error) {
	if f, ok := py.ParseFloat(s); ok {
		return f, nil
	}
	return nil, fmt.Errorf("could not convert string to float: %s", py.Repr(s))
}
