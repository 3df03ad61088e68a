package code

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/run"
)

// TestTransform checks outputs against declared types with Dify's limits
// and messages (CodeNode._transform_result).
func TestTransform(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 400001) // characters, not bytes
	nums := make([]string, 1001)
	for i := range nums {
		nums[i] = "1"
	}
	strs := `["` + strings.Repeat(`a","`, 30) + `a"]`
	objs := `[` + strings.Repeat(`{},`, 30) + `{}]`
	deep := `{"a":{"b":{"c":{"d":{"e":1}}}}}`
	tests := []struct {
		name    string
		schema  string // outputs as in the DSL (JSON)
		result  string // main's return value (JSON)
		want    string // transformed outputs (JSON), or
		errType string // the error type and
		errMsg  string // message
	}{
		{name: "string", schema: `{"s":{"type":"string"}}`, result: `{"s":"a\u0000b"}`, want: `{"s":"ab"}`},
		{name: "string null", schema: `{"s":{"type":"string"}}`, result: `{"s":null}`, want: `{"s":null}`},
		{name: "string wrong type", schema: `{"s":{"type":"string"}}`, result: `{"s":1}`,
			errType: "OutputValidationError", errMsg: "Output s must be a string, got int instead"},
		{name: "string too long", schema: `{"s":{"type":"string"}}`, result: `{"s":"` + long + `"}`,
			errType: "OutputValidationError", errMsg: "The length of output variable `s` must be less than 400000 characters"},
		{name: "int stays int", schema: `{"n":{"type":"number"}}`, result: `{"n":5}`, want: `{"n":5}`},
		{name: "float stays float", schema: `{"n":{"type":"number"}}`, result: `{"n":5.0}`, want: `{"n":5.0}`},
		{name: "bool to int", schema: `{"n":{"type":"number"}}`, result: `{"n":true}`, want: `{"n":1}`},
		{name: "number wrong type", schema: `{"n":{"type":"number"}}`, result: `{"n":"5"}`,
			errType: "OutputValidationError", errMsg: "Output n is not a number, got <class 'str'> instead."},
		{name: "number too big", schema: `{"n":{"type":"number"}}`, result: `{"n":9223372036854775808}`,
			errType: "OutputValidationError", errMsg: "Output variable `n` is out of range, it must be between -9223372036854775807 and 9223372036854775807."},
		{name: "number too small", schema: `{"n":{"type":"number"}}`, result: `{"n":-9223372036854775808}`,
			errType: "OutputValidationError", errMsg: "Output variable `n` is out of range, it must be between -9223372036854775807 and 9223372036854775807."},
		{name: "float too big", schema: `{"n":{"type":"number"}}`, result: `{"n":9.223372036854776e18}`,
			errType: "OutputValidationError", errMsg: "Output variable `n` is out of range, it must be between -9223372036854775807 and 9223372036854775807."},
		{name: "max int ok", schema: `{"n":{"type":"number"}}`, result: `{"n":9223372036854775807}`, want: `{"n":9223372036854775807}`},
		{name: "precision 20 ok", schema: `{"n":{"type":"number"}}`, result: `{"n":1e-20}`, want: `{"n":1e-20}`},
		{name: "precision too high", schema: `{"n":{"type":"number"}}`, result: `{"n":1.5e-20}`,
			errType: "OutputValidationError", errMsg: "Output variable `n` has too high precision, it must be less than 20 digits."},
		{name: "boolean", schema: `{"b":{"type":"boolean"}}`, result: `{"b":false}`, want: `{"b":false}`},
		{name: "boolean is not type checked (as in Dify)", schema: `{"b":{"type":"boolean"}}`, result: `{"b":"yes"}`, want: `{"b":"yes"}`},
		{name: "object without children", schema: `{"o":{"type":"object"}}`, result: `{"o":{"a":[1,2.5],"b":{"c":"x"},"d":null,"e":true}}`,
			want: `{"o":{"a":[1,2.5],"b":{"c":"x"},"d":null,"e":true}}`},
		{name: "object null", schema: `{"o":{"type":"object"}}`, result: `{"o":null}`, want: `{"o":null}`},
		{name: "object wrong type", schema: `{"o":{"type":"object"}}`, result: `{"o":[1]}`,
			errType: "OutputValidationError", errMsg: "Output o is not an object, got <class 'list'> instead."},
		{name: "object mixed array", schema: `{"o":{"type":"object"}}`, result: `{"o":{"a":[1,"x"]}}`,
			errType: "OutputValidationError", errMsg: "Output .o.a is not a valid array. make sure all elements are of the same type."},
		{name: "object nested string too long", schema: `{"o":{"type":"object"}}`, result: `{"o":{"s":"` + long + `"}}`,
			errType: "OutputValidationError", errMsg: "The length of output variable `.o.s` must be less than 400000 characters"},
		{name: "object children", schema: `{"o":{"type":"object","children":{"n":{"type":"number"},"s":{"type":"string"}}}}`,
			result: `{"o":{"n":1,"s":"x"}}`, want: `{"o":{"n":1,"s":"x"}}`},
		{name: "object child missing", schema: `{"o":{"type":"object","children":{"n":{"type":"number"}}}}`, result: `{"o":{}}`,
			errType: "OutputValidationError", errMsg: "Output .o.n is missing."},
		{name: "object child undeclared", schema: `{"o":{"type":"object","children":{"n":{"type":"number"}}}}`, result: `{"o":{"n":1,"x":2}}`,
			errType: "CodeNodeError", errMsg: "Not all output parameters are validated."},
		{name: "depth limit", schema: `{"o":{"type":"object"}}`, result: `{"o":` + deep + `}`,
			errType: "DepthLimitError", errMsg: "Depth limit 5 reached, object too deep."},
		{name: "depth 5 ok", schema: `{"o":{"type":"object"}}`, result: `{"o":{"a":{"b":{"c":{"d":1}}}}}`, want: `{"o":{"a":{"b":{"c":{"d":1}}}}}`},
		{name: "array[number]", schema: `{"a":{"type":"array[number]"}}`, result: `{"a":[1,2.5,true]}`, want: `{"a":[1,2.5,1]}`},
		{name: "array[number] null", schema: `{"a":{"type":"array[number]"}}`, result: `{"a":null}`, want: `{"a":null}`},
		{name: "array[number] not array", schema: `{"a":{"type":"array[number]"}}`, result: `{"a":"x"}`,
			errType: "OutputValidationError", errMsg: "Output a is not an array, got <class 'str'> instead."},
		{name: "array[number] element", schema: `{"a":{"type":"array[number]"}}`, result: `{"a":[1,"2"]}`,
			errType: "OutputValidationError", errMsg: "The element at index 1 of output variable `a` must be a number."},
		{name: "array[number] too long", schema: `{"a":{"type":"array[number]"}}`, result: `{"a":[` + strings.Join(nums, ",") + `]}`,
			errType: "OutputValidationError", errMsg: "The length of output variable `a` must be less than 1000 elements."},
		{name: "array[number] element range", schema: `{"a":{"type":"array[number]"}}`, result: `{"a":[1e30]}`,
			errType: "OutputValidationError", errMsg: "Output variable `a[0]` is out of range, it must be between -9223372036854775807 and 9223372036854775807."},
		{name: "array[string]", schema: `{"a":{"type":"array[string]"}}`, result: `{"a":["x","y\u0000"]}`, want: `{"a":["x","y"]}`},
		{name: "array[string] too long", schema: `{"a":{"type":"array[string]"}}`, result: `{"a":` + strs + `}`,
			errType: "OutputValidationError", errMsg: "The length of output variable `a` must be less than 30 elements."},
		{name: "array[string] element type", schema: `{"a":{"type":"array[string]"}}`, result: `{"a":[1]}`,
			errType: "OutputValidationError", errMsg: "Output variable `a[0]` must be a string"},
		{name: "array[string] element too long", schema: `{"a":{"type":"array[string]"}}`, result: `{"a":["` + long + `"]}`,
			errType: "OutputValidationError", errMsg: "The length of output variable `a[0]` must be less than 400000 characters"},
		{name: "array[object]", schema: `{"a":{"type":"array[object]"}}`, result: `{"a":[{"x":1},null]}`, want: `{"a":[{"x":1},null]}`},
		{name: "array[object] children", schema: `{"a":{"type":"array[object]","children":{"x":{"type":"string"}}}}`, result: `{"a":[{"x":1}]}`,
			errType: "OutputValidationError", errMsg: "Output a[0].x must be a string, got int instead"},
		{name: "array[object] element", schema: `{"a":{"type":"array[object]"}}`, result: `{"a":[{},"x"]}`,
			errType: "OutputValidationError", errMsg: "Output a[1] is not an object, got <class 'str'> instead at index 1."},
		{name: "array[object] too long", schema: `{"a":{"type":"array[object]"}}`, result: `{"a":` + objs + `}`,
			errType: "OutputValidationError", errMsg: "The length of output variable `a` must be less than 30 elements."},
		{name: "array[boolean]", schema: `{"a":{"type":"array[boolean]"}}`, result: `{"a":[true,null,false]}`, want: `{"a":[true,null,false]}`},
		{name: "array[boolean] element", schema: `{"a":{"type":"array[boolean]"}}`, result: `{"a":[true,1]}`,
			errType: "OutputValidationError", errMsg: "Output a[1] is not a boolean, got <class 'int'> instead."},
		{name: "missing output", schema: `{"a":{"type":"string"},"b":{"type":"string"}}`, result: `{"a":"x"}`,
			errType: "OutputValidationError", errMsg: "Output b is missing."},
		{name: "undeclared output", schema: `{"a":{"type":"string"}}`, result: `{"a":"x","extra":1}`,
			errType: "CodeNodeError", errMsg: "Not all output parameters are validated."},
		{name: "no outputs declared", schema: `{}`, result: `{}`, want: `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var schema map[string]*Output
			if err := json.Unmarshal([]byte(tt.schema), &schema); err != nil {
				t.Fatal(err)
			}
			_, result, err := decodeResult([]byte(tt.result))
			if err != nil {
				t.Fatal(err)
			}
			c := checker{l: Limits{}.withDefaults()}
			out, err := c.transform(result, schema, "", 1)
			if tt.errType != "" {
				if err == nil {
					t.Fatalf("got %v, want %s: %s", out, tt.errType, tt.errMsg)
				}
				if got := errorType(err); got != tt.errType || err.Error() != tt.errMsg {
					t.Fatalf("got %s: %q\nwant %s: %q", got, err.Error(), tt.errType, tt.errMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(run.Normalize(any(out)))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want && !jsonEqualNumbers(t, string(got), tt.want) {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			if strings.Contains(tt.want, "5.0") {
				if f, ok := run.Normalize(any(out)).(map[string]any)["n"].(float64); !ok || f != 5 {
					t.Fatalf("5.0 must stay a float64, got %T", run.Normalize(any(out)).(map[string]any)["n"])
				}
			}
		})
	}
}

// jsonEqualNumbers compares JSON documents whose float spelling may differ
// (Go writes 5.0 as 5).
func jsonEqualNumbers(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}

func TestDecodeResult(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`[1]`:   "Result must be a dict, got list",
		`"x"`:   "Result must be a dict, got str",
		`1`:     "Result must be a dict, got int",
		`1.5`:   "Result must be a dict, got float",
		`null`:  "Result must be a dict, got NoneType",
		`true`:  "Result must be a dict, got bool",
		`{"a":`: "Failed to parse result: unexpected EOF",
	} {
		_, _, err := decodeResult([]byte(in))
		if err == nil || err.Error() != want || errorType(err) != TypeExecution {
			t.Errorf("%s: got %v (%s), want %q", in, err, errorType(err), want)
		}
	}
	keys, _, err := decodeResult([]byte(`{"b":1,"a":2,"c":3}`))
	if err != nil || strings.Join(keys, ",") != "b,a,c" {
		t.Fatalf("keys %v, %v: want the order main returned", keys, err)
	}
}

func TestFloatPrecision(t *testing.T) {
	t.Parallel()
	for f, want := range map[float64]int{0: 0, 1: 0, 100: 0, 0.1: 1, 1.25: 2, 1e-20: 20, 1.5e-10: 11, 1e21: 0, 0.30000000000000004: 17} {
		if got := floatPrecision(f); got != want {
			t.Errorf("floatPrecision(%v) = %d, want %d", f, got, want)
		}
	}
}
