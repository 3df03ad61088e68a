package run

import (
	"errors"
	"fmt"
	"math"

	"github.com/flowrun/flowrun/internal/py"
)

// pyInt is Python's int(x) for an expected value, strings read by
// py.ParseInt; the messages are Python's, with the value clipped.
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
		if i, ok := py.ParseInt(x); ok {
			return i, nil
		}
		return 0, fmt.Errorf("invalid literal for int() with base 10: %s", Clip(py.Repr(x)))
	}
	return 0, fmt.Errorf("int() argument must be a string, a bytes-like object or a real number, not '%s'", py.TypeName(v))
}

// pyFloatOf is Python's float(x) for an expected value, strings read by
// py.ParseFloat; the messages are Python's, with the value clipped.
func pyFloatOf(v any) (float64, error) {
	switch x := v.(type) {
	case int64:
		return float64(x), nil
	case float64:
		return x, nil
	case bool:
		return boolFloat(x), nil
	case string:
		if f, ok := py.ParseFloat(x); ok {
			return f, nil
		}
		return 0, fmt.Errorf("could not convert string to float: %s", Clip(py.Repr(x)))
	}
	return 0, fmt.Errorf("float() argument must be a string or a real number, not '%s'", py.TypeName(v))
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
