package docextract

import (
	"bytes"
	"errors"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// excelText is Dify's _extract_text_from_excel: every sheet, in workbook
// order, read as pandas.read_excel reads it (openpyxl for .xlsx, xlrd for
// a legacy .xls, told apart by content as pandas does), then written as
// Dify's markdown table; sheets end with a blank line. An .xlsx sheet
// that fails is skipped, as in Dify; xlrd reads every sheet when it opens
// an .xls, so any error fails the file. See frame for the pandas
// semantics kept.
func excelText(data []byte, lim Limits) (string, error) {
	var sheets []func() ([][]any, error)
	if bytes.HasPrefix(data, cfbMagic) {
		grids, err := xlsSheets(data)
		if err != nil {
			return "", err
		}
		for _, g := range grids {
			sheets = append(sheets, func() ([][]any, error) { return g, nil })
		}
	} else {
		a, err := openArchive(data, lim)
		if err != nil {
			return "", errors.New("Excel file format cannot be determined, you must specify an engine manually.") //nolint:staticcheck // pandas' words
		}
		wb, err := readWorkbook(a)
		if err != nil {
			return "", err
		}
		for _, s := range wb.sheets {
			sheets = append(sheets, func() ([][]any, error) { return wb.readSheet(a, s) })
		}
	}
	var b strings.Builder
	for _, read := range sheets {
		rows, err := read()
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
	sheets  []string // part names, in order
	strings []string
	dates   []bool // by style index: a date number format
	system  dateSystem
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
		wb.system.date1904 = v == "1" || v == "true"
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

// excelTime is a date cell's value: a datetime, or a time of day.
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
	var g grid
	for _, r := range root.all("row") {
		ri, err := strconv.Atoi(r.attr("r"))
		if err != nil || ri < 1 || ri > 1<<20 {
			ri = len(g) + 1
		}
		g.grow(ri - 1)
		for _, c := range r.children("c") {
			col := colIndex(c.attr("r"))
			if col < 0 || col > 1<<14 {
				col = len(g[ri-1])
			}
			g.set(ri-1, col, wb.system.value(wb.cell(c)))
		}
	}
	return g.rows()
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

// cell is an xlsx cell as openpyxl types it.
func (wb *workbook) cell(c *xnode) cell {
	v := ""
	if vn := c.child("v"); vn != nil {
		v = vn.innerText()
	}
	switch c.attr("t") {
	case "s":
		i, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || i < 0 || i >= len(wb.strings) {
			return cell{}
		}
		return cell{kind: kindText, text: wb.strings[i]}
	case "inlineStr":
		if is := c.child("is"); is != nil {
			return cell{kind: kindText, text: richText(is)}
		}
		return cell{}
	case "str":
		return cell{kind: kindText, text: v}
	case "b":
		if v == "1" || v == "true" {
			return cell{kind: kindBool, num: 1}
		}
		return cell{kind: kindBool}
	case "e":
		return cell{kind: kindError}
	case "d":
		if t, err := time.Parse("2006-01-02T15:04:05", strings.TrimSuffix(v, "Z")); err == nil {
			return cell{kind: kindTime, t: excelTime{t: t}}
		}
		return cell{kind: kindText, text: v}
	}
	if v == "" {
		return cell{}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return cell{kind: kindText, text: v}
	}
	s, err := strconv.Atoi(c.attr("s"))
	date := err == nil && s >= 0 && s < len(wb.dates) && wb.dates[s]
	return cell{kind: kindNumber, num: f, date: date}
}
