package docextract

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/docextract/fixture"
)

// Each want below is the text Dify 1.12's document_extractor/node.py
// gives for the input, worked out by hand from its code and the Python
// libraries it calls (named in each case); the PDF case was checked
// against PDFium, the engine of pypdfium2.
func TestExtract(t *testing.T) {
	docx := fixture.Docx(
		fixture.P("Title") +
			`<w:p><w:r><w:t>a</w:t><w:tab/><w:t>b</w:t><w:br/><w:t>c</w:t><w:br w:type="page"/></w:r></w:p>` +
			`<w:tbl><w:tr>` + fixture.Cell("", "H1") + fixture.Cell("", "H2", "x") + `</w:tr><w:tr>` + fixture.Cell("", "1") + fixture.Cell("", "2") + `</w:tr></w:tbl>` +
			`<w:tbl><w:tr>` + fixture.Cell("", " ") + `</w:tr></w:tbl>` +
			fixture.P("End") +
			`<w:p><w:hyperlink r:id="rId9"><w:r><w:t>link</w:t></w:r></w:hyperlink><w:ins><w:r><w:t>tracked</w:t></w:r></w:ins></w:p>` +
			`<w:tbl><w:tr>` + fixture.Cell(`<w:tcPr><w:gridSpan w:val="2"/></w:tcPr>`, "wide") + `</w:tr><w:tr>` + fixture.Cell(`<w:tcPr><w:vMerge w:val="restart"/></w:tcPr>`, "top") + fixture.Cell("", "r") + `</w:tr><w:tr>` + fixture.Cell(`<w:tcPr><w:vMerge/></w:tcPr>`) + fixture.Cell("", "s") + `</w:tr></w:tbl>`)
	cases := []struct {
		name string
		kind Kind
		in   []byte
		want string
	}{
		// bytes.decode with the encoding charset_normalizer picks.
		{"utf8", KindText, []byte("<p>héllo</p>\n"), "<p>héllo</p>\n"},
		{"bom kept", KindText, []byte("\ufeffx"), "\ufeffx"},
		{"latin1", KindText, []byte("caf\xe9"), "café"},
		{"cp1252", KindText, []byte("\x93hi\x94 caf\xe9"), "“hi” café"},
		// json.dumps(json.loads(s), indent=2, ensure_ascii=False)
		{"json", KindJSON, []byte(`{"b": 1, "a": [1, 2.50, {"é": null, "x": 1e2}], "c": {}, "d": [], "b": true}`),
			"{\n  \"b\": true,\n  \"a\": [\n    1,\n    2.5,\n    {\n      \"é\": null,\n      \"x\": 100.0\n    }\n  ],\n  \"c\": {},\n  \"d\": []\n}"},
		// yaml.dump_all(yaml.safe_load_all(s), allow_unicode=True, sort_keys=False)
		{"yaml", KindYAML, []byte("name: Widget\ntags: [a, b]\ncount: 010\non: yes\nprice: 1.50\nwhen: 2024-01-02\nnote: \"it's: here\"\nempty: ''\nnested:\n  k: ~\nnum: '12'\nuni: café\n---\n- x\n- - y\n  - z\n- k: v\n  j: 1e3\n  big: 1.0e+20\n"),
			"name: Widget\ntags:\n- a\n- b\ncount: 8\ntrue: true\nprice: 1.5\nwhen: 2024-01-02\nnote: 'it''s: here'\nempty: ''\nnested:\n  k: null\nnum: '12'\nuni: café\n---\n- x\n- - y\n  - z\n- k: v\n  j: 1e3\n  big: 1.0e+20\n"},
		{"yaml scalar", KindYAML, []byte("hello\n"), "hello\n...\n"},
		{"yaml multiline", KindYAML, []byte("a: \"x\\ny\"\nb: \"tab\\there\"\n"), "a: 'x\n\n  y'\nb: \"tab\\there\"\n"},
		{"yaml folded", KindYAML, []byte("k: " + strings.Repeat("word ", 20) + "end\n"),
			"k: " + strings.Repeat("word ", 15) + "word\n  word word word word end\n"},
		{"yaml empty", KindYAML, []byte(""), ""},
		// csv.reader rows as a markdown table.
		{"csv", KindCSV, []byte("name,note\r\nAda,\"multi\nline\"\r\n\r\nBob,\"say \"\"hi\"\"\"\r\n"),
			"| name | note |\n| ---- | ---- |\n| Ada | multi line |\n|  |\n| Bob | say \"hi\" |\n"},
		{"csv empty", KindCSV, []byte(""), ""},
		{"csv ragged", KindCSV, []byte("é,b\n1\n2,3,4"), "| é | b |\n| - | - |\n| 1 |\n| 2 | 3 | 4 |\n"},
		{"properties", KindProperties, []byte("# c\n\nkey = value\nother:thing\nflag\n  ! bang\na=b=c"),
			"# c\n\nkey: value\nother: thing\nflag: \n! bang\na: b=c"},
		// webvtt-py captions merged by speaker, with Dify's quirk for a
		// caption without a voice.
		{"vtt", KindVTT, []byte("\ufeffWEBVTT\n\n1\n00:00:00.000 --> 00:00:01.000\n<v Alice>Hello\n\n00:00:01.000 --> 00:00:02.000\n<v Alice>there\n\n00:00:02.000 --> 00:00:03.000\n<v Bob>Hi <b>Alice</b>\n\n00:00:03.000 --> 00:00:04.000\nPlain\n"),
			"Alice \"Hello there\"\n \"Hi Alice\"\nBob \"Hi Alice\""},
		// python-docx paragraphs and tables in body order.
		{"docx", KindDocx, docx,
			"Title\na\tb\nc\n| H1 | H2<br>x |\n| --- | --- |\n| 1 | 2 |\n\nEnd\nlink\n| wide | wide |\n| --- | --- |\n| top | r |\n| top | s |\n"},
		// pandas.read_excel (openpyxl) per sheet, Dify's markdown table:
		// NA strings and blanks are NaN, an int column with a NaN is
		// float, rows of objects print each value's str(), an all-NaN
		// row is dropped, a date is a Timestamp; in sheet 2 the int
		// column prints as float beside a float column (iterrows).
		{"xlsx", KindExcel, fixture.XLSX([]string{"name", "qty", "Ada", "NA", "a", "b"},
			`<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="D1" t="s"><v>1</v></c></row>`+
				`<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2"><v>3</v></c><c r="C2"><v>1.5</v></c><c r="D2" t="inlineStr"><is><t>x`+"\n"+`y</t></is></c></row>`+
				`<row r="3"/>`+
				`<row r="4"><c r="A4" t="s"><v>3</v></c><c r="B4"><v>4</v></c><c r="D4" t="str"><v>z</v></c></row>`+
				`<row r="5"><c r="A5" t="b"><v>1</v></c><c r="B5"><v>5</v></c><c r="C5"><v>2</v></c><c r="D5" s="1"><v>45000</v></c></row>`,
			`<row r="1"><c r="A1" t="s"><v>4</v></c><c r="B1" t="s"><v>5</v></c></row>`+
				`<row r="2"><c r="A2"><v>1</v></c><c r="B2"><v>2.5</v></c></row><row r="3"><c r="A3"><v>3</v></c><c r="B3"><v>4</v></c></row>`),
			"| name | qty | Unnamed: 2 | qty.1 |\n| ---- | --- | ---------- | ----- |\n| Ada | 3.0 | 1.5 | x y |\n| nan | 4.0 | nan | z |\n| True | 5.0 | 2.0 | 2023-03-15 00:00:00 |\n\n" +
				"| a | b |\n| - | - |\n| 1.0 | 2.5 |\n| 3.0 | 4.0 |\n\n"},
		// pypdfium2: get_text_range of each page, concatenated.
		{"pdf", KindPDF, fixture.PDF([]string{"Hello", "World"}, []string{"Page two"}), "Hello\r\nWorldPage two"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Extract(context.Background(), c.kind, c.in, Limits{})
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if got != c.want {
				t.Errorf("got\n%q\nwant\n%q", got, c.want)
			}
		})
	}
}

func TestExtractErrors(t *testing.T) {
	cases := []struct {
		name string
		kind Kind
		in   []byte
		want string
	}{
		{"json", KindJSON, []byte("{"), "Failed to decode or parse JSON file: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"},
		{"docx not zip", KindDocx, []byte("nope"), "Failed to extract text from DOCX: file is not a zip file: zip: not a valid zip file"},
		{"pdf", KindPDF, []byte("nope"), "Failed to extract text from PDF: Failed to load document (PDFium: Data format error)."},
		{"doc", KindDoc, []byte("x"), "UNSTRUCTURED_API_URL must be set"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Extract(context.Background(), c.kind, c.in, Limits{})
			var de *Error
			if !errors.As(err, &de) || de.Type != TypeExtraction {
				t.Fatalf("err = %#v, want a TextExtractionError", err)
			}
			if err.Error() != c.want {
				t.Errorf("err = %q, want %q", err, c.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		ext, mime string
		want      Kind
		err       string
	}{
		{".md", "", KindText, ""},
		{".vtt", "text/vtt", KindText, ""},
		{"", "text/vtt", KindVTT, ""},
		{".PDF", "application/pdf", "", "Unsupported Extension Type: .PDF"},
		{"", "application/pdf", KindPDF, ""},
		{"", "text/plain; charset=utf-8", "", "Unsupported MIME type: text/plain; charset=utf-8"},
		{"", "", "", "Unable to determine file type: MIME type or file extension is missing"},
		{".yml", "", KindYAML, ""},
	}
	for _, c := range cases {
		k, err := Classify(c.ext, c.mime)
		if c.err != "" {
			if err == nil || err.Error() != c.err || !errors.Is(err, ErrUnsupported) {
				t.Errorf("Classify(%q, %q) = %v, want %q", c.ext, c.mime, err, c.err)
			}
			continue
		}
		if err != nil || k != c.want {
			t.Errorf("Classify(%q, %q) = %q, %v; want %q", c.ext, c.mime, k, err, c.want)
		}
	}
}
