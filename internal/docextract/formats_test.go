package docextract

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/docextract/fixture"
)

// The wants below are the texts Dify 1.12 gives: "\n".join of the
// element texts of Unstructured 0.16's partitioners (the latest release
// its pin unstructured~=0.16.1 allows), worked out by hand from their
// code (unstructured/partition/pptx.py, email.py, text.py, epub.py,
// html/) and python-pptx 1.0's.
func TestExtractUnstructured(t *testing.T) {
	at := func(x, y int) []int { return []int{x, y} }
	// partition_pptx: shapes sorted by (top, left): the title
	// placeholder has no offset, nor has its layout one, so it takes the
	// master title's (y=100); the body placeholder (idx 1) takes its
	// layout's (y=2000); the group's shape keeps its own (y=300); the
	// shape at x=-10 is off the slide; the one at x=0 is not (python's
	// `shape.left and ...`); a blank paragraph gives no element; a:br is
	// "\v"; the table's cells are normalised and cut at their first
	// line (HtmlTable drops the <br/> tail); the picture gives nothing.
	// Every slide after the first starts with a PageBreak, text "".
	pptx := fixture.PPTX(
		fixture.Sp(`<p:ph type="title"/>`, nil)+fixture.Sp(`<p:ph idx="1"/>`, at(0, 2000)),
		fixture.Sp(`<p:ph type="title"/>`, at(50, 100))+fixture.Sp(`<p:ph type="body" idx="1"/>`, at(0, 50)),
		fixture.Sp(`<p:ph idx="1"/>`, nil, fixture.AP("Body one"), fixture.AP("  ", "\t"), fixture.AP("line\vtwo"))+
			fixture.Table(at(0, 3000), []string{"H1", " a \nb", ""}, []string{"x \v y", "&lt;&amp;&gt;"})+
			fixture.Sp(`<p:ph type="title"/>`, nil, fixture.AP("Title ", "text"))+
			fixture.Sp("", at(-10, 500), fixture.AP("off the slide"))+
			fixture.Sp("", at(0, 500), fixture.AP("visible"))+
			fixture.Pic(at(0, 0))+
			fixture.Group(at(9000, 9000), fixture.Sp("", at(5, 300), fixture.AP("grouped"))),
		"",
		fixture.Sp("", nil, fixture.AP("  spaced  ")+`<a:p><a:fld id="{1}" type="slidenum"><a:t>7</a:t></a:fld></a:p>`),
	)
	// partition_email prefers the HTML body; partition_html keeps block
	// texts whitespace-normalised, drops a one-character text outside
	// headings and list items (the div's "x") and unknown elements'
	// content (<font>), cleans a bullet ("- dash item"), and reads a
	// table's rows (an empty row leaves two spaces).
	alternative := "From: Ada <ada@example.com>\r\nTo: bob@example.com\r\nSubject: Hi\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nplain version\r\n" +
		"--b1\r\nContent-Type: text/html; charset=\"iso-8859-1\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte("<html><head><title>T</title><style>p{}</style></head><body><h1>Hello</h1>"+
			"<p>First <b>bold</b> para<br>next\tline</p><div>x</div><ul><li>a</li></ul><p>- dash item</p>"+
			"<table><tr><td>a</td><td> b </td></tr><tr></tr><tr><td>c\xe9</td></tr></table><font>gone</font>tail text<pre>  keep  spaces\n</pre></body></html>")) +
		"\r\n--b1--\r\n"
	// partition_text (blank-line grouping: over a tenth of the lines are
	// blank): a paragraph of long lines is joined, short lines are each
	// an element and are also cut at bullets ("well-known"), bullets are
	// cleaned; the attachment is not the body.
	plain := "From: a@example.com\nSubject: x\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\n" +
		"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" +
		"Hi Bob,\n\nThis is the first paragraph of the=\n\nmessage which goes on for a while.\n\n- item one\n- item two\n\nA well-known fact\n\nMerci caf=C3=A9\nAda\n" +
		"--zz\nContent-Type: text/html\nContent-Disposition: attachment; filename=a.html\n\n<p>attached</p>\n--zz--\n"
	cases := []struct {
		name string
		kind Kind
		in   []byte
		want string
	}{
		{"eml html", KindEML, []byte(alternative), "Hello\nFirst bold para next line\na\ndash item\na b  cé\ntail text\n  keep  spaces"},
		{"eml plain", KindEML, []byte(plain), "Hi Bob,\nThis is the first paragraph of the message which goes on for a while.\nitem one\nitem two\nA well\nknown fact\nMerci café\nAda"},
		{"eml no body", KindEML, []byte("Subject: x\nContent-Type: image/png\n\nxx"), ""},
		// partition_html of each spine document in spine order.
		{"epub", KindEPUB, fixture.EPUB("<h1>Chapter 1</h1><p>It was a <em>dark</em>\n night.</p>", "<section><p>The end</p><ul><li>x</li></ul></section>"),
			"Chapter 1\nIt was a dark night.\nThe end\nx"},
		{"pptx", KindPPTX, pptx, "Title text\ngrouped\nvisible\nBody one\nline\vtwo\nH1 a x y <&>\n\n\n  spaced  \n7"},
		{"pptx empty table", KindPPTX, fixture.PPTX("", "", fixture.Table(nil, []string{" ", ""})), ""},
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

// TestZipBombs: a pptx or epub whose entry decompresses past the limits
// fails with the limit, before the bytes are all read.
func TestZipBombs(t *testing.T) {
	lim := Limits{MaxEntry: 1 << 20, MaxUnzipped: 3 << 20}
	bomb := strings.Repeat("A", 2<<20)
	slide := fixture.Sp("", nil, fixture.AP("x"))
	cases := []struct {
		name string
		kind Kind
		in   []byte
		want string
	}{
		{"pptx entry", KindPPTX, fixture.PPTX("", "", slide+"<!--"+bomb+"-->"),
			"Failed to extract text from PPTX: limit exceeded: ppt/slides/slide1.xml decompresses to more than 1048576 bytes"},
		{"pptx total", KindPPTX, fixture.PPTX("", "", slide+"<!--"+bomb[:900<<10]+"-->", slide+"<!--"+bomb[:900<<10]+"-->", slide+"<!--"+bomb[:900<<10]+"-->", slide+"<!--"+bomb[:900<<10]+"-->"),
			"Failed to extract text from PPTX: limit exceeded: the archive decompresses to more than 3145728 bytes"},
		{"epub entry", KindEPUB, fixture.EPUB("<p>x</p><!--" + bomb + "-->"),
			"Failed to extract text from EPUB: limit exceeded: OEBPS/text/ch0.xhtml decompresses to more than 1048576 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Extract(context.Background(), c.kind, c.in, lim)
			if !errors.Is(err, ErrExtraction) || err.Error() != c.want {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestExtractUnstructuredErrors(t *testing.T) {
	cases := []struct {
		name string
		kind Kind
		in   []byte
		want string
	}{
		{"pptx not zip", KindPPTX, []byte("nope"), "Failed to extract text from PPTX: file is not a zip file: zip: not a valid zip file"},
		{"pptx not a presentation", KindPPTX, fixture.Docx(fixture.P("x")), "Failed to extract text from PPTX: file is not a PowerPoint presentation: it has no main document part"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Extract(context.Background(), c.kind, c.in, Limits{})
			var de *Error
			if !errors.As(err, &de) || de.Type != TypeExtraction || err.Error() != c.want {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// TestDeepMultipart: a message whose multiparts nest past the bound
// fails cleanly instead of recursing.
func TestDeepMultipart(t *testing.T) {
	var b strings.Builder
	b.WriteString("Subject: deep\n")
	for i := range 200 {
		b.WriteString("Content-Type: multipart/mixed; boundary=b" + strconv.Itoa(i) + "\n\n--b" + strconv.Itoa(i) + "\n")
	}
	b.WriteString("Content-Type: text/plain\n\nhello\n")
	_, err := Extract(context.Background(), KindEML, []byte(b.String()), Limits{})
	want := "Failed to extract text from EML: the message's multipart parts are nested too deeply"
	if !errors.Is(err, ErrExtraction) || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
	// Within the bound, the innermost text is the body.
	b.Reset()
	b.WriteString("Subject: deep\n")
	for i := range 20 {
		b.WriteString("Content-Type: multipart/mixed; boundary=b" + strconv.Itoa(i) + "\n\n--b" + strconv.Itoa(i) + "\n")
	}
	b.WriteString("Content-Type: text/plain\n\nhello there\n")
	got, err := Extract(context.Background(), KindEML, []byte(b.String()), Limits{})
	if err != nil || got != "hello there" {
		t.Errorf("got %q, %v", got, err)
	}
}
