package run

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/flowrun/flowrun/internal/py"
)

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
		return 0, fmt.Errorf("invalid literal for int() with base 10: %s", Clip(py.Repr(x)))
	}
	return 0, fmt.Errorf("int() argument must be a string, a bytes-like object or a real number, not '%s'", py.TypeName(v))
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
		return 0, fmt.Errorf("could not convert string to float: %s", Clip(py.Repr(x)))
	}
	return 0, fmt.Errorf("float() argument must be a string or a real number, not '%s'", py.TypeName(v))
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

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
