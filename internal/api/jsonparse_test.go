package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/run"
)

// reference decodes as the rest of the code base would: encoding/json with
// UseNumber, then run.Normalize.
func reference(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errJSONSyntax
	} else if err.Error() != "EOF" {
		return nil, err
	}
	return run.Normalize(v), nil
}

var jsonSeeds = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1`, `-12`, `1.5`, `1e3`, `1E-3`, `-0.0e+1`,
	`9223372036854775807`, `9223372036854775808`, `-9223372036854775809`, `1e400`, `-1e400`,
	`"a"`, `"\u00e9\n\t\"\\\/"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\ud83d\u0041"`, `"\udc00\ud83d\ude00"`,
	"\"h\xe9llo\"", "\"\xff\xfe\"", `"é😀"`,
	`{"inputs": {"query": "hi", "n": 5, "f": 5.0, "l": [1, "x", null, {"a": []}]}, "user": "u", "response_mode": "streaming"}`,
	`{"a": 1, "a": 2}`, ` { "a" : [ 1 , 2 ] } `,
	// Invalid documents.
	``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[1 2]`, `01`, `1.`, `.5`, `-`, `+1`, `1e`, `tru`, `nul`,
	`"abc`, "\"a\nb\"", `"\x"`, `"\u12"`, `{} {}`, `{"a":1}x`, `[`, `{"a":"b"`, `'a'`, `NaN`,
}

func TestParseJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range jsonSeeds {
		checkParse(t, []byte(s))
	}
	deep := strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1)
	if _, err := parseJSON([]byte(deep)); err == nil {
		t.Error("nesting deeper than maxJSONDepth accepted")
	}
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, data) })
}

func checkParse(t *testing.T, data []byte) {
	t.Helper()
	want, wantErr := reference(data)
	got, err := parseJSON(data)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: parseJSON err %v, encoding/json err %v", data, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: parseJSON %#v, encoding/json %#v", data, got, want)
	}
}
