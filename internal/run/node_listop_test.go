package run

import (
	"errors"
	"strings"
	"testing"
)

const ieListValues = `
words: [apple, banana, cherry, avocado, '']
nums: [5, 3.5, 8, 1, 9, 2]
flags: [true, false, true]
files:
- {filename: a.pdf, extension: .pdf, type: document, size: 500, transfer_method: local_file, mime_type: application/pdf, related_id: f1}
- {filename: b.png, extension: .png, type: image, size: 2000, transfer_method: remote_url, mime_type: image/png, remote_url: 'https://x.test/b.png'}
- {filename: c.png, extension: .png, type: image, size: 10, transfer_method: local_file, mime_type: image/png, related_id: f3, url: 'https://signed.test/c'}
objs: [{a: 1}, {a: 2}]
mixed: [1, a]
obj: {name: bob}
text: hello
blank: ''
zero: 0
none: null
empty: []
idx: 2
pre: a
`

// ieListOp is a list-operator node's data; empty parts take a disabled
// default.
type ieListOp struct {
	variable, filter, extract, order, limit string
}

func (l ieListOp) yaml() string {
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	return "type: list-operator\ntitle: List\n" +
		"variable: " + or(l.variable, "[c, words]") + "\n" +
		"filter_by: " + or(l.filter, "{enabled: false, conditions: []}") + "\n" +
		"extract_by: " + or(l.extract, "{enabled: false, serial: '1'}") + "\n" +
		"order_by: " + or(l.order, "{enabled: false, key: '', value: asc}") + "\n" +
		"limit: " + or(l.limit, "{enabled: false, size: 10}") + "\n"
}

// ieFilter returns an enabled filter_by with the given conditions, each
// a YAML flow mapping.
func ieFilter(conds ...string) string {
	return "{enabled: true, conditions: [" + strings.Join(conds, ", ") + "]}"
}

type ieListCase struct {
	name string
	op   ieListOp
	want []any // result, when err is ""
	err  string
	// inputsKept: Dify records the inputs with the failure (its
	// ListOperatorError family); other errors escape the node.
	inputsKept bool
}

func ieRunListCases(t *testing.T, tests []ieListCase) {
	t.Helper()
	for _, tc := range tests {
		r := ieRun(t, ieDoc(ieListValues, tc.op.yaml()))
		n := r.ieNode(t, "n")
		if tc.err != "" {
			if n.Status != StatusFailed || n.Error != tc.err {
				t.Errorf("%s: %s %q, want failed with %q", tc.name, n.Status, n.Error, tc.err)
			}
			if kept := len(n.Inputs) > 0; kept != tc.inputsKept {
				t.Errorf("%s: inputs = %s, want kept=%v", tc.name, ieJSON(t, n.Inputs), tc.inputsKept)
			}
			continue
		}
		if n.Status != StatusSucceeded {
			t.Errorf("%s: %s %q", tc.name, n.Status, n.Error)
			continue
		}
		var first, last any
		if len(tc.want) > 0 {
			first, last = tc.want[0], tc.want[len(tc.want)-1]
		}
		ieEqual(t, tc.name, n.Outputs, Vars{{"result", tc.want}, {"first_record", first}, {"last_record", last}})
	}
}

func ieStrings(xs ...string) []any { return stringsToAny(xs) }

func TestListOperatorStringFilters(t *testing.T) {
	t.Parallel()
	f := func(op, value string) ieListOp {
		return ieListOp{filter: ieFilter("{key: '', comparison_operator: " + op + ", value: " + value + "}")}
	}
	ieRunListCases(t, []ieListCase{
		{name: "contains", op: f("contains", "an"), want: ieStrings("banana")},
		{name: "not contains", op: f("not contains", "a"), want: ieStrings("cherry", "")},
		{name: "start with", op: f("start with", "a"), want: ieStrings("apple", "avocado")},
		{name: "end with", op: f("end with", "y"), want: ieStrings("cherry")},
		{name: "is", op: f("is", "apple"), want: ieStrings("apple")},
		{name: "is not", op: f("is not", "apple"), want: ieStrings("banana", "cherry", "avocado", "")},
		// The value is a string, so "in" means "is a substring of".
		{name: "in", op: f("in", "'pineapple pie'"), want: ieStrings("apple", "")},
		{name: "not in", op: f("not in", "pineapple"), want: ieStrings("banana", "cherry", "avocado")},
		{name: "empty", op: f("empty", "''"), want: ieStrings("")},
		{name: "not empty", op: f("not empty", "''"), want: ieStrings("apple", "banana", "cherry", "avocado")},
		{name: "no match", op: f("is", "kiwi"), want: []any{}},
		{name: "templated value", op: f("start with", "'{{#c.pre#}}'"), want: ieStrings("apple", "avocado")},
		{name: "default operator is contains", op: ieListOp{filter: ieFilter("{value: err}")}, want: ieStrings("cherry")},
		{name: "conditions apply in turn", op: ieListOp{filter: ieFilter(
			"{comparison_operator: start with, value: a}",
			"{comparison_operator: contains, value: v}",
		)}, want: ieStrings("avocado")},
		{name: "disabled filter", op: ieListOp{filter: "{enabled: false, conditions: [{comparison_operator: is, value: x}]}"},
			want: ieStrings("apple", "banana", "cherry", "avocado", "")},
		{name: "number operator", op: f("'='", "'1'"), err: "Invalid condition: =", inputsKept: true},
		{name: "list value", op: f("in", "[a, b]"), err: "Invalid filter value: ['a', 'b']", inputsKept: true},
		{name: "boolean value", op: f("is", "true"), err: "Invalid filter value: True", inputsKept: true},
	})
}

func TestListOperatorNumberFilters(t *testing.T) {
	t.Parallel()
	f := func(op, value string) ieListOp {
		return ieListOp{variable: "[c, nums]", filter: ieFilter("{comparison_operator: '" + op + "', value: '" + value + "'}")}
	}
	ieRunListCases(t, []ieListCase{
		{name: "=", op: f("=", "8"), want: []any{int64(8)}},
		{name: "= float", op: f("=", "3.5"), want: []any{3.5}},
		{name: "= int as float", op: f("=", "8.0"), want: []any{int64(8)}},
		{name: "≠", op: f("≠", "8"), want: []any{int64(5), 3.5, int64(1), int64(9), int64(2)}},
		{name: "<", op: f("<", "3.5"), want: []any{int64(1), int64(2)}},
		{name: "≤", op: f("≤", "3.5"), want: []any{3.5, int64(1), int64(2)}},
		{name: ">", op: f(">", "5"), want: []any{int64(8), int64(9)}},
		{name: "≥", op: f("≥", "5"), want: []any{int64(5), int64(8), int64(9)}},
		{name: "templated", op: f(">", "{{#c.idx#}}"), want: []any{int64(5), 3.5, int64(8), int64(9)}},
		{name: "not a number", op: f(">", "abc"), err: "could not convert string to float: 'abc'"},
		{name: "string operator", op: f("contains", "1"), err: "Invalid condition: contains", inputsKept: true},
		{name: "ascii operator", op: ieListOp{variable: "[c, nums]", filter: ieFilter("{comparison_operator: is, value: '1'}")}, err: "Invalid condition: is", inputsKept: true},
	})
}

func TestListOperatorBooleanFilters(t *testing.T) {
	t.Parallel()
	ieRunListCases(t, []ieListCase{
		{name: "is", op: ieListOp{variable: "[c, flags]", filter: ieFilter("{comparison_operator: is, value: true}")}, want: []any{true, true}},
		{name: "is not", op: ieListOp{variable: "[c, flags]", filter: ieFilter("{comparison_operator: is not, value: true}")}, want: []any{false}},
		{name: "string value", op: ieListOp{variable: "[c, flags]", filter: ieFilter("{comparison_operator: is, value: 'true'}")},
			err: "Boolean filter expects a boolean value, got <class 'str'>"},
		{name: "other operator", op: ieListOp{variable: "[c, flags]", filter: ieFilter("{comparison_operator: contains, value: false}")},
			err: "Invalid condition: contains", inputsKept: true},
		{name: "order asc", op: ieListOp{variable: "[c, flags]", order: "{enabled: true, value: asc}"}, want: []any{false, true, true}},
		{name: "order desc", op: ieListOp{variable: "[c, flags]", order: "{enabled: true, value: desc}"}, want: []any{true, true, false}},
	})
}

func TestListOperatorFileFilters(t *testing.T) {
	t.Parallel()
	r := ieRun(t, ieDoc(ieListValues, ieListOp{variable: "[c, files]"}.yaml()))
	files := r.ieNode(t, "n").Outputs[0].Value.([]any)
	a, b, c := files[0], files[1], files[2]
	f := func(key, op, value string) ieListOp {
		return ieListOp{variable: "[c, files]", filter: ieFilter("{key: " + key + ", comparison_operator: " + op + ", value: " + value + "}")}
	}
	order := func(key, dir string) ieListOp {
		return ieListOp{variable: "[c, files]", order: "{enabled: true, key: " + key + ", value: " + dir + "}"}
	}
	ieRunListCases(t, []ieListCase{
		{name: "name contains", op: f("name", "contains", "b"), want: []any{b}},
		{name: "name not contains", op: f("name", "not contains", "b"), want: []any{a, c}},
		{name: "extension is", op: f("extension", "is", ".png"), want: []any{b, c}},
		{name: "mime_type start with", op: f("mime_type", "start with", "image/"), want: []any{b, c}},
		{name: "url is the remote url", op: f("url", "contains", "test"), want: []any{b}},
		{name: "type in list", op: f("type", "in", "[image]"), want: []any{b, c}},
		{name: "type in string", op: f("type", "in", "'image or video'"), want: []any{b, c}},
		{name: "type not in", op: f("type", "not in", "[image, video]"), want: []any{a}},
		{name: "transfer_method not in", op: f("transfer_method", "not in", "[local_file]"), want: []any{b}},
		{name: "size >", op: f("size", "'>'", "'100'"), want: []any{a, b}},
		{name: "size ≤", op: f("size", "≤", "'500'"), want: []any{a, c}},
		{name: "two conditions", op: ieListOp{variable: "[c, files]", filter: ieFilter(
			"{key: type, comparison_operator: in, value: [image]}",
			"{key: size, comparison_operator: '<', value: '1000'}",
		)}, want: []any{c}},
		{name: "unknown key", op: f("color", "is", "red"), err: "Invalid key: color", inputsKept: true},
		{name: "list value for a string key", op: f("name", "in", "[a.pdf]"), err: "Invalid key: name", inputsKept: true},
		{name: "type with a string operator", op: f("type", "contains", "[image]"), err: "Invalid condition: contains", inputsKept: true},
		{name: "name with a number operator", op: f("name", "'>'", "a"), err: "Invalid condition: >", inputsKept: true},
		{name: "boolean value", op: f("name", "is", "true"), err: "File filter expects a string value, got <class 'bool'>"},
		{name: "size not a number", op: f("size", "'>'", "big"), err: "could not convert string to float: 'big'"},
		{name: "order by size desc", op: order("size", "desc"), want: []any{b, a, c}},
		{name: "order by name asc", op: order("name", "asc"), want: []any{a, b, c}},
		// Sorting is stable, descending too (Python's sorted(reverse=True)).
		{name: "order by type desc", op: order("type", "desc"), want: []any{b, c, a}},
		{name: "order by extension asc", op: order("extension", "asc"), want: []any{a, b, c}},
		{name: "order by unknown key", op: order("color", "asc"), err: "Invalid order key: color", inputsKept: true},
	})
}

func TestListOperatorExtract(t *testing.T) {
	t.Parallel()
	ex := func(serial string) ieListOp { return ieListOp{extract: "{enabled: true, serial: '" + serial + "'}"} }
	ieRunListCases(t, []ieListCase{
		{name: "second", op: ex("2"), want: ieStrings("banana")},
		{name: "last", op: ex("5"), want: ieStrings("")},
		{name: "templated", op: ex("{{#c.idx#}}"), want: ieStrings("banana")},
		{name: "default serial", op: ieListOp{extract: "{enabled: true}"}, want: ieStrings("apple")},
		{name: "after the filter", op: ieListOp{
			filter:  ieFilter("{comparison_operator: start with, value: a}"),
			extract: "{enabled: true, serial: '2'}",
		}, want: ieStrings("avocado")},
		{name: "zero", op: ex("0"), err: "Invalid serial index: must be >= 1, got 0"},
		{name: "negative", op: ex("-1"), err: "Invalid serial index: must be >= 1, got -1"},
		{name: "past the end", op: ex("9"), err: "Invalid serial index: must be <= 5, got 9", inputsKept: true},
		{name: "not an int", op: ex("x"), err: "invalid literal for int() with base 10: 'x'"},
		{name: "not an int either", op: ex("1.5"), err: "invalid literal for int() with base 10: '1.5'"},
	})
}

func TestListOperatorOrderAndLimit(t *testing.T) {
	t.Parallel()
	ieRunListCases(t, []ieListCase{
		{name: "strings asc", op: ieListOp{order: "{enabled: true, key: '', value: asc}"}, want: ieStrings("", "apple", "avocado", "banana", "cherry")},
		{name: "strings desc", op: ieListOp{order: "{enabled: true, value: desc}"}, want: ieStrings("cherry", "banana", "avocado", "apple", "")},
		{name: "default order is asc", op: ieListOp{order: "{enabled: true}"}, want: ieStrings("", "apple", "avocado", "banana", "cherry")},
		{name: "numbers asc", op: ieListOp{variable: "[c, nums]", order: "{enabled: true, value: asc}"},
			want: []any{int64(1), int64(2), 3.5, int64(5), int64(8), int64(9)}},
		{name: "numbers desc", op: ieListOp{variable: "[c, nums]", order: "{enabled: true, value: desc}"},
			want: []any{int64(9), int64(8), int64(5), 3.5, int64(2), int64(1)}},
		{name: "limit", op: ieListOp{limit: "{enabled: true, size: 2}"}, want: ieStrings("apple", "banana")},
		{name: "limit zero", op: ieListOp{limit: "{enabled: true, size: 0}"}, want: []any{}},
		{name: "limit larger than the list", op: ieListOp{limit: "{enabled: true, size: 100}"}, want: ieStrings("apple", "banana", "cherry", "avocado", "")},
		// Python's xs[:-1] drops the last item; -1 is the default size.
		{name: "limit -1", op: ieListOp{limit: "{enabled: true, size: -1}"}, want: ieStrings("apple", "banana", "cherry", "avocado")},
		{name: "default limit", op: ieListOp{limit: "{enabled: true}"}, want: ieStrings("apple", "banana", "cherry", "avocado")},
		{name: "limit -9", op: ieListOp{limit: "{enabled: true, size: -9}"}, want: []any{}},
		{name: "disabled limit", op: ieListOp{limit: "{enabled: false, size: 1}"}, want: ieStrings("apple", "banana", "cherry", "avocado", "")},
	})
}

func TestListOperatorCombined(t *testing.T) {
	t.Parallel()
	ieRunListCases(t, []ieListCase{
		{name: "filter, order, limit", op: ieListOp{
			variable: "[c, nums]",
			filter:   ieFilter("{comparison_operator: '>', value: '2'}"),
			order:    "{enabled: true, value: desc}",
			limit:    "{enabled: true, size: 2}",
		}, want: []any{int64(9), int64(8)}},
		// Extract runs before order: the first filtered item, not the
		// largest.
		{name: "extract before order", op: ieListOp{
			variable: "[c, nums]",
			filter:   ieFilter("{comparison_operator: '>', value: '2'}"),
			extract:  "{enabled: true, serial: '1'}",
			order:    "{enabled: true, value: desc}",
			limit:    "{enabled: true, size: 5}",
		}, want: []any{int64(5)}},
		// Order runs before limit: the two smallest, not the first two.
		{name: "order before limit", op: ieListOp{
			variable: "[c, nums]",
			order:    "{enabled: true, value: asc}",
			limit:    "{enabled: true, size: 2}",
		}, want: []any{int64(1), int64(2)}},
		{name: "filter to nothing, then order and limit", op: ieListOp{
			filter: ieFilter("{comparison_operator: is, value: kiwi}"),
			order:  "{enabled: true, value: desc}",
			limit:  "{enabled: true, size: 1}",
		}, want: []any{}},
		{name: "filter to nothing, then extract", op: ieListOp{
			filter:  ieFilter("{comparison_operator: is, value: kiwi}"),
			extract: "{enabled: true, serial: '1'}",
		}, err: "Invalid serial index: must be <= 0, got 1", inputsKept: true},
	})
}

func TestListOperatorVariables(t *testing.T) {
	t.Parallel()
	ieRunListCases(t, []ieListCase{
		{name: "empty array", op: ieListOp{variable: "[c, empty]", filter: ieFilter("{comparison_operator: '=', value: '1'}")}, want: []any{}},
		// Any falsy value gives an empty result before the type check.
		{name: "empty string", op: ieListOp{variable: "[c, blank]"}, want: []any{}},
		{name: "zero", op: ieListOp{variable: "[c, zero]"}, want: []any{}},
		{name: "null", op: ieListOp{variable: "[c, none]"}, want: []any{}},
		{name: "missing", op: ieListOp{variable: "[c, nope]"}, err: "Variable not found for selector: ['c', 'nope']"},
		{name: "string", op: ieListOp{variable: "[c, text]"},
			err: "Variable ['c', 'text'] is not an array type, actual type: <class 'core.variables.variables.StringVariable'>"},
		{name: "number", op: ieListOp{variable: "[c, idx]"},
			err: "Variable ['c', 'idx'] is not an array type, actual type: <class 'core.variables.variables.IntegerVariable'>"},
		{name: "object", op: ieListOp{variable: "[c, obj]"},
			err: "Variable ['c', 'obj'] is not an array type, actual type: <class 'core.variables.variables.ObjectVariable'>"},
		{name: "array of objects", op: ieListOp{variable: "[c, objs]"},
			err: "Variable ['c', 'objs'] is not an array type, actual type: <class 'core.variables.variables.ArrayObjectVariable'>"},
		{name: "mixed array", op: ieListOp{variable: "[c, mixed]"},
			err: "Variable ['c', 'mixed'] is not an array type, actual type: <class 'core.variables.variables.ArrayAnyVariable'>"},
		{name: "attribute", op: ieListOp{variable: "[c, obj, name]"},
			err: "Variable ['c', 'obj', 'name'] is not an array type, actual type: <class 'core.variables.segments.StringSegment'>"},
	})

	// Inputs and process_data hold the variable as it came in.
	r := ieRun(t, ieDoc(ieListValues, ieListOp{variable: "[c, nums]", order: "{enabled: true, value: asc}"}.yaml()))
	n := r.ieNode(t, "n")
	ieEqual(t, "inputs", ieJSON(t, n.Inputs), `{"variable":[5,3.5,8,1,9,2]}`)
	ieEqual(t, "process_data", ieJSON(t, n.ProcessData), `{"variable":[5,3.5,8,1,9,2]}`)
	ieEqual(t, "outputs", ieJSON(t, n.Outputs), `{"result":[1,2,3.5,5,8,9],"first_record":1,"last_record":9}`)

	r = ieRun(t, ieDoc(ieListValues, ieListOp{variable: "[c, empty]"}.yaml()))
	n = r.ieNode(t, "n")
	ieEqual(t, "empty inputs", ieJSON(t, n.Inputs), `{"variable":[]}`)
	ieEqual(t, "empty outputs", ieJSON(t, n.Outputs), `{"result":[],"first_record":null,"last_record":null}`)
}

func TestListOperatorLoadValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, node string
		want       []string
	}{
		{"missing sections", "type: list-operator\ntitle: L\nvariable: [c, words]\n",
			[]string{"node n: filter_by is required", "node n: order_by is required", "node n: limit is required"}},
		{"unknown filter operator", ieListOp{filter: ieFilter("{comparison_operator: '!=', value: a}")}.yaml(),
			[]string{`filter_by.conditions[0]: unknown comparison_operator "!="`}},
		{"condition-only operators", ieListOp{filter: ieFilter("{comparison_operator: all of, value: a}", "{comparison_operator: 'null', value: a}")}.yaml(),
			[]string{`filter_by.conditions[0]: unknown comparison_operator "all of"`, `filter_by.conditions[1]: unknown comparison_operator "null"`}},
		{"order value", ieListOp{order: "{enabled: true, value: up}"}.yaml(),
			[]string{`order_by.value must be "asc" or "desc", not "up"`}},
		{"number value", ieListOp{filter: ieFilter("{comparison_operator: '=', value: 3}")}.yaml(),
			[]string{"filter_by.conditions[0]: value must be a string, a list of strings or a boolean, not integer"}},
		{"list of numbers", ieListOp{filter: ieFilter("{comparison_operator: in, value: [1, 2]}")}.yaml(),
			[]string{"filter_by.conditions[0]: value must be a string, a list of strings or a boolean"}},
		{"unknown references", ieListOp{
			variable: "[ghost, x]",
			filter:   ieFilter("{comparison_operator: is, value: '{{#phantom.v#}}'}"),
			extract:  "{enabled: true, serial: '{{#spectre.i#}}'}",
		}.yaml(), []string{`variable: references unknown node "ghost"`, `filter_by.conditions[0].value: references unknown node "phantom"`, `extract_by.serial: references unknown node "spectre"`}},
	}
	for _, tc := range tests {
		_, err := ieEngine().Compile([]byte(ieDoc(ieListValues, tc.node)))
		if !errors.Is(err, ErrInvalidDSL) {
			t.Errorf("%s: err = %v, want ErrInvalidDSL", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.name, err, w)
			}
		}
	}
}

func TestListOperatorErrorType(t *testing.T) {
	t.Parallel()
	n := &listOperatorNode{orderOn: true, orderKey: "color"}
	_, err := n.apply(NewPool(nil), listFile, []any{ieFile("a", ".a", "document", 1)})
	var le *ListOperatorError
	if !errors.As(err, &le) || le.Type != "InvalidKeyError" {
		t.Errorf("err = %#v, want an InvalidKeyError", err)
	}
}
