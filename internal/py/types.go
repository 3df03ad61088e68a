package py

// TypeName is type(v).__name__ ("int", "dict", …).
func TypeName(v any) string {
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
	case map[string]any, Mapping:
		name = "dict"
	}
	return name
}

// Class is Python's str(type(v)), as Dify prints it in errors
// ("<class 'str'>").
func Class(v any) string { return "<class '" + TypeName(v) + "'>" }
