package code

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/run"
)

// Output is one declared output of a code node (Dify's CodeNodeData.Output):
// a type and, for object and array[object], optional children.
type Output struct {
	Type     string             `json:"type"`
	Children map[string]*Output `json:"children"`
}

// outputTypes are the types Dify accepts for code outputs
// (_ALLOWED_OUTPUT_FROM_CODE).
var outputTypes = []string{"string", "number", "object", "boolean", "array[string]", "array[number]", "array[object]", "array[boolean]"}

func validOutputType(t string) bool {
	for _, s := range outputTypes {
		if s == t {
			return true
		}
	}
	return false
}

// Error types reported as the node's error_type, named after Dify's
// exception classes.
const (
	TypeExecution        = "CodeExecutionError"
	TypeOutputValidation = "OutputValidationError"
	TypeDepthLimit       = "DepthLimitError"
	TypeCodeNode         = "CodeNodeError"
)

func outputError(format string, args ...any) error {
	return &run.NodeError{Type: TypeOutputValidation, Err: fmt.Errorf(format, args...)}
}

// checker validates a result against declared outputs exactly as Dify's
// CodeNode._transform_result does, message for message. Values are the
// decoder's: nil, bool, string, json.Number, []any, map[string]any.
type checker struct {
	l Limits
}

// transform checks result against schema (nil: check by value type only)
// and returns the transformed result. prefix and depth follow Dify,
// including its quirks (an object output's children are reported as
// ".name.child").
func (c *checker) transform(result map[string]any, schema map[string]*Output, prefix string, depth int) (map[string]any, error) {
	if depth > c.l.MaxDepth {
		return nil, &run.NodeError{Type: TypeDepthLimit, Err: fmt.Errorf("Depth limit %d reached, object too deep.", c.l.MaxDepth)}
	}
	if schema == nil {
		for _, name := range slices.Sorted(maps.Keys(result)) {
			v := result[name]
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			if err := c.checkUntyped(v, name, p, prefix, depth); err != nil {
				return nil, err
			}
		}
		return result, nil
	}
	out := make(map[string]any, len(schema))
	dot := ""
	if prefix != "" {
		dot = "."
	}
	for _, name := range slices.Sorted(maps.Keys(schema)) {
		cfg := schema[name]
		p := prefix + dot + name
		v, ok := result[name]
		if !ok {
			return nil, outputError("Output %s is missing.", p)
		}
		var err error
		switch cfg.Type {
		case "object":
			switch x := v.(type) {
			case nil:
				out[name] = nil
			case map[string]any:
				out[name], err = c.transform(x, cfg.Children, prefix+"."+name, depth+1)
			default:
				err = outputError("Output %s is not an object, got %s instead.", p, py.Class(v))
			}
		case "number":
			if v != nil && !isNumber(v) {
				return nil, outputError("Output %s is not a number, got %s instead.", p, py.Class(v))
			}
			if err = c.checkNumber(v, p); err == nil {
				out[name] = boolToInt(v)
			}
		case "string":
			if v != nil {
				if _, isStr := v.(string); !isStr {
					return nil, outputError("Output %s must be a string, got %s instead", p, py.TypeName(v))
				}
			}
			out[name], err = c.checkString(v, p)
		case "boolean":
			// Dify's _check_boolean does not check the type.
			out[name] = v
		case "array[number]":
			out[name], err = c.numberArray(v, p)
		case "array[string]":
			out[name], err = c.stringArray(v, p)
		case "array[object]":
			out[name], err = c.objectArray(v, cfg.Children, p, depth)
		case "array[boolean]":
			out[name], err = c.boolArray(v, p)
		default:
			err = outputError("Output type %s is not supported.", cfg.Type)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(out) != len(result) {
		return nil, &run.NodeError{Type: TypeCodeNode, Err: errors.New("Not all output parameters are validated.")}
	}
	return out, nil
}

// checkUntyped is the schema-less branch of _transform_result.
func (c *checker) checkUntyped(v any, name, p, prefix string, depth int) error {
	switch x := v.(type) {
	case map[string]any:
		_, err := c.transform(x, nil, p, depth+1)
		return err
	case bool, nil:
		return nil
	case json.Number:
		return c.checkNumber(x, p)
	case string:
		_, err := c.checkString(x, p)
		return err
	case []any:
		return c.checkUntypedArray(x, name, p, prefix, depth)
	}
	return outputError("Output %s.%s is not a valid type.", prefix, name)
}

func (c *checker) checkUntypedArray(list []any, name, p, prefix string, depth int) error {
	if len(list) == 0 || list[0] == nil {
		return nil
	}
	all := func(ok func(any) bool) bool {
		for _, e := range list {
			if e != nil && !ok(e) {
				return false
			}
		}
		return true
	}
	isStr := func(e any) bool { _, ok := e.(string); return ok }
	isMap := func(e any) bool { _, ok := e.(map[string]any); return ok }
	isList := func(e any) bool { _, ok := e.([]any); return ok }
	first := list[0]
	switch {
	case isNumber(first) && all(isNumber):
		for i, e := range list {
			if err := c.checkNumber(e, fmt.Sprintf("%s[%d]", p, i)); err != nil {
				return err
			}
		}
	case isStr(first) && all(isStr):
		for i, e := range list {
			if _, err := c.checkString(e, fmt.Sprintf("%s[%d]", p, i)); err != nil {
				return err
			}
		}
	case isMap(first) && all(isMap):
		for i, e := range list {
			if m, ok := e.(map[string]any); ok {
				if _, err := c.transform(m, nil, fmt.Sprintf("%s[%d]", p, i), depth+1); err != nil {
					return err
				}
			}
		}
	case isList(first) && all(isList):
		// Dify recurses into nested lists with _transform_result, which
		// only works for dicts; check each nested list as a list instead.
		if depth+1 > c.l.MaxDepth {
			return &run.NodeError{Type: TypeDepthLimit, Err: fmt.Errorf("Depth limit %d reached, object too deep.", c.l.MaxDepth)}
		}
		for i, e := range list {
			if l, ok := e.([]any); ok {
				q := fmt.Sprintf("%s[%d]", p, i)
				if err := c.checkUntypedArray(l, fmt.Sprintf("%s[%d]", name, i), q, prefix, depth+1); err != nil {
					return err
				}
			}
		}
	default:
		return outputError("Output %s.%s is not a valid array. make sure all elements are of the same type.", prefix, name)
	}
	return nil
}

func (c *checker) checkString(v any, p string) (any, error) {
	s, ok := v.(string)
	if v == nil {
		return nil, nil
	}
	if !ok {
		// Dify 1.x's _check_string no longer checks the type (a non-string
		// then fails with a Python TypeError); earlier versions said this.
		return nil, outputError("Output variable `%s` must be a string", p)
	}
	if utf8.RuneCountInString(s) > c.l.MaxStringLength {
		return nil, outputError("The length of output variable `%s` must be less than %d characters", p, c.l.MaxStringLength)
	}
	return strings.ReplaceAll(s, "\x00", ""), nil
}

func (c *checker) checkNumber(v any, p string) error {
	var n json.Number
	switch x := v.(type) {
	case nil:
		return nil
	case bool:
		if x {
			n = "1"
		} else {
			n = "0"
		}
	case json.Number:
		n = x
	default:
		return outputError("Output variable `%s` must be a number", p)
	}
	if outOfRange(n, c.l.MinNumber, c.l.MaxNumber) {
		return outputError("Output variable `%s` is out of range, it must be between %d and %d.", p, c.l.MinNumber, c.l.MaxNumber)
	}
	if isFloatLiteral(n) {
		f, err := strconv.ParseFloat(string(n), 64)
		if err == nil && floatPrecision(f) > c.l.MaxPrecision {
			return outputError("Output variable `%s` has too high precision, it must be less than %d digits.", p, c.l.MaxPrecision)
		}
	}
	return nil
}

func (c *checker) numberArray(v any, p string) (any, error) {
	list, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil, nil
		}
		return nil, outputError("Output %s is not an array, got %s instead.", p, py.Class(v))
	}
	if len(list) > c.l.MaxNumberArrayLength {
		return nil, outputError("The length of output variable `%s` must be less than %d elements.", p, c.l.MaxNumberArrayLength)
	}
	out := make([]any, len(list))
	for i, e := range list {
		if !isNumber(e) {
			return nil, outputError("The element at index %d of output variable `%s` must be a number.", i, p)
		}
		if err := c.checkNumber(e, fmt.Sprintf("%s[%d]", p, i)); err != nil {
			return nil, err
		}
		out[i] = boolToInt(e)
	}
	return out, nil
}

func (c *checker) stringArray(v any, p string) (any, error) {
	list, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil, nil
		}
		return nil, outputError("Output %s is not an array, got %s instead.", p, py.Class(v))
	}
	if len(list) > c.l.MaxStringArrayLength {
		return nil, outputError("The length of output variable `%s` must be less than %d elements.", p, c.l.MaxStringArrayLength)
	}
	out := make([]any, len(list))
	for i, e := range list {
		s, err := c.checkString(e, fmt.Sprintf("%s[%d]", p, i))
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

func (c *checker) objectArray(v any, children map[string]*Output, p string, depth int) (any, error) {
	list, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil, nil
		}
		return nil, outputError("Output %s is not an array, got %s instead.", p, py.Class(v))
	}
	if len(list) > c.l.MaxObjectArrayLength {
		return nil, outputError("The length of output variable `%s` must be less than %d elements.", p, c.l.MaxObjectArrayLength)
	}
	for i, e := range list {
		if _, isMap := e.(map[string]any); !isMap && e != nil {
			return nil, outputError("Output %s[%d] is not an object, got %s instead at index %d.", p, i, py.Class(e), i)
		}
	}
	out := make([]any, len(list))
	for i, e := range list {
		if e == nil {
			continue
		}
		m, err := c.transform(e.(map[string]any), children, fmt.Sprintf("%s[%d]", p, i), depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}

func (c *checker) boolArray(v any, p string) (any, error) {
	list, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil, nil
		}
		return nil, outputError("Output %s is not an array, got %s instead.", p, py.Class(v))
	}
	for i, e := range list {
		if _, isBool := e.(bool); !isBool && e != nil {
			return nil, outputError("Output %s[%d] is not a boolean, got %s instead.", p, i, py.Class(e))
		}
	}
	return list, nil
}

// isNumber mirrors isinstance(v, int | float): Python's bool is an int.
func isNumber(v any) bool {
	switch v.(type) {
	case json.Number, bool:
		return true
	}
	return false
}

func boolToInt(v any) any {
	if b, ok := v.(bool); ok {
		if b {
			return json.Number("1")
		}
		return json.Number("0")
	}
	return v
}

// isFloatLiteral tells a JSON float (Python float) from an integer.
func isFloatLiteral(n json.Number) bool {
	return strings.ContainsAny(string(n), ".eE")
}

// outOfRange compares exactly, as Python compares int and float with int.
func outOfRange(n json.Number, lo, hi int64) bool {
	if !isFloatLiteral(n) {
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return i < lo || i > hi
		}
		b, ok := new(big.Int).SetString(string(n), 10)
		return !ok || b.Cmp(big.NewInt(hi)) > 0 || b.Cmp(big.NewInt(lo)) < 0
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil { // ±Inf after overflow
		return true
	}
	bf := new(big.Float).SetFloat64(f)
	return bf.Cmp(new(big.Float).SetInt64(hi)) > 0 || bf.Cmp(new(big.Float).SetInt64(lo)) < 0
}

// floatPrecision is Dify's -Decimal(str(f)).normalize().exponent (0 when
// positive): the number of decimal places of the shortest repr of f.
func floatPrecision(f float64) int {
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±xx, shortest digits
	mant, exp, _ := strings.Cut(s, "e")
	e, _ := strconv.Atoi(exp)
	digits := 0
	if _, frac, ok := strings.Cut(mant, "."); ok {
		digits = len(strings.TrimRight(frac, "0"))
	}
	if p := digits - e; p > 0 {
		return p
	}
	return 0
}

// decodeResult decodes main's JSON result. It must be an object; its
// top-level keys are returned in order.
func decodeResult(data []byte) (keys []string, m map[string]any, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, execError("Failed to parse result: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		v := any(tok)
		if ok { // '[': no other delimiter starts a value
			v = []any{}
		}
		return nil, nil, execError("Result must be a dict, got %s", py.TypeName(v))
	}
	m = map[string]any{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, nil, execError("Failed to parse result: %v", err)
		}
		k := kt.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, nil, execError("Failed to parse result: %v", err)
		}
		if _, dup := m[k]; !dup {
			keys = append(keys, k)
		}
		m[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, execError("Failed to parse result: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, execError("Failed to parse result: trailing data")
	}
	return keys, m, nil
}

func execError(format string, args ...any) error {
	return &run.NodeError{Type: TypeExecution, Err: fmt.Errorf(format, args...)}
}
