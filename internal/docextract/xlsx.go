package docextract

import (
	"errors"
	"math"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// excelText is Dify's _extract_text_from_excel for .xlsx: every sheet, in
// workbook order, read as pandas.read_excel reads it with openpyxl, then
// written as Dify's markdown table; sheets end with a blank line. A sheet
// that fails is skipped, as in Dify. See readSheet and frame for the
// pandas semantics kept. Legacy .xls (BIFF) workbooks are refused.
func excelText(data []byte, lim Limits) (string, error) {
	a, err := openArchive(data, lim)
	if err != nil {
		return "", errors.New("Excel file format cannot be determined, you must specify an engine manually.") //nolint:staticcheck // pandas' words
	}
	wb, err := readWorkbook(a)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, s := range wb.sheets {
		rows, err := wb.readSheet(a, s)
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return "", err
			}
			continue
		}
		b.WriteString(frame(rows))
		b.WriteString("\n\n")
		if int64(b.Len()) > lim.MaxText {
			return "", errTextLimit(lim)
		}
	}
	return b.String(), nil
}

type workbook struct {
	sheets   []string // part names, in order
	strings  []string
	dates    []bool // by style index: a date number format
	date1904 bool
}

func readWorkbook(a *archive) (*workbook, error) {
	part := "xl/workbook.xml"
	b, err := a.read(part)
	if err != nil {
		return nil, err
	}
	root, err := parseXML(b)
	if err != nil {
		return nil, err
	}
	rels, err := a.relationships(part)
	if err != nil {
		return nil, err
	}
	wb := &workbook{}
	if pr := root.all("workbookPr"); len(pr) > 0 {
		v := pr[0].attr("date1904")
		wb.date1904 = v == "1" || v == "true"
	}
	for _, s := range root.all("sheet") {
		if target, ok := rels[s.attr("id")]; ok {
			wb.sheets = append(wb.sheets, target)
		}
	}
	if a.has("xl/sharedStrings.xml") {
		b, err := a.read("xl/sharedStrings.xml")
		if err != nil {
			return nil, err
		}
		root, err := parseXML(b)
		if err != nil {
			return nil, err
		}
		for _, si := range root.all("si") {
			wb.strings = append(wb.strings, richText(si))
		}
	}
	if a.has("xl/styles.xml") {
		b, err := a.read("xl/styles.xml")
		if err != nil {
			return nil, err
		}
		root, err := parseXML(b)
		if err != nil {
			return nil, err
		}
		custom := map[string]string{}
		for _, f := range root.all("numFmt") {
			custom[f.attr("numFmtId")] = f.attr("formatCode")
		}
		if xfs := root.all("cellXfs"); len(xfs) > 0 {
			for _, xf := range xfs[0].children("xf") {
				wb.dates = append(wb.dates, isDateFormat(xf.attr("numFmtId"), custom))
			}
		}
	}
	return wb, nil
}

// richText is a string item's text without its phonetic runs.
func richText(si *xnode) string {
	var b strings.Builder
	for _, k := range si.kids {
		switch k.name {
		case "t":
			b.WriteString(k.innerText())
		case "r":
			for _, t := range k.children("t") {
				b.WriteString(t.innerText())
			}
		}
	}
	return b.String()
}

var dateChars = regexp.MustCompile(`(?i)[dmyhs]`)
var fmtNoise = regexp.MustCompile(`"[^"]*"|\\.|\[[^\]]*\]`)

// isDateFormat is openpyxl's is_date_format for a number format id.
func isDateFormat(id string, custom map[string]string) bool {
	n, _ := strconv.Atoi(id)
	if f, ok := custom[id]; ok && n >= 164 {
		return dateChars.MatchString(fmtNoise.ReplaceAllString(f, ""))
	}
	return n >= 14 && n <= 22 || n >= 45 && n <= 47
}

// cell values as pandas' openpyxl reader converts them: "" for an empty
// cell, int64 for whole numbers, float64, bool, string, time.Time for
// dates, nan for errors.
type excelTime struct {
	t        time.Time
	timeOnly bool
}

func (wb *workbook) readSheet(a *archive, part string) ([][]any, error) {
	b, err := a.read(strings.TrimPrefix(path.Clean(part), "/"))
	if err != nil {
		return nil, err
	}
	root, err := parseXML(b)
	if err != nil {
		return nil, err
	}
	var rows [][]any
	for _, r := range root.all("row") {
		ri, err := strconv.Atoi(r.attr("r"))
		if err != nil || ri < 1 || ri > 1<<20 {
			ri = len(rows) + 1
		}
		for len(rows) < ri {
			rows = append(rows, nil)
		}
		row := rows[ri-1]
		for _, c := range r.children("c") {
			col := colIndex(c.attr("r"))
			if col < 0 || col > 1<<14 {
				col = len(row)
			}
			for len(row) <= col {
				row = append(row, "")
			}
			row[col] = wb.cellValue(c)
		}
		for len(row) > 0 && row[len(row)-1] == "" {
			row = row[:len(row)-1]
		}
		rows[ri-1] = row
	}
	last := -1
	width := 0
	for i, r := range rows {
		if len(r) > 0 {
			last = i
		}
		width = max(width, len(r))
	}
	rows = rows[:last+1]
	for i := range rows {
		for len(rows[i]) < width {
			rows[i] = append(rows[i], "")
		}
	}
	return rows, nil
}

// colIndex is the 0-based column of a cell reference ("C7" → 2).
func colIndex(ref string) int {
	n := 0
	i := 0
	for ; i < len(ref) && ref[i] >= 'A' && ref[i] <= 'Z'; i++ {
		n = n*26 + int(ref[i]-'A'+1)
	}
	if i == 0 {
		return -1
	}
	return n - 1
}

func (wb *workbook) cellValue(c *xnode) any {
	v := ""
	if vn := c.child("v"); vn != nil {
		v = vn.innerText()
	}
	switch c.attr("t") {
	case "s":
		i, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || i < 0 || i >= len(wb.strings) {
			return ""
		}
		return wb.strings[i]
	case "inlineStr":
		if is := c.child("is"); is != nil {
			return richText(is)
		}
		return ""
	case "str":
		return v
	case "b":
		return v == "1" || v == "true"
	case "e":
		return math.NaN()
	case "d":
		if t, err := time.Parse("2006-01-02T15:04:05", strings.TrimSuffix(v, "Z")); err == nil {
			return excelTime{t: t}
		}
		return v
	}
	if v == "" {
		return ""
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	if s, err := strconv.Atoi(c.attr("s")); err == nil && s >= 0 && s < len(wb.dates) && wb.dates[s] {
		return wb.excelDate(f)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
		return int64(f)
	}
	return f
}

// excelDate is openpyxl's from_excel: a serial day number to a date and
// time (a time of day alone below 1).
func (wb *workbook) excelDate(f float64) any {
	epoch := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	if wb.date1904 {
		epoch = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
	} else if f < 60 {
		epoch = epoch.AddDate(0, 0, 1) // Excel's 1900-02-29
	}
	days := math.Floor(f)
	ms := math.Round((f - days) * 86400 * 1000)
	t := epoch.AddDate(0, 0, int(days)).Add(time.Duration(ms) * time.Millisecond)
	return excelTime{t: t, timeOnly: f < 1 && !wb.date1904}
}
