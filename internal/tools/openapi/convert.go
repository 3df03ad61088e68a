package openapi

import (
	"math"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

// convert is Dify's _convert_body_property_type: a body property's value
// converted by its schema's type, or returned as it is when the
// conversion fails. As in Dify, a property with neither a type nor anyOf
// is sent as null.
func convert(s *openapi3.Schema, v any) any {
	if s == nil {
		return nil
	}
	if types := s.Type.Slice(); len(types) > 0 {
		if len(types) > 1 {
			return v
		}
		switch types[0] {
		case "integer", "int":
			if n, ok := pyInt(v); ok {
				return n
			}
		case "number":
			if n, ok := pyNumber(v); ok {
				return n
			}
		case "string":
			return py.Str(v)
		case "boolean":
			return py.Truthy(v)
		case "null":
			return nil
		case "object", "array":
			if str, ok := v.(string); ok {
				if j, err := pyjson.Loads(str); err == nil {
					return pyjson.Plain(j)
				}
			}
		}
		return v
	}
	if len(s.AnyOf) > 0 {
		return convertAnyOf(s.AnyOf, v, 10)
	}
	return nil
}

// convertAnyOf is Dify's _convert_body_property_any_of: the first option
// whose type the value converts to.
func convertAnyOf(options openapi3.SchemaRefs, v any, depth int) any {
	if depth <= 0 {
		return v
	}
	for _, r := range options {
		if r == nil || r.Value == nil {
			continue
		}
		o := r.Value
		if types := o.Type.Slice(); len(types) == 1 {
			switch types[0] {
			case "integer", "int":
				if n, ok := pyInt(v); ok {
					return n
				}
			case "number":
				if n, ok := pyNumber(v); ok {
					return n
				}
			case "string":
				return py.Str(v)
			case "boolean":
				switch strings.ToLower(py.Str(v)) {
				case "true", "1":
					return true
				case "false", "0":
					return false
				}
			case "null":
				if !py.Truthy(v) {
					return nil
				}
			}
			continue
		}
		if len(o.AnyOf) > 0 {
			return convertAnyOf(o.AnyOf, v, depth-1)
		}
	}
	return v
}

// pyNumber is Dify's number conversion: float() when str(v) has a dot,
// else int().
func pyNumber(v any) (any, bool) {
	if strings.Contains(py.Str(v), ".") {
		return pyFloat(v)
	}
	return pyInt(v)
}

// pyInt is Python's int(v), strings read by py.ParseInt; it fails, for the
// property to be sent as it is, where Python raises or the result would
// not fit an int64.
func pyInt(v any) (any, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) >= 1<<63 {
			return nil, false
		}
		return int64(x), true
	case bool:
		if x {
			return int64(1), true
		}
		return int64(0), true
	case string:
		return py.ParseInt(x)
	}
	return nil, false
}

// pyFloat is Python's float(v), strings read by py.ParseFloat. pyNumber
// sends only values whose str() has a dot here, which a bool's has not.
func pyFloat(v any) (any, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case string:
		return py.ParseFloat(x)
	}
	return nil, false
}
