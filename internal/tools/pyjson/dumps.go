package pyjson

import "github.com/flowrun/flowrun/internal/py"

// Dumps writes v as Python's json.dumps(v, ensure_ascii=ascii) does.
func Dumps(v any, ascii bool) string { return py.Dumps(v, 0, ascii) }

// DumpsIndent writes v as Python's json.dumps(v, indent=indent,
// ensure_ascii=ascii) does: one item a line, "," ending each but the
// last, ": " after keys, and "[]" and "{}" for empty containers.
func DumpsIndent(v any, indent int, ascii bool) string { return py.Dumps(v, indent, ascii) }

// Str is Python's str() of a decoded value: strings as they are, True,
// False and None for the constants, numbers as Python prints them, and
// json.dumps-like text for arrays and objects (Python would print their
// repr; tools here dump them as JSON instead).
func Str(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	case float64:
		return py.Float(x)
	}
	return Dumps(v, false)
}
