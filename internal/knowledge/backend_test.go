package knowledge_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/flowrun/flowrun/internal/knowledge"
	"github.com/flowrun/flowrun/internal/knowledge/knowledgetest"
	"github.com/flowrun/flowrun/internal/nodes/httpreq"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// registry maps dataset "kb" to an External Knowledge API at url.
func registry(t *testing.T, url string, o knowledge.Options, extra string) *knowledge.Registry {
	t.Helper()
	cfg, err := knowledge.ParseConfig([]byte(fmt.Sprintf("datasets: [{id: kb, kind: external, endpoint: '%s', api_key: key, knowledge_id: k%s}]", url, extra)),
		func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	kr, err := knowledge.New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kr.Close)
	return kr
}

func guard(t *testing.T, allow ...string) func(context.Context, string, string) (net.Conn, error) {
	t.Helper()
	dial, err := httpreq.Dialer(httpreq.Config{Allow: allow})
	if err != nil {
		t.Fatal(err)
	}
	return dial
}

func retrieve(t *testing.T, kr *knowledge.Registry) ([]knowledge.Doc, error) {
	t.Helper()
	ds, err := kr.Lookup("kb")
	if err != nil {
		t.Fatal(err)
	}
	return ds.Retrieve(t.Context(), &knowledge.Request{Query: "q"})
}

// TestSSRFGuard: a backend on a private address is refused by the
// http-request node's guard unless the address is allow-listed.
func TestSSRFGuard(t *testing.T) {
	t.Parallel()
	ext := knowledgetest.NewExternal(t, "key", map[string][]knowledgetest.Record{"k": {{Content: "hello", Score: 0.5}}})
	_, err := retrieve(t, registry(t, ext.URL, knowledge.Options{Dial: guard(t)}, ""))
	if !errors.Is(err, httpreq.ErrBlocked) || !strings.Contains(err.Error(), "127.0.0.1 is a loopback address") {
		t.Fatalf("err = %v", err)
	}
	if len(ext.Requests()) != 0 {
		t.Fatal("the request went out")
	}
	docs, err := retrieve(t, registry(t, ext.URL, knowledge.Options{Dial: guard(t, "127.0.0.1")}, ""))
	if err != nil || len(docs) != 1 || docs[0].Content != "hello" {
		t.Fatalf("allow-listed: %v %+v", err, docs)
	}
}

// TestBounds: a response past the size bound, and a backend that never
// answers, fail the retrieval without waiting on the backend.
func TestBounds(t *testing.T) {
	t.Parallel()
	dial := guard(t, "127.0.0.1")
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"records": [{"content": "%s", "score": 1, "title": "t", "metadata": {}}]}`, strings.Repeat("x", 2048))
	}))
	t.Cleanup(big.Close)
	_, err := retrieve(t, registry(t, big.URL, knowledge.Options{Dial: dial, MaxResponseBytes: 1024}, ""))
	if err == nil || !strings.Contains(err.Error(), "the response exceeds 1024 bytes") {
		t.Fatalf("big: %v", err)
	}
	done := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		// The server notices the client leaving once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(stuck.Close)
	t.Cleanup(func() { close(done) })
	start := time.Now()
	_, err = retrieve(t, registry(t, stuck.URL, knowledge.Options{Dial: dial}, ", timeout: 50ms"))
	if err == nil || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Fatalf("stuck: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the timeout was not applied")
	}
}

// TestHostileRecords: records that are not what the protocol says fail
// the retrieval with a clear error; a null metadata is an empty one.
func TestHostileRecords(t *testing.T) {
	t.Parallel()
	dial := guard(t, "127.0.0.1")
	for body, want := range map[string]string{
		`{"records": [{"content": 5, "score": 1}]}`:                                      "records[0].content is not a string",
		`{"records": [{"content": "x", "score": "high"}]}`:                               "records[0].score is not a number",
		`{"records": {"content": "x"}}`:                                                  `the response is not {"records": [...]}`,
		`{"records": [{"content": "x", "score": null, "title": "t", "metadata": null}]}`: "",
		`{}`: "",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) }))
		docs, err := retrieve(t, registry(t, srv.URL, knowledge.Options{Dial: dial}, ""))
		srv.Close()
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", body, err)
		case want == "" && len(docs) == 1 && docs[0].Metadata == nil:
			t.Errorf("%s: nil metadata", body)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v, want %q", body, err, want)
		}
	}
}
