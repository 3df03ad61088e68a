package py

import (
	"math"
	"testing"
)

// The expectations are CPython 3.11's int(s); "" stands for ValueError.
func TestParseInt(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, text string }{
		{"42", "42"},
		{" 1_000 ", "1000"},
		{"+5", "5"},
		{"-7", "-7"},
		{"007", "007"},
		{"\t-0\n", "-0"},
		{"12345678901234567890", "12345678901234567890"},
		{"1e5", ""},
		{"--1", ""},
		{"+_1", ""},
		{"1__0", ""},
		{"_1", ""},
		{"1_", ""},
		{"abc", ""},
		{"0x10", ""},
		{"", ""},
	} {
		text, ok := IntText(c.in)
		if text != c.text || ok != (c.text != "") {
			t.Errorf("IntText(%q) = %q, %v; want %q", c.in, text, ok, c.text)
		}
	}
	if n, ok := ParseInt(" -1_2 "); n != -12 || !ok {
		t.Errorf("ParseInt(-1_2) = %d, %v", n, ok)
	}
	if _, ok := ParseInt("12345678901234567890"); ok {
		t.Error("ParseInt accepted an integer beyond int64")
	}
}

// The expectations are CPython 3.11's float(s).
func TestParseFloat(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want float64
	}{
		{"2.5", 2.5},
		{" 7 ", 7},
		{"5.", 5},
		{".5", 0.5},
		{"-.5e-3", -0.0005},
		{"1_0.5", 10.5},
		{"1e1_0", 1e10},
		{"1.0e400", math.Inf(1)},
		{"INF", math.Inf(1)},
		{"-Infinity", math.Inf(-1)},
	} {
		if got, ok := ParseFloat(c.in); got != c.want || !ok {
			t.Errorf("ParseFloat(%q) = %v, %v; want %v", c.in, got, ok, c.want)
		}
	}
	if got, ok := ParseFloat("-1e-400"); got != 0 || !math.Signbit(got) || !ok {
		t.Errorf("ParseFloat(-1e-400) = %v, %v; want -0.0", got, ok)
	}
	for _, in := range []string{"nan", "+nan", "-NaN"} {
		if got, ok := ParseFloat(in); !math.IsNaN(got) || !ok {
			t.Errorf("ParseFloat(%q) = %v, %v; want nan", in, got, ok)
		}
	}
	for _, in := range []string{"1.2.3", "1._5", "1_e5", "1__0.5", "0x1.p1", "-inf.", "", ".", "e5", "1e", "in_f", "+-1"} {
		if got, ok := ParseFloat(in); ok {
			t.Errorf("ParseFloat(%q) = %v, want ValueError", in, got)
		}
	}
}
