package docextractor

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/flowrun/flowrun/internal/docextract"
	"github.com/flowrun/flowrun/internal/docextract/fixture"
	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/run/runtest"
	"github.com/flowrun/flowrun/internal/sharedtest"
)

// workers is the package's pool of document workers: this test binary
// started again (see TestMain).
var workers *docextract.Workers

// Limits small enough for the hostile cases to be cheap.
var testLimits = docextract.Limits{MaxText: 1 << 20, MaxEntry: 4 << 20, MaxUnzipped: 8 << 20}

func TestMain(m *testing.M) {
	docextract.WorkerMain()
	// Fill PDFium's compilation cache here, without a deadline: compiling
	// takes seconds (tens under -race) on a machine without the cache,
	// more than a worker's timeout.
	if _, err := docextract.Extract(context.Background(), docextract.KindPDF, fixture.PDF([]string{"warm"}), docextract.Limits{}); err != nil {
		fmt.Fprintln(os.Stderr, "PDFium:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := docextract.NewWorkers(ctx, docextract.WorkerConfig{Workers: 2, MemoryLimit: 512 << 20, Timeout: 30 * time.Second, Limits: testLimits})
	if err == nil {
		err = w.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "document workers:", err)
		os.Exit(1)
	}
	workers = w
	code := m.Run()
	cancel()
	if err := w.Stop(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "document workers:", err)
		code = 1
	}
	// Nothing the tests or the workers started may outlive them.
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		code = 1
	}
	os.Exit(code)
}

// files is an Opener over in-memory bytes, by file name; it records the
// app of each call.
type files struct {
	mu   sync.Mutex
	data map[string][]byte
	apps []string
}

func (f *files) Open(_ context.Context, appID string, file map[string]any) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.apps = append(f.apps, appID)
	b, ok := f.data[file["filename"].(string)]
	if !ok {
		return nil, errors.New("File not found")
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func fileValue(name, ext, mime string) map[string]any {
	return map[string]any{
		"dify_model_identity": "__dify__file__", "id": nil, "tenant_id": "t", "type": "document",
		"transfer_method": "local_file", "remote_url": nil, "related_id": "f-" + name,
		"filename": name, "extension": ext, "mime_type": mime, "size": 1, "url": nil,
	}
}

// harness runs start → document-extractor → end.
type harness struct {
	eng   *run.Engine
	files *files
}

func newHarness(t *testing.T, data map[string][]byte, maxInput int64) *harness {
	t.Helper()
	f := &files{data: data}
	reg := run.NewRegistry()
	if err := Register(reg, Config{Opener: f, Extractor: workers, MaxInputBytes: maxInput}); err != nil {
		t.Fatal(err)
	}
	return &harness{eng: run.New(run.Config{}, reg), files: f}
}

type outcome struct {
	info *run.RunInfo
	node *run.NodeRun
}

// run runs the document with the node's extra data and inputs.
func (h *harness) run(t *testing.T, extra map[string]any, inputs map[string]any) outcome {
	t.Helper()
	data := map[string]any{"type": TypeName, "title": "Doc", "variable_selector": []any{"start", "file"}, "is_array_file": false}
	maps.Copy(data, extra)
	start := sharedtest.Start(sharedtest.Input("file", "file"), sharedtest.Input("files", "file-list"), sharedtest.Input("q", "text-input"))
	doc := sharedtest.Chain("doc-test", start, sharedtest.Node{ID: "doc", Data: data}, sharedtest.End("doc", "text"))
	info, rec := runtest.Run(t, context.Background(), h.eng, runtest.Compile(t, h.eng, doc), run.Params{}, inputs, nil)
	o := outcome{info: info}
	if ns := rec.Nodes(run.EventNodeFinished, "doc"); len(ns) > 0 {
		o.node = ns[len(ns)-1]
	}
	return o
}

var docx = fixture.Docx(fixture.P("Hello ", "docx"))

func TestSingleFile(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string][]byte{"a.docx": docx}, 0)
	o := h.run(t, nil, map[string]any{"file": fileValue("a.docx", ".docx", "")})
	if o.info.Status != run.StatusSucceeded {
		t.Fatalf("run %s: %s", o.info.Status, o.info.Error)
	}
	if got := sharedtest.JSON(t, o.info.Outputs); got != `{"text":"Hello docx"}` {
		t.Errorf("outputs %s", got)
	}
	if got := sharedtest.JSON(t, o.node.Inputs); got != `{"variable_selector":["start","file"]}` {
		t.Errorf("inputs %s", got)
	}
	docs, _ := o.node.ProcessData.Get("documents")
	if l, ok := docs.([]any); !ok || len(l) != 1 || l[0].(map[string]any)["filename"] != "a.docx" {
		t.Errorf("process_data.documents %v", docs)
	}
	if h.files.apps[0] != "app-1" {
		t.Errorf("opened for app %q, want sys.app_id", h.files.apps[0])
	}
}

func TestFileList(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string][]byte{
		"a.txt": []byte("plain"), "b.csv": []byte("x,y\n1,2\n"), "c.pdf": fixture.PDF([]string{"PDF text"}), "d": []byte(`{"k":1}`),
	}, 0)
	list := []any{fileValue("a.txt", ".txt", "text/plain"), fileValue("b.csv", ".csv", "text/csv"),
		fileValue("c.pdf", ".pdf", "application/pdf"), fileValue("d", "", "application/json")}
	o := h.run(t, map[string]any{"variable_selector": []any{"start", "files"}, "is_array_file": true}, map[string]any{"files": list})
	if o.info.Status != run.StatusSucceeded {
		t.Fatalf("run %s: %s", o.info.Status, o.info.Error)
	}
	want := `{"text":["plain","| x | y |\n| - | - |\n| 1 | 2 |\n","PDF text","{\n  \"k\": 1\n}"]}`
	if got := sharedtest.JSON(t, o.info.Outputs); got != want {
		t.Errorf("outputs\n%s\nwant\n%s", got, want)
	}
	// An empty list gives an empty list, as in Dify.
	o = h.run(t, map[string]any{"variable_selector": []any{"start", "files"}}, map[string]any{"files": []any{}})
	if got := sharedtest.JSON(t, o.info.Outputs); o.info.Status != run.StatusSucceeded || got != `{"text":[]}` {
		t.Errorf("empty list: %s %s", o.info.Status, got)
	}
}

// wantFailed checks that the node failed with errType and msg.
func wantFailed(t *testing.T, o outcome, errType, msg string) {
	t.Helper()
	if o.node == nil || o.node.Status != run.StatusFailed || o.info.Status != run.StatusFailed {
		t.Fatalf("node %+v, run %s: want failed", o.node, o.info.Status)
	}
	if o.node.Error != msg || o.node.ErrorType != errType {
		t.Errorf("error %s %q, want %s %q", o.node.ErrorType, o.node.Error, errType, msg)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string][]byte{"a.docx": docx, "bad.pdf": []byte("not a pdf"), "x.exe": {0}}, 0)
	o := h.run(t, map[string]any{"variable_selector": []any{"start", "nofile"}}, nil)
	wantFailed(t, o, "DocumentExtractorError", "File variable not found for selector: ['start', 'nofile']")
	o = h.run(t, map[string]any{"variable_selector": []any{"start", "q"}}, map[string]any{"q": "text"})
	wantFailed(t, o, "DocumentExtractorError", "Variable ['start', 'q'] is not an ArrayFileSegment")
	o = h.run(t, nil, map[string]any{"file": fileValue("x.exe", ".exe", "application/octet-stream")})
	wantFailed(t, o, "UnsupportedFileTypeError", "Unsupported Extension Type: .exe")
	o = h.run(t, nil, map[string]any{"file": fileValue("gone.txt", ".txt", "text/plain")})
	wantFailed(t, o, "FileDownloadError", "Error downloading file: File not found")
	// One bad file fails the whole list.
	list := []any{fileValue("a.docx", ".docx", ""), fileValue("bad.pdf", ".pdf", "application/pdf")}
	o = h.run(t, map[string]any{"variable_selector": []any{"start", "files"}}, map[string]any{"files": list})
	wantFailed(t, o, "TextExtractionError", "Failed to extract text from PDF: Failed to load document (PDFium: Data format error).")
}

func TestErrorStrategy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, 0)
	o := h.run(t, map[string]any{"error_strategy": "default-value",
		"default_value": []any{map[string]any{"key": "text", "type": "string", "value": "fallback"}}},
		map[string]any{"file": fileValue("gone.txt", ".txt", "text/plain")})
	if o.node.Status != run.StatusException || o.info.Status != run.StatusPartialSucceeded {
		t.Fatalf("node %s, run %s: %s", o.node.Status, o.info.Status, o.info.Error)
	}
	if got := sharedtest.JSON(t, o.info.Outputs); got != `{"text":"fallback"}` {
		t.Errorf("outputs %s", got)
	}
}

// zipBomb is a .docx whose document.xml inflates to n bytes (from about
// n/1000 compressed).
func zipBomb(t *testing.T, n int) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("word/document.xml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(`<w:document ` + fixture.WordNS + `><w:body><w:p><w:r><w:t>`)); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("A"), 1<<20)
	for range n >> 20 {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// recursivePDF has a page tree whose node is its own kid, a page whose
// resources are their own font, and an array nested 100 000 deep.
func recursivePDF() []byte {
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	return []byte("%PDF-1.4\n" +
		"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" +
		"2 0 obj << /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >> endobj\n" +
		"3 0 obj << /Type /Page /Parent 2 0 R /Resources 3 0 R /Font 3 0 R /Contents 4 0 R /X " + deep + " >> endobj\n" +
		"4 0 obj << /Length 4 0 R >> stream\nBT ET\nendstream endobj\n" +
		"trailer << /Root 1 0 R /Size 5 >>\n%%EOF\n")
}

// TestHostileFiles: each hostile file fails the node cleanly (or is
// bounded), and the workers go on answering.
func TestHostileFiles(t *testing.T) {
	hugeCSV := bytes.Repeat([]byte("aaaaaaaaaa,bbbbbbbbbb,cccccccccc\n"), 1<<17) // 4.1 MiB
	h := newHarness(t, map[string][]byte{
		"bomb.docx": zipBomb(t, 64<<20), "loop.pdf": recursivePDF(), "huge.csv": hugeCSV, "ok.docx": docx,
		"forged.xls": forgedXLS(), "ok.xls": fixture.XLS([]string{"n"}, fixture.Rec(0x00FD, uint16(0), uint16(0), uint16(0), uint32(0))),
	}, 2<<20)
	startsBefore := workers.Starts()
	cases := []struct {
		name, file, ext, errType, msg string
	}{
		{"zip bomb", "bomb.docx", ".docx", "TextExtractionError",
			"Failed to extract text from DOCX: limit exceeded: word/document.xml decompresses to more than 4194304 bytes"},
		{"huge csv over the input limit", "huge.csv", ".csv", "FileDownloadError",
			"Error downloading file: file too large: the file is larger than 2097152 bytes"},
		{"forged xls", "forged.xls", ".xls", "TextExtractionError",
			"Failed to extract text from Excel file: not a valid OLE2 compound file"},
	}
	for _, c := range cases {
		o := h.run(t, nil, map[string]any{"file": fileValue(c.file, c.ext, "")})
		wantFailed(t, o, c.errType, c.msg)
		if o := h.run(t, nil, map[string]any{"file": fileValue("ok.docx", ".docx", "")}); o.info.Status != run.StatusSucceeded {
			t.Fatalf("after %s: %s %s", c.name, o.info.Status, o.info.Error)
		}
	}
	if o := h.run(t, nil, map[string]any{"file": fileValue("ok.xls", ".xls", "")}); o.info.Status != run.StatusSucceeded {
		t.Fatalf("xls through a worker: %s %s", o.info.Status, o.info.Error)
	}
	// A recursive object graph: PDFium's own bounds end it; the text, if
	// any, is bounded and the run ends.
	o := h.run(t, nil, map[string]any{"file": fileValue("loop.pdf", ".pdf", "")})
	if o.node == nil || (o.node.Status != run.StatusSucceeded && o.node.Status != run.StatusFailed) {
		t.Fatalf("recursive pdf: %+v", o.node)
	}
	if o := h.run(t, nil, map[string]any{"file": fileValue("ok.docx", ".docx", "")}); o.info.Status != run.StatusSucceeded {
		t.Fatalf("after the recursive pdf: %s %s", o.info.Status, o.info.Error)
	}
	// A CSV under the input limit whose text is over the text limit.
	h2 := newHarness(t, map[string][]byte{"huge.csv": hugeCSV}, 8<<20)
	o = h2.run(t, nil, map[string]any{"file": fileValue("huge.csv", ".csv", "")})
	wantFailed(t, o, "TextExtractionError", "Failed to extract text from CSV: limit exceeded: the text is longer than 1048576 bytes")
	if n := workers.Starts() - startsBefore; n != 0 {
		t.Errorf("%d workers were replaced; the limits should have stopped every case first", n)
	}
}

// forgedXLS is an .xls whose workbook stream's sector chain loops on
// itself.
func forgedXLS() []byte {
	b := fixture.XLS([]string{"a"})
	b[512+8] = 2 // the FAT's entry for sector 2 names sector 2
	return b
}
