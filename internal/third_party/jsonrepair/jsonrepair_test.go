package jsonrepair

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// checkAgainst runs the cases of a file of [input, want] pairs, where want
// is what Dify makes of the input — json.dumps(json.loads(repair_json(s),
// strict=False), ensure_ascii=False, separators=(",", ":")) with Python's
// json_repair 0.55.1 — or null where that fails.
func checkAgainst(t *testing.T, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cases [][2]*string
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		got, ok := Repair(*c[0])
		switch {
		case c[1] == nil && ok:
			t.Errorf("%q: %s, want a failure", *c[0], got)
		case c[1] != nil && (!ok || string(got) != *c[1]):
			t.Errorf("%q: %s (ok %v), want %s", *c[0], got, ok, *c[1])
		}
	}
}

// The inputs of json_repair's own test suite (tests/test_*.py at v0.55.1).
func TestRepairAsJSONRepair(t *testing.T) {
	t.Parallel()
	checkAgainst(t, "testdata/suite.json")
}

// Random edits of those inputs (quotes, brackets, escapes, literals,
// comments, code fences inserted, deleted or replaced). Where Python
// recursed until RecursionError, Repair fails too.
func TestRepairMutationsAsJSONRepair(t *testing.T) {
	t.Parallel()
	checkAgainst(t, "testdata/mutations.json")
}

func TestRepairValidJSONIsReencoded(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`{"b": 1e5, "a": [1.0, -0, 10000000000000000.0, 0.00001], "b": "é<>&\u2028"}`: `{"b":"é<>&` + "\u2028" + `","a":[1.0,0,1e+16,1e-05]}`,
		` null `:                         `null`,
		`"x\ty"`:                         `"x\ty"`,
		`123456789012345678901234567890`: `123456789012345678901234567890`,
	} {
		got, ok := Repair(in)
		if !ok || string(got) != want {
			t.Errorf("%q: %s (ok %v), want %s", in, got, ok, want)
		}
	}
	if got, ok := Repair(`""`); ok {
		t.Errorf(`"": %s, want a failure (json_repair returns "" for it)`, got)
	}
}

// Inputs on which json_repair's look-ahead rescans the rest of the text at
// every character take milliseconds, not minutes; deep nesting fails
// instead of exhausting the stack.
func TestRepairBounded(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		`{"a": "` + strings.Repeat("x,", 200_000),
		`{"a": ` + strings.Repeat(`x, "b`, 50_000),
		`[` + strings.Repeat(`"a" "b", `, 50_000),
		strings.Repeat(`{"a": "b"} `, 50_000),
	} {
		start := time.Now()
		if _, ok := Repair(s); !ok {
			t.Errorf("%.30q…: failed", s)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%.30q…: %v", s, d)
		}
	}
	if _, ok := Repair(strings.Repeat("[", MaxDepth+1)); ok {
		t.Error("nesting past MaxDepth repaired")
	}
	if _, ok := Repair(strings.Repeat("[", MaxDepth-1)); !ok {
		t.Error("nesting within MaxDepth failed")
	}
}
