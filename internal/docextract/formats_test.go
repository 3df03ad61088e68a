package docextract

import (
	"context"
	"errors"
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
	cases := []struct {
		name string
		kind Kind
		in   []byte
		want string
	}{
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
