package docextract

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/flowrun/flowrun/internal/py"
)

// naValues are pandas' default NA strings (STR_NA_VALUES).
var naValues = map[string]bool{}

func init() {
	for _, s := range []string{"-1.#IND", "1.#QNAN", "1.#IND", "-1.#QNAN", "#N/A N/A", "#N/A", "N/A", "n/a",
		"NA", "<NA>", "#NA", "NULL", "null", "NaN", "-NaN", "nan", "-nan", "None", ""} {
		naValues[s] = true
	}
}

// column dtypes, as pandas infers them.
type dtype int

const (
	dtObject dtype = iota
	dtInt
	dtFloat
	dtBool
)

// frame writes a sheet's rows as Dify's _construct_markdown_table writes
// the DataFrame pandas makes of them: the python parser drops lines of
// at most one blank cell; the first row names the columns ("Unnamed: i"
// for a blank one, ".1" suffixes for repeats); each column's values are
// inferred as pandas does (NA strings and blanks are NaN, numbers with a
// NaN or a float make a float column, any text an object column);
// all-NaN rows are dropped; multi-line text is joined with spaces; and
// each row is printed as iterrows gives it, upcast to the columns'
// common type (so an int column next to a float one prints 1.0).
func frame(rows [][]any) string {
	kept := rows[:0:0]
	for _, r := range rows {
		if len(r) > 1 || len(r) == 1 && !blankCell(r[0]) {
			kept = append(kept, r)
		}
	}
	if len(kept) == 0 {
		return "|  |\n|  |"
	}
	names := columnNames(kept[0])
	data := kept[1:]
	types := make([]dtype, len(names))
	cols := make([][]any, len(names))
	for j := range names {
		col := make([]any, len(data))
		for i, r := range data {
			if j < len(r) {
				col[i] = r[j]
			} else {
				col[i] = ""
			}
		}
		types[j], cols[j] = inferColumn(col)
	}
	row := commonType(types)
	var b strings.Builder
	b.WriteString("| " + strings.Join(names, " | ") + " |\n| ")
	for j, n := range names {
		if j > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(strings.Repeat("-", utf8.RuneCountInString(n)))
	}
	b.WriteString(" |")
	for i := range data {
		allNaN := true
		for j := range names {
			if !isNaN(cols[j][i]) {
				allNaN = false
			}
		}
		if allNaN {
			continue
		}
		b.WriteString("\n| ")
		for j := range names {
			if j > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(cellString(cols[j][i], row))
		}
		b.WriteString(" |")
	}
	return b.String()
}

func blankCell(v any) bool {
	s, ok := v.(string)
	return ok && strings.TrimSpace(s) == ""
}

func isNaN(v any) bool {
	f, ok := v.(float64)
	return ok && math.IsNaN(f)
}

func columnNames(header []any) []string {
	names := make([]string, len(header))
	counts := map[string]int{}
	for i, v := range header {
		n := "Unnamed: " + strconv.Itoa(i)
		if s, ok := v.(string); !ok || s != "" {
			n = pyValueString(v)
		}
		for c := counts[n]; c > 0; c = counts[n] {
			counts[n] = c + 1
			n += "." + strconv.Itoa(c)
		}
		counts[n]++
		names[i] = strings.Join(splitLines(n), " ")
	}
	return names
}

// inferColumn converts a column's cells as pandas' python parser does.
func inferColumn(col []any) (dtype, []any) {
	var nan, flt, integer, other bool
	num := make([]any, len(col))
	for i, v := range col {
		switch x := v.(type) {
		case string:
			if naValues[x] {
				num[i] = math.NaN()
				nan = true
				continue
			}
			if n, ok := numericString(x); ok {
				num[i] = n
				if _, isInt := n.(int64); isInt {
					integer = true
				} else {
					flt = true
				}
				continue
			}
			other = true
		case float64:
			num[i] = x
			if math.IsNaN(x) {
				nan = true
			} else {
				flt = true
			}
		case int64:
			num[i], integer = x, true
		case bool:
			num[i] = x
		default:
			other = true
		}
	}
	if other || len(col) == 0 {
		out := make([]any, len(col))
		for i, v := range col {
			if s, ok := v.(string); ok && naValues[s] {
				out[i] = math.NaN()
				continue
			}
			if s, ok := v.(string); ok {
				v = strings.Join(splitLines(s), " ")
			}
			out[i] = v
		}
		return dtObject, out
	}
	switch {
	case flt || nan:
		for i, v := range num {
			num[i] = toFloat(v)
		}
		return dtFloat, num
	case integer:
		for i, v := range num {
			if b, ok := v.(bool); ok {
				num[i] = int64(map[bool]int{true: 1}[b])
			}
		}
		return dtInt, num
	}
	return dtBool, num // only booleans
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case bool:
		if x {
			return 1
		}
		return 0
	case float64:
		return x
	}
	return math.NaN()
}

// numericString parses text that pandas' maybe_convert_numeric takes
// for a number.
func numericString(s string) (any, bool) {
	t := strings.TrimSpace(s)
	if t == "" {
		return nil, false
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return n, true
	}
	if strings.ContainsAny(t, "_xXpP") {
		return nil, false
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil {
		return f, true
	}
	return nil, false
}

func commonType(ts []dtype) dtype {
	if len(ts) == 0 {
		return dtObject
	}
	out := ts[0]
	for _, t := range ts[1:] {
		switch {
		case t == out:
		case (t == dtInt || t == dtFloat) && (out == dtInt || out == dtFloat):
			out = dtFloat
		default:
			return dtObject
		}
	}
	return out
}

// cellString is str() of a value of a row of dtype row.
func cellString(v any, row dtype) string {
	if row == dtFloat {
		return py.Float(toFloat(v))
	}
	return pyValueString(v)
}

// pyValueString is Python's str() of a cell value.
func pyValueString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return py.Float(x)
	case bool:
		if x {
			return "True"
		}
		return "False"
	case excelTime:
		if x.timeOnly {
			return x.t.Format("15:04:05") + micros(x)
		}
		return x.t.Format("2006-01-02 15:04:05") + micros(x)
	}
	return ""
}

func micros(x excelTime) string {
	if us := x.t.Nanosecond() / 1000; us != 0 {
		return "." + strconv.Itoa(1000000 + us)[1:]
	}
	return ""
}
