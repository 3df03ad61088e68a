package httpreq

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"io"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/run"
)

func TestSplitLines(t *testing.T) {
	t.Parallel()
	got := splitLines("a\nb\r\nc\rd\u2028e\x0bf\u0085g\n")
	want := []string{"a", "b", "c", "d", "e", "f", "g"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("splitLines = %q", got)
	}
	if got := splitLines(""); len(got) != 0 {
		t.Fatalf("splitLines(\"\") = %q", got)
	}
}

func TestIsFileResponse(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		ct, cd, sample string
		want           bool
	}{
		{"text/plain", "", "hello", false},
		{"text/csv", "", "a,b", false},
		{"text/html", `attachment; filename="x.html"`, "<p>", true},
		{"application/json; charset=utf-8", "", "\x00\x01", false},
		{"application/ld+json", "", "", false},
		{"application/x-yaml", "", "", false},
		{"application/octet-stream", "", "\x00\x01\x02", true},
		{"application/octet-stream", "", `{"a": 1}`, false},
		{"application/pdf", "", "%PDF-1.4 \xff", true},
		{"application/x-unknown", "", "\x00\x01", false},
		{"image/png", "", "\x89PNG", true},
		{"image/x-new-format", "", "", true},
		{"audio/mpeg", "", "", true},
		{"video/mp4", "", "", true},
		{"", "", "", false},
		{"", "inline; filename=report.bin", "", true},
		{"font/woff2", "", "", false},
	} {
		if got := isFileResponse(c.ct, c.cd, []byte(c.sample)); got != c.want {
			t.Errorf("isFileResponse(%q, %q, %q) = %v", c.ct, c.cd, c.sample, got)
		}
	}
}

func TestReadableSize(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{512: "512 bytes", 1536: "1.50 KB", 3 << 20: "3.00 MB"} {
		if got := readableSize(n); got != want {
			t.Errorf("readableSize(%d) = %q", n, got)
		}
	}
}

func TestDecodeContent(t *testing.T) {
	t.Parallel()
	var zl, raw bytes.Buffer
	zw := zlib.NewWriter(&zl)
	_, _ = io.WriteString(zw, "zlib-wrapped")
	_ = zw.Close()
	fw, _ := flate.NewWriter(&raw, flate.DefaultCompression)
	_, _ = io.WriteString(fw, "raw deflate")
	_ = fw.Close()
	for _, c := range []struct {
		enc  string
		in   []byte
		want string
	}{
		{"deflate", zl.Bytes(), "zlib-wrapped"},
		{"deflate", raw.Bytes(), "raw deflate"},
		{"identity", []byte("plain"), "plain"},
		{"br", []byte("left as is"), "left as is"},
		{"gzip", nil, ""},
	} {
		got, err := io.ReadAll(decodeContent(c.enc, bytes.NewReader(c.in)))
		if (err != nil && err != io.EOF) || string(got) != c.want {
			t.Errorf("%s: %q, %v", c.enc, got, err)
		}
	}
}

func TestJSONBody(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`{ "a" : [1, 2] }`:         `{"a":[1,2]}`,
		"{\"s\": \"tab\there\"}":   `{"s":"tab\there"}`,
		`{"q": "esc \" \\ done"}`:  `{"q":"esc \" \\ done"}`,
		`"just a string"`:          `"just a string"`,
		"[\"line\nbreak\", \"x\"]": `["line\nbreak","x"]`,
		`{"a":}`:                   `{"a":""}`,
		`{"a":1} trailing`:         `{"a":1}`,
		`{"a": abc}`:               `{"a":"abc"}`,
		`null`:                     ``,
	} {
		got, err := jsonBody(in)
		if err != nil || string(got) != want {
			t.Errorf("jsonBody(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "  ", `""`, "abc", "}", `NaN`} {
		if got, err := jsonBody(in); err == nil {
			t.Errorf("jsonBody(%q) = %s, want an error", in, got)
		}
	}
}

func TestBodyItemsCoercion(t *testing.T) {
	t.Parallel()
	for _, in := range []any{nil, "", []any{}, false} {
		if items, err := bodyItems(in); err != nil || len(items) != 0 {
			t.Errorf("bodyItems(%v) = %v, %v", in, items, err)
		}
	}
	if items, err := bodyItems("x"); err != nil || len(items) != 1 || items[0].Type != "text" || items[0].Value != "x" {
		t.Errorf("bodyItems(string) = %v, %v", items, err)
	}
	for _, in := range []any{int64(3), map[string]any{}, []any{"not an object"}, []any{map[string]any{"value": int64(1)}}} {
		if _, err := bodyItems(in); err == nil {
			t.Errorf("bodyItems(%v) succeeded", in)
		}
	}
}

func TestPyList(t *testing.T) {
	t.Parallel()
	if got := pyList(run.Selector{"node", "it's"}); got != `['node', 'it\'s']` {
		t.Fatalf("pyList = %s", got)
	}
}

func TestIsTimeout(t *testing.T) {
	t.Parallel()
	if isTimeout(io.EOF) {
		t.Fatal("EOF is not a timeout")
	}
	if !isTimeout(joinErr{[]error{io.EOF, timeoutError{}}}) {
		t.Fatal("a timeout inside a joined error was missed")
	}
}

type timeoutError struct{}

func (timeoutError) Error() string { return "deadline" }
func (timeoutError) Timeout() bool { return true }

type joinErr struct{ errs []error }

func (j joinErr) Error() string   { return "joined" }
func (j joinErr) Unwrap() []error { return j.errs }
