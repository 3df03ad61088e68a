package py

// Equal is Python's == for the engine's value set (True == 1, 1 == 1.0).
func Equal(a, b any) bool {
	if ia, ok := a.(int64); ok {
		if ib, ok := b.(int64); ok {
			return ia == ib
		}
	}
	if fa, ok := Number(a); ok {
		if fb, ok := Number(b); ok {
			return fa == fb
		}
		if bb, ok := b.(bool); ok {
			return fa == boolFloat(bb)
		}
		return false
	}
	if ba, ok := a.(bool); ok {
		if fb, ok := Number(b); ok {
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
			if !Equal(x[i], y[i]) {
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
			if !ok || !Equal(v, w) {
				return false
			}
		}
		return true
	}
	return a == b
}

// Number reports v as a float64 when it is a Python int or float (int64,
// int or float64). A bool is not a number here, though Python's bool is an
// int: callers that want True as 1 say so.
func Number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case int:
		return float64(x), true
	}
	return 0, false
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
