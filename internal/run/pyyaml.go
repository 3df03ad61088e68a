package run

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// Dify reads a DSL document with PyYAML's safe_load, which follows YAML
// 1.1, and writes one with PyYAML's dump, which quotes a string only where
// YAML 1.1 would read it as something else. So an export has 000568 or
// 1e3 unquoted: strings to PyYAML, numbers to a YAML 1.2 reader such as
// yaml.v3. A plain scalar (neither quoted, nor a block scalar, nor tagged)
// is therefore resolved here exactly as PyYAML's SafeLoader resolves and
// constructs it. The expressions are PyYAML's own (resolver.py), with the
// spaces of its verbose-mode patterns taken out.
var (
	pyBoolRE = regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	pyIntRE  = regexp.MustCompile(`^(?:[-+]?0b[0-1_]+` +
		`|[-+]?0[0-7_]+` +
		`|[-+]?(?:0|[1-9][0-9_]*)` +
		`|[-+]?0x[0-9a-fA-F_]+` +
		`|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	pyFloatRE = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?` +
		`|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?` +
		`|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*` +
		`|[-+]?\.(?:inf|Inf|INF)` +
		`|\.(?:nan|NaN|NAN))$`)
	pyNullRE      = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
	pyTimestampRE = regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]` +
		`|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?` +
		`(?:[Tt]|[ \t]+)[0-9][0-9]?` +
		`:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?` +
		`(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`)
)

// resolvePlain returns the value PyYAML gives the plain scalar s: null,
// a bool (yes/no/on/off too), an int (0o17 is a string, 0777 octal, 1:30
// sexagesimal), a float (only with a dot: 1e3 is a string, 1.0e+3 a
// float), or else the string itself. Two departures, both where Dify
// cannot load the document at all: a timestamp, which PyYAML makes a date
// that Dify then fails to store as JSON, stays its text; and "=" or "<<"
// as a value, for which PyYAML has no constructor, is refused as it is
// there.
func resolvePlain(s string) (any, error) {
	if s == "" {
		return nil, nil
	}
	switch c := s[0]; {
	case strings.IndexByte("yYnNtTfFoO", c) >= 0 && pyBoolRE.MatchString(s):
		switch s[0] {
		case 'y', 'Y', 't', 'T':
			return true, nil
		case 'o', 'O':
			return s[1] == 'n' || s[1] == 'N', nil
		}
		return false, nil
	case pyNullRE.MatchString(s):
		return nil, nil
	case pyFloatRE.MatchString(s):
		return yamlFloat(s)
	case pyIntRE.MatchString(s):
		return yamlInt(s)
	case pyTimestampRE.MatchString(s):
		return s, nil
	case s == "=" || s == "<<":
		tag := map[string]string{"=": "value", "<<": "merge"}[s]
		return nil, fmt.Errorf("could not determine a constructor for the tag 'tag:yaml.org,2002:%s' (quote %q to make it a string)", tag, s)
	}
	return s, nil
}

// yamlInt is PyYAML's construct_yaml_int. An int too large for int64
// becomes the nearest float64 (Python keeps it exact).
func yamlInt(s string) (any, error) {
	v := strings.ReplaceAll(s, "_", "")
	neg := v[0] == '-'
	if v[0] == '-' || v[0] == '+' {
		v = v[1:]
	}
	n := new(big.Int)
	var ok bool
	switch {
	case v == "0":
		ok = true
	case strings.HasPrefix(v, "0b"):
		_, ok = n.SetString(v[2:], 2)
	case strings.HasPrefix(v, "0x"):
		_, ok = n.SetString(v[2:], 16)
	case v[0] == '0':
		_, ok = n.SetString(v, 8)
	case strings.Contains(v, ":"):
		ok = true
		for _, part := range strings.Split(v, ":") {
			d, _ := new(big.Int).SetString(part, 10)
			n.Mul(n, big.NewInt(60)).Add(n, d)
		}
	default:
		_, ok = n.SetString(v, 10)
	}
	if !ok {
		// 0b_ or 0x_: the pattern matches, Python's int() then fails.
		return nil, fmt.Errorf("invalid literal for int(): %q", s)
	}
	if neg {
		n.Neg(n)
	}
	if n.IsInt64() {
		return n.Int64(), nil
	}
	f, _ := new(big.Float).SetInt(n).Float64()
	return f, nil
}

// yamlFloat is PyYAML's construct_yaml_float.
func yamlFloat(s string) (any, error) {
	v := strings.ToLower(strings.ReplaceAll(s, "_", ""))
	sign := 1.0
	if v[0] == '-' {
		sign = -1
	}
	if v[0] == '-' || v[0] == '+' {
		v = v[1:]
	}
	switch {
	case v == ".inf":
		return math.Inf(int(sign)), nil
	case v == ".nan":
		return math.NaN(), nil
	case strings.Contains(v, ":"):
		f := 0.0
		for _, part := range strings.Split(v, ":") {
			p, err := strconv.ParseFloat(part, 64)
			if err != nil {
				return nil, fmt.Errorf("could not convert string to float: %q", s)
			}
			f = f*60 + p
		}
		return sign * f, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		// "._": the pattern matches, Python's float() then fails.
		return nil, fmt.Errorf("could not convert string to float: %q", s)
	}
	return sign * f, nil
}

// ResolvePlainYAML returns the value PyYAML's SafeLoader gives the plain
// scalar s, as resolvePlain does (a timestamp stays its text).
func ResolvePlainYAML(s string) (any, error) { return resolvePlain(s) }
