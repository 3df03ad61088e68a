package run

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/flowrun/flowrun/internal/sharedtest"
)

// Each plain scalar's value under PyYAML 6.0.3's safe_load (the loader of
// Dify's DSL import), printed by PyYAML itself. Timestamps, which PyYAML
// makes dates that Dify cannot store, stay text here.
var pyYAMLCases = []struct {
	in   string
	want any
	err  bool
}{
	{"000568", "000568", false},
	{"1e3", "1e3", false},
	{"1.0e3", "1.0e3", false},
	{"1.0e+3", 1000.0, false},
	{"1.5E-2", 0.015, false},
	{"0o17", "0o17", false},
	{"0777", int64(511), false},
	{"0_7", int64(7), false},
	{"08", "08", false},
	{"09.5", 9.5, false},
	{"1:30", int64(90), false},
	{"-1:30", int64(-90), false},
	{"12:30:45", int64(45045), false},
	{"190:20:30.15", 685230.15, false},
	{"+.5", "+.5", false},
	{".5", 0.5, false},
	{"-0.5", -0.5, false},
	{"1.", 1.0, false},
	{"0.", 0.0, false},
	{"-.inf", math.Inf(-1), false},
	{"+.INF", math.Inf(1), false},
	{".NaN", math.NaN(), false},
	{".nan", math.NaN(), false},
	{"yes", true, false},
	{"No", false, false},
	{"ON", true, false},
	{"off", false, false},
	{"y", "y", false},
	{"n", "n", false},
	{"true", true, false},
	{"True", true, false},
	{"TRUE", true, false},
	{"tRUE", "tRUE", false},
	{"FALSE", false, false},
	{"1_000", int64(1000), false},
	{"1__0", int64(10), false},
	{"0b101", int64(5), false},
	{"-0b11", int64(-3), false},
	{"0x1F", int64(31), false},
	{"-0x_1", int64(-1), false},
	{"+0", int64(0), false},
	{"-0", int64(0), false},
	{"123456789012345678901234", 1.2345678901234569e+23, false},
	{"~", nil, false},
	{"null", nil, false},
	{"Null", nil, false},
	{"NULL", nil, false},
	{"NuLL", "NuLL", false},
	{"2002-12-14", "2002-12-14", false},
	{"2001-12-14t21:59:43.10-05:00", "2001-12-14t21:59:43.10-05:00", false},
	{"2002-1-2", "2002-1-2", false},
	{"abc", "abc", false},
	{"0b_", nil, true},
	{"0x_", nil, true},
	{"._", "._", false},
	{"=", nil, true},
	{"<<", nil, true},
	{"1.2.3", "1.2.3", false},
	{"--1", "--1", false},
	{"0xG", "0xG", false},
	{"12e", "12e", false},
	{"inf", "inf", false},
	{"nan", "nan", false},
	{".inf.", ".inf.", false},
}

func TestResolvePlainAsPyYAML(t *testing.T) {
	t.Parallel()
	for _, c := range pyYAMLCases {
		got, err := resolvePlain(c.in)
		if c.err {
			if err == nil {
				t.Errorf("%q: %#v, want an error", c.in, got)
			}
			continue
		}
		f, isFloat := c.want.(float64)
		if err != nil || !(reflect.DeepEqual(got, c.want) || isFloat && math.IsNaN(f) && got != nil && math.IsNaN(got.(float64))) {
			t.Errorf("%q: %#v, %v; want %#v", c.in, got, err, c.want)
		}
	}
}

// Only plain scalars follow PyYAML's implicit types: quoted and block
// scalars are strings, and tagged ones what their tag says.
func TestDecodeYAMLScalarStyles(t *testing.T) {
	t.Parallel()
	got, err := decodeYAML([]byte("p: 000568\nq: '000568'\nd: \"1e3\"\nb: |\n  yes\nt: !!int 12\ns: !!str yes\nyes: 1\n~: 2\n"), DocLimits{}.withDefaults())
	want := map[string]any{"p": "000568", "q": "000568", "d": "1e3", "b": "yes\n", "t": int64(12), "s": "yes", "true": int64(1), "null": int64(2)}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, %v\nwant %#v", got, err, want)
	}
	if _, err := decodeYAML([]byte("cases:\n- comparison_operator: =\n"), DocLimits{}.withDefaults()); !errors.Is(err, ErrInvalidDSL) {
		t.Fatalf("a plain '=' loads (%v); PyYAML refuses it", err)
	}
}

// A select option such as 000568 is exported unquoted, since PyYAML reads
// it as a string; it is one here too, and an input must match it.
func TestSelectOptionsReadAsPyYAML(t *testing.T) {
	t.Parallel()
	e := New(Config{}, nil)
	wf := mustCompile(t, e, `
app: {mode: workflow, name: t}
workflow:
  graph:
    nodes:
    - data:
        type: start
        title: S
        variables:
        - {variable: code, label: Code, type: select, required: true, options: [000568, 1e3, 0o17, '42']}
      id: s
    - {id: e, data: {type: end, title: E, outputs: [{variable: code, value_selector: [s, code]}]}}
    edges:
    - {id: x, source: s, target: e}
`)
	if got := wf.Inputs[0].Options; !reflect.DeepEqual(got, []string{"000568", "1e3", "0o17", "42"}) {
		t.Fatalf("options %q", got)
	}
	info, _ := runWith(t, context.Background(), e, wf, map[string]any{"code": "000568"})
	if got := sharedtest.JSON(t, info.Outputs); info.Status != StatusSucceeded || got != `{"code":"000568"}` {
		t.Fatalf("status %s, outputs %s", info.Status, got)
	}
}
