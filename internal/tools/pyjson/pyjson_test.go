package pyjson

import (
	"errors"
	"strings"
	"testing"
)

// The expectations were produced by CPython's json module (3.11; the
// messages are the same in 3.12, which Dify runs).
func TestLoadsErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{``, "Expecting value: line 1 column 1 (char 0)"},
		{` `, "Expecting value: line 1 column 2 (char 1)"},
		{`{"a":1,}`, "Expecting property name enclosed in double quotes: line 1 column 8 (char 7)"},
		{`[1,]`, "Expecting value: line 1 column 4 (char 3)"},
		{`{"a" 1}`, "Expecting ':' delimiter: line 1 column 6 (char 5)"},
		{`{"a":1 "b":2}`, "Expecting ',' delimiter: line 1 column 8 (char 7)"},
		{`[1 2]`, "Expecting ',' delimiter: line 1 column 4 (char 3)"},
		{`"abc`, "Unterminated string starting at: line 1 column 1 (char 0)"},
		{`"a\x"`, `Invalid \escape: line 1 column 3 (char 2)`},
		{`"\u12"`, `Invalid \uXXXX escape: line 1 column 3 (char 2)`},
		{`"\u12zz"`, `Invalid \uXXXX escape: line 1 column 3 (char 2)`},
		{`"\u0041`, `Invalid \uXXXX escape: line 1 column 3 (char 2)`},
		{`01`, "Extra data: line 1 column 2 (char 1)"},
		{`1.`, "Extra data: line 1 column 2 (char 1)"},
		{`-`, "Expecting value: line 1 column 1 (char 0)"},
		{`[-]`, "Expecting value: line 1 column 2 (char 1)"},
		{`nul`, "Expecting value: line 1 column 1 (char 0)"},
		{`{"a":1}x`, "Extra data: line 1 column 8 (char 7)"},
		{"\ufeff{}", "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"},
		{"\"a\nb\"", "Invalid control character at: line 1 column 3 (char 2)"},
		{"{\n \"a\": [1,\n  2,\n  x]}", "Expecting value: line 4 column 3 (char 19)"},
		{`{"é": tru}`, "Expecting value: line 1 column 7 (char 6)"},
		{`[1,2`, "Expecting ',' delimiter: line 1 column 5 (char 4)"},
		{`{"a":`, "Expecting value: line 1 column 6 (char 5)"},
	} {
		_, err := Loads(c.in)
		if err == nil || err.Error() != c.want {
			t.Errorf("Loads(%q) error = %v, want %q", c.in, err, c.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, ascii, raw string }{
		{`"\ud83d\ude00"`, `"\ud83d\ude00"`, `"😀"`},
		{`1e400`, `Infinity`, `Infinity`},
		{`-0`, `0`, `0`},
		{`12345678901234567890`, `12345678901234567890`, `12345678901234567890`},
		{`-12345678901234567890`, `-12345678901234567890`, `-12345678901234567890`},
		{`1E2`, `100.0`, `100.0`},
		{`{"b":1,"a":2,"b":3}`, `{"b": 3, "a": 2}`, `{"b": 3, "a": 2}`},
		{`NaN`, `NaN`, `NaN`},
		{`-Infinity`, `-Infinity`, `-Infinity`},
		{`{"x": "é😀\u007f\u0001"}`, `{"x": "\u00e9\ud83d\ude00\u007f\u0001"}`, "{\"x\": \"é😀\x7f\\u0001\"}"},
		{`[1.0, 1e16, 1e-5, 0.1, 1.5e300, 123456789.123, -0.0]`, `[1.0, 1e+16, 1e-05, 0.1, 1.5e+300, 123456789.123, -0.0]`, `[1.0, 1e+16, 1e-05, 0.1, 1.5e+300, 123456789.123, -0.0]`},
		{` {"a" : [ ] , "b":{}} `, `{"a": [], "b": {}}`, `{"a": [], "b": {}}`},
		{`"<&>\/"`, `"<&>/"`, `"<&>/"`},
	} {
		v, err := Loads(c.in)
		if err != nil {
			t.Fatalf("Loads(%q): %v", c.in, err)
		}
		if got := Dumps(v, true); got != c.ascii {
			t.Errorf("Dumps(Loads(%q), ascii) = %s, want %s", c.in, got, c.ascii)
		}
		if got := Dumps(v, false); got != c.raw {
			t.Errorf("Dumps(Loads(%q)) = %s, want %s", c.in, got, c.raw)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	var de *DepthError
	if _, err := Loads(deep); !errors.As(err, &de) || !de.Array {
		t.Fatalf("Loads(too deep) = %v", err)
	}
	ok := strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth)
	if _, err := Loads(ok); err != nil {
		t.Fatalf("Loads(%d deep): %v", MaxDepth, err)
	}
}

func TestObject(t *testing.T) {
	t.Parallel()
	o := NewObject()
	o.Set("b", int64(1))
	o.Set("a", []any{NewObject()})
	o.Set("b", int64(2))
	if !o.Delete("b") || o.Delete("b") || o.Len() != 1 {
		t.Fatalf("Delete: keys %v", o.Keys())
	}
	o.Set("b", 2.5)
	if got := Dumps(o, false); got != `{"a": [{}], "b": 2.5}` {
		t.Fatalf("Dumps = %s", got)
	}
	if got := Dumps(Plain(o), false); got != `{"a": [{}], "b": 2.5}` {
		t.Fatalf("Dumps(Plain) = %s", got)
	}
	for v, want := range map[any]string{nil: "None", true: "True", false: "False", 5.0: "5.0", int64(3): "3", "x": "x"} {
		if got := Str(v); got != want {
			t.Errorf("Str(%v) = %q, want %q", v, got, want)
		}
	}
}
