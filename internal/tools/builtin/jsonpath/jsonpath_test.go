package jsonpath

import (
	"testing"

	"github.com/flowrun/flowrun/internal/tools/pyjson"
)

func doc(t *testing.T, s string) any {
	t.Helper()
	v, err := pyjson.Loads(s)
	if err != nil {
		t.Fatal(err)
	}
	return pyjson.Mutable(v)
}

// TestPrecedence: "|" binds tighter than ".", "." tighter than "..", as in
// jsonpath-ng's grammar.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	d := doc(t, `{"a": {"b": 1, "c": 2}, "c": 3}`)
	for path, want := range map[string]string{
		"a.b|c":  "[1, 2]", // a.(b|c)
		"(a|c)":  `[{"b": 1, "c": 2}, 3]`,
		"$..c":   "[3, 2]", // the top's own match first, then a's
		"a.*":    "[1, 2]",
		"a[*].b": "[1]", // [*] makes a mapping a list of one
		"c[*]":   "[3]",
	} {
		p, err := Parse(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		ms, err := p.Find(d)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		vals := make([]any, len(ms))
		for i, m := range ms {
			vals[i] = m.Value
		}
		if got := pyjson.Dumps(vals, false); got != want {
			t.Errorf("%s = %s, want %s", path, got, want)
		}
	}
}

// TestUpdateListValue: a list value gives each index its first item, as
// jsonpath-ng's Index.update pops it.
func TestUpdateListValue(t *testing.T) {
	t.Parallel()
	d := doc(t, `{"l": [0, 0, 0]}`)
	p, _ := Parse("$.l[*]")
	ms, _ := p.Find(d)
	val := doc(t, `[7, 8]`)
	var err error
	for _, m := range ms {
		if err = m.Update(d, val); err != nil {
			break
		}
	}
	if got := pyjson.Dumps(d, false); got != `{"l": [7, 8, 0]}` || err == nil || err.Error() != "pop from empty list" {
		t.Fatalf("doc %s, error %v", got, err)
	}
	if !Equal(int64(1), true) || !Equal(1.0, int64(1)) || Equal("1", int64(1)) || !Equal(doc(t, `{"a": [1]}`), doc(t, `{"a": [1.0]}`)) {
		t.Fatal("Equal")
	}
}
