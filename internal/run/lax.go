package run

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Dify validates node data with pydantic in lax mode, which converts some
// values into the declared type instead of refusing them. laxInt and laxBool
// accept what pydantic 2 accepts for an int and a bool field, and nothing
// else.

// laxIntText is an int written as pydantic reads it from a string: digits
// with single underscores between them, a sign, and a zero fraction.
var laxIntText = regexp.MustCompile(`^[+-]?[0-9](?:_?[0-9])*(?:\.0+)?$`)

// laxInt converts v as pydantic's lax int does: integers; floats with no
// fractional part; booleans (as 0 and 1); and strings such as " 3 ",
// "+3", "1_000" or "3.0".
func laxInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case float64:
		return floatInt(x)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return 0, fmt.Errorf("unable to parse %s as an integer", x)
		}
		return floatInt(f)
	case string:
		s := strings.TrimSpace(x)
		if !laxIntText.MatchString(s) {
			return 0, fmt.Errorf("unable to parse string as an integer: %q", x)
		}
		if i := strings.IndexByte(s, '.'); i >= 0 {
			s = s[:i]
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("integer out of range: %q", x)
		}
		return i, nil
	}
	return 0, fmt.Errorf("want an integer, got %s", truncate(Text(v), 60))
}

func floatInt(f float64) (int64, error) {
	if f != math.Trunc(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("got a number with a fractional part: %v", f)
	}
	if f < -(1<<63) || f >= 1<<63 {
		return 0, fmt.Errorf("integer out of range: %v", f)
	}
	return int64(f), nil
}

// laxBool converts v as pydantic's lax bool does: booleans; the numbers 0
// and 1; and the strings 0/1, false/true, f/t, no/yes, n/y, off/on in any
// case.
func laxBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(x) {
		case "0", "off", "f", "false", "n", "no":
			return false, nil
		case "1", "on", "t", "true", "y", "yes":
			return true, nil
		}
	case int64, float64, json.Number:
		if f, err := strconv.ParseFloat(fmt.Sprint(x), 64); err == nil && (f == 0 || f == 1) {
			return f == 1, nil
		}
	}
	return false, fmt.Errorf("unable to interpret %s as a boolean", truncate(Text(v), 60))
}
