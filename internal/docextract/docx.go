package docextract

import (
	"errors"
	"strconv"
	"strings"
)

// docxText is Dify's _extract_text_from_docx on python-docx 1.x: the
// body's paragraphs and tables in document order (other body elements,
// content controls included, are skipped) joined by "\n". A paragraph's
// text is that of its runs and hyperlinks (w:t, tabs as "\t", line and
// carriage breaks as "\n", page breaks as ""); a table with any
// non-blank cell becomes a markdown table ending in "\n": its first row
// as header, a "---" separator per header cell, "\n" in cells as "<br>".
// Rows list a cell once per grid column it spans, and a vertically merged
// cell repeats the cell it continues, as python-docx's row.cells does.
func docxText(data []byte, lim Limits) (string, error) {
	a, err := openArchive(data, lim)
	if err != nil {
		return "", err
	}
	part := "word/document.xml"
	if !a.has(part) {
		return "", errors.New("file is not a Word document: word/document.xml is missing")
	}
	b, err := a.read(part)
	if err != nil {
		return "", err
	}
	root, err := parseXML(b)
	if err != nil {
		return "", err
	}
	doc := root.child("document")
	if doc == nil || doc.child("body") == nil {
		return "", errors.New("word/document.xml has no body")
	}
	var out []string
	for _, k := range doc.child("body").kids {
		switch k.name {
		case "p":
			out = append(out, paraText(k))
		case "tbl":
			if t := docxTable(k); t != "" {
				out = append(out, t)
			}
		}
	}
	return strings.Join(out, "\n"), nil
}

// paraText is python-docx's Paragraph.text.
func paraText(p *xnode) string {
	var b strings.Builder
	for _, k := range p.kids {
		switch k.name {
		case "r":
			runText(&b, k)
		case "hyperlink":
			for _, r := range k.children("r") {
				runText(&b, r)
			}
		}
	}
	return b.String()
}

func runText(b *strings.Builder, r *xnode) {
	for _, k := range r.kids {
		switch k.name {
		case "t":
			b.WriteString(k.innerText())
		case "tab", "ptab":
			b.WriteByte('\t')
		case "cr":
			b.WriteByte('\n')
		case "br":
			if t := k.attr("type"); t == "" || t == "textWrapping" {
				b.WriteByte('\n')
			}
		case "noBreakHyphen":
			b.WriteByte('-')
		}
	}
}

// docxTable returns a table's markdown, "" for a table without text.
func docxTable(t *xnode) string {
	var rows [][]string
	var above []string // the text of the cells of the previous row, by grid column
	for _, tr := range t.children("tr") {
		var cells []string
		var grid []string
		for _, tc := range tr.children("tc") {
			text := cellText(tc)
			span := 1
			if pr := tc.child("tcPr"); pr != nil {
				if gs := pr.child("gridSpan"); gs != nil {
					if n, err := strconv.Atoi(gs.attr("val")); err == nil && n > 1 {
						span = n
					}
				}
				if vm := pr.child("vMerge"); vm != nil && vm.attr("val") != "restart" && len(grid) < len(above) {
					text = above[len(grid)]
				}
			}
			for range span {
				cells = append(cells, text)
				grid = append(grid, text)
			}
		}
		above = grid
		rows = append(rows, cells)
	}
	blank := true
	for _, r := range rows {
		for _, c := range r {
			if pyStrip(c) != "" {
				blank = false
			}
		}
	}
	if blank || len(rows) == 0 {
		return ""
	}
	var b strings.Builder
	br := strings.NewReplacer("\n", "<br>")
	line := func(cells []string) {
		b.WriteString("| ")
		for i, c := range cells {
			if i > 0 {
				b.WriteString(" | ")
			}
			br.WriteString(&b, c)
		}
		b.WriteString(" |\n")
	}
	line(rows[0])
	seps := make([]string, len(rows[0]))
	for i := range seps {
		seps[i] = "---"
	}
	line(seps)
	for _, r := range rows[1:] {
		line(r)
	}
	return b.String()
}

// cellText is python-docx's _Cell.text: its paragraphs joined by "\n".
func cellText(tc *xnode) string {
	ps := tc.children("p")
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = paraText(p)
	}
	return strings.Join(out, "\n")
}
