package py

import (
	"encoding/json"
	"fmt"
	"strings"
)

// TypeName is type(v).__name__ ("int", "dict", …). A json.Number is the
// float or int its literal reads as. Types outside the value set are
// named by Go ("%T"), which no Python type is.
func TypeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int64, int:
		return "int"
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			return "float"
		}
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []any:
		return "list"
	case map[string]any, Mapping:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

// Class is Python's str(type(v)), as Dify prints it in errors
// ("<class 'str'>").
func Class(v any) string { return "<class '" + TypeName(v) + "'>" }
