package py

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// IntText checks s as Python's int(s) reads it (base 10): surrounding
// whitespace, one sign, and ASCII digits with single underscores between
// them. It returns the integer's text without the whitespace, a '+' or
// the underscores, for strconv or math/big to read at any size.
func IntText(s string) (string, bool) {
	t := strings.TrimFunc(s, unicode.IsSpace)
	digits := strings.TrimLeft(t, "+-")
	if len(t)-len(digits) > 1 || !underscored(digits, false) {
		return "", false
	}
	return strings.ReplaceAll(strings.TrimPrefix(t, "+"), "_", ""), true
}

// ParseInt is Python's int(s) (see IntText) for a result that fits int64.
func ParseInt(s string) (int64, bool) {
	t, ok := IntText(s)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(t, 10, 64)
	return n, err == nil
}

// ParseFloat is Python's float(s): surrounding whitespace, one sign,
// "inf", "infinity" and "nan" in any case, and decimal digits with single
// underscores between them, an optional fraction and exponent. It
// overflows to ±inf and underflows to 0, as Python does; hexadecimal is
// float.fromhex's, not float's, and is refused.
func ParseFloat(s string) (float64, bool) {
	t := strings.TrimFunc(s, unicode.IsSpace)
	body := strings.ToLower(strings.TrimLeft(t, "+-"))
	if len(t)-len(body) > 1 {
		return 0, false
	}
	switch body {
	case "inf", "infinity":
		return math.Inf(sign(t)), true
	case "nan":
		return math.NaN(), true
	}
	mant, exp, hasExp := strings.Cut(body, "e")
	whole, frac, _ := strings.Cut(mant, ".")
	if !underscored(whole, true) || !underscored(frac, true) || whole+frac == "" || (hasExp && !underscored(strings.TrimLeft(exp, "+-"), false)) || len(exp)-len(strings.TrimLeft(exp, "+-")) > 1 {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(t, "_", ""), 64)
	if err != nil {
		var ne *strconv.NumError
		if !errors.As(err, &ne) || ne.Err != strconv.ErrRange {
			return 0, false
		}
	}
	return f, true
}

func sign(s string) int {
	if strings.HasPrefix(s, "-") {
		return -1
	}
	return 1
}

// underscored reports whether s is ASCII digits with single underscores
// between them (Python's numeric literal rule); empty is allowed when
// mayBeEmpty.
func underscored(s string, mayBeEmpty bool) bool {
	if s == "" {
		return mayBeEmpty
	}
	if s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
