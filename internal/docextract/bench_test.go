package docextract

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/flowrun/flowrun/internal/docextract/fixture"
)

// TestMain serves as a document worker when Workers started this binary
// as one; otherwise it runs the tests, which fail if any goroutine
// outlives them.
func TestMain(m *testing.M) {
	WorkerMain()
	goleak.VerifyTestMain(m)
}

// benchDocs are documents of about 1 MB each.
func benchDocs() map[Kind][]byte {
	var body strings.Builder
	for i := range 8000 {
		fmt.Fprintf(&body, `<w:p><w:r><w:t>Paragraph %d of the benchmark document, with some words.</w:t></w:r></w:p>`, i)
	}
	var rows strings.Builder
	for i := range 12000 {
		fmt.Fprintf(&rows, `<row r="%d"><c r="A%d" t="s"><v>0</v></c><c r="B%d"><v>%d</v></c><c r="C%d"><v>%d.5</v></c></row>`, i+1, i+1, i+1, i, i+1, i)
	}
	var pages [][]string
	for p := range 120 {
		var lines []string
		for l := range 12 {
			lines = append(lines, fmt.Sprintf("Page %d line %d of the benchmark PDF", p, l))
		}
		pages = append(pages, lines)
	}
	return map[Kind][]byte{
		KindDocx:  fixture.Docx(body.String()),
		KindExcel: fixture.XLSX([]string{"name"}, rows.String()),
		KindPDF:   fixture.PDF(pages...),
	}
}

// BenchmarkExtract reports extraction throughput (MB/s of document) in
// this process, without the worker's round trip.
func BenchmarkExtract(b *testing.B) {
	docs := benchDocs()
	for _, k := range []Kind{KindPDF, KindDocx, KindExcel} {
		b.Run(string(k), func(b *testing.B) {
			data := docs[k]
			if _, err := Extract(context.Background(), k, data, Limits{}); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for b.Loop() {
				if _, err := Extract(context.Background(), k, data, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWorkers is BenchmarkExtract through a document worker: the
// same work plus the copy of the document and text over pipes.
func BenchmarkWorkers(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := NewWorkers(ctx, WorkerConfig{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer w.Stop(context.Background())
	docs := benchDocs()
	for _, k := range []Kind{KindPDF, KindDocx, KindExcel} {
		b.Run(string(k), func(b *testing.B) {
			data := docs[k]
			if _, err := w.Extract(ctx, k, data); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for b.Loop() {
				if _, err := w.Extract(ctx, k, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
