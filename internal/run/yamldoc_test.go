package run

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// yamlV3Value is what the loader used to do: yaml.v3's own decoding,
// normalized.
func yamlV3Value(data []byte) (any, error) {
	var v any
	err := yaml.Unmarshal(data, &v)
	return Normalize(v), err
}

var yamlCases = []string{
	"a: 1\nb: [1, 2.5, -3, 0x1f, 0o17, 1_000, 9223372036854775808, 18446744073709551616]\n",
	"s: 'x'\nq: \"y\\n\"\nn: ~\nm: null\nt: true\nf: False\ne:\nyes: yes\n",
	"lit: |\n  line 1\n  line 2\nfold: >-\n  a\n  b\n",
	"1: int key\n2.5: float key\ntrue: bool key\n",
	"tagged: !!str 123\nflt: !!float 1\nbin: !!binary aGVsbG8=\n",
	"date: 2001-12-14\nts: 2001-12-14t21:59:43.10-05:00\n",
	"base: &b {x: 1, y: [1, 2]}\nuse: *b\nmerged:\n  <<: *b\n  y: own\nmany:\n  <<: [*b, {z: 3, x: 9}]\n",
	"list: &l [a, b]\nagain: *l\nscalar: &s hi\nkey_alias: {*s : v}\n",
	"{\"json\": {\"a\": [1, 2, {\"b\": null}], \"c\": \"d\"}, \"e\": 1.0}",
	"- just\n- a\n- sequence\n",
	"plain scalar",
	"",
	"# only a comment\n",
	"nested: [[[[[[1]]]]]]\nempty_map: {}\nempty_list: []\n",
	"'<<': not a merge\n",
	"~: null key\n",
}

// The decoder with yaml.v3's scalar rules builds what yaml.v3 builds: the
// structure (mappings, merge keys, anchors) is the decoder's own work.
func TestDecodeYAMLMatchesYAMLv3(t *testing.T) {
	t.Parallel()
	docs := append([]string{}, yamlCases...)
	files, _ := filepath.Glob("../../examples/*.yml")
	more, _ := filepath.Glob("testdata/dsl/*/*.yml")
	for _, p := range append(files, more...) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(data))
	}
	for _, doc := range docs {
		want, werr := yamlV3Value([]byte(doc))
		got, gerr := decodeYAMLScalars([]byte(doc), DocLimits{}.withDefaults(), yamlV3Scalars)
		if (werr != nil) != (gerr != nil) {
			t.Errorf("%.60q: error %v, yaml.v3 %v", doc, gerr, werr)
			continue
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%.60q:\ngot  %#v\nwant %#v", doc, got, want)
		}
	}
}

func TestDecodeYAMLErrors(t *testing.T) {
	t.Parallel()
	for doc, want := range map[string]string{
		"a: 1\na: 2\n":          `line 2: mapping key "a" already defined`,
		"1: x\n1.0: y\n":        `line 2: mapping key "1" already defined`,
		"a: &x [1, *x]\n":       `anchor "x" is used inside its own value`,
		"? [a, b]\n: c\n":       "a mapping key must be a scalar",
		"m:\n  <<: 3\n":         "map merge requires map or sequence of maps",
		"a: !!int nope\n":       "cannot decode",
		"a: [1, 2\n":            "did not find expected",
		"a: *undefined\n":       "unknown anchor",
		"\t- tab\n":             "found character that cannot start any token",
		"a: b: c\n":             "mapping values are not allowed",
		"x: !!timestamp nope\n": "cannot decode",
		"k: [&a 1, *a, *a, *b]": "unknown anchor",
	} {
		_, err := decodeYAML([]byte(doc), DocLimits{}.withDefaults())
		if !errors.Is(err, ErrInvalidDSL) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an ErrInvalidDSL containing %q", doc, err, want)
		}
	}
}

// FuzzDecodeYAML checks the linear decoder, with yaml.v3's scalar rules,
// against yaml.v3 on arbitrary input: both fail, or both give the same
// value. Plain scalars are then resolved as PyYAML does, which must never
// fail where yaml.v3 did not, but for what PyYAML refuses.
func FuzzDecodeYAML(f *testing.F) {
	for _, c := range yamlCases {
		f.Add([]byte(c))
	}
	// Small limits keep every input fast: alias expansion is refused past
	// 10,000 nodes.
	lim := DocLimits{MaxYAMLNodes: 10_000}.withDefaults()
	f.Fuzz(func(t *testing.T, data []byte) {
		_, perr := decodeYAML(data, lim)
		got, gerr := decodeYAMLScalars(data, lim, yamlV3Scalars)
		if perr != nil && gerr == nil && !strings.Contains(perr.Error(), "could not") && !strings.Contains(perr.Error(), "invalid literal") {
			t.Fatalf("PyYAML scalar rules failed where yaml.v3's did not: %v", perr)
		}
		if errors.Is(gerr, ErrDocumentTooLarge) {
			return
		}
		want, werr := yamlV3Value(data)
		if werr != nil || gerr != nil {
			if werr == nil && gerr != nil && !strings.Contains(gerr.Error(), "already defined") {
				// Keys that differ in YAML but become the same string
				// are refused here, where yaml.v3 keeps one at random.
				t.Fatalf("decodeYAML failed where yaml.v3 did not: %v", gerr)
			}
			return
		}
		if !reflect.DeepEqual(got, want) && !hasNaN(want) {
			t.Fatalf("got  %#v\nwant %#v", got, want)
		}
	})
}

func hasNaN(v any) bool {
	switch x := v.(type) {
	case float64:
		return x != x
	case []any:
		for _, e := range x {
			if hasNaN(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasNaN(e) {
				return true
			}
		}
	}
	return false
}
