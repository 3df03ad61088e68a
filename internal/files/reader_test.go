package files_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/files"
	"github.com/flowrun/flowrun/internal/nodes/httpreq"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/disk"
)

func guarded(t *testing.T, allow ...string) *http.Client {
	t.Helper()
	dial, err := httpreq.Dialer(httpreq.Config{Allow: allow})
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{DialContext: dial}}
}

func readAll(t *testing.T, r *files.Reader, app string, f map[string]any) (string, error) {
	t.Helper()
	rc, err := r.Open(context.Background(), app, f)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

func TestReader(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, "remote bytes")
		case "/big":
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, strings.Repeat("x", 100))
		case "/stream":
			w.(http.Flusher).Flush() // no Content-Length
			io.WriteString(w, strings.Repeat("x", 100))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	st, err := disk.New(disk.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	if err := st.Put(context.Background(), &repo.Upload{ID: id, AppID: "app-a"}, strings.NewReader("uploaded")); err != nil {
		t.Fatal(err)
	}
	r := files.NewReader(files.ReaderConfig{Store: st, Client: guarded(t, "127.0.0.1"), MaxBytes: 50})
	strict := files.NewReader(files.ReaderConfig{Store: st, Client: guarded(t), MaxBytes: 50})
	local := map[string]any{"transfer_method": "local_file", "related_id": id}
	remote := func(p string) map[string]any {
		return map[string]any{"transfer_method": "remote_url", "remote_url": srv.URL + p}
	}

	tests := []struct {
		name   string
		r      *files.Reader
		app    string
		f      map[string]any
		want   string
		target error
	}{
		{"local file of the app", r, "app-a", local, "uploaded", nil},
		{"by upload_file_id", r, "app-a", map[string]any{"transfer_method": "local_file", "upload_file_id": id}, "uploaded", nil},
		{"another app", r, "app-b", local, "", files.ErrNotFound},
		{"no app", r, "", local, "", files.ErrNotFound},
		{"no id", r, "app-a", map[string]any{"transfer_method": "local_file"}, "", files.ErrInvalid},
		{"remote", r, "app-a", remote("/ok"), "remote bytes", nil},
		{"remote 404", r, "app-a", remote("/missing"), "", files.ErrFetch},
		{"remote over the limit", r, "app-a", remote("/big"), "", files.ErrTooLarge},
		{"remote streamed over the limit", r, "app-a", remote("/stream"), "", files.ErrTooLarge},
		{"private address refused", strict, "app-a", remote("/ok"), "", httpreq.ErrBlocked},
		{"not http", r, "app-a", map[string]any{"transfer_method": "remote_url", "url": "file:///etc/passwd"}, "", files.ErrInvalid},
		{"data URL", r, "", map[string]any{"transfer_method": "tool_file", "url": "data:text/plain;base64,aGk="}, "hi", nil},
		{"data URL over the limit", r, "", map[string]any{"transfer_method": "tool_file", "url": "data:," + strings.Repeat("x", 51)}, "", files.ErrTooLarge},
		{"unknown method", r, "app-a", map[string]any{"transfer_method": "carrier_pigeon"}, "", files.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, tt.r, tt.app, tt.f)
			if tt.target != nil {
				if !errors.Is(err, tt.target) {
					t.Fatalf("err %v, want %v", err, tt.target)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestSigner(t *testing.T) {
	t.Parallel()
	now := time.Unix(1739000000, 0)
	s := files.NewSigner([]byte("k"), 0, func() time.Time { return now })
	u, _ := url.Parse(s.URL("http://h", "app", "id-1"))
	if app, err := s.Verify("id-1", u.Query()); err != nil || app != "app" {
		t.Fatalf("Verify = %q, %v", app, err)
	}
	if _, err := s.Verify("id-2", u.Query()); !errors.Is(err, files.ErrSignature) {
		t.Errorf("another id: %v", err)
	}
	if _, err := files.NewSigner([]byte("other"), 0, func() time.Time { return now }).Verify("id-1", u.Query()); !errors.Is(err, files.ErrSignature) {
		t.Errorf("another key: %v", err)
	}
	now = now.Add(300 * time.Second)
	if _, err := s.Verify("id-1", u.Query()); err != nil {
		t.Errorf("at 300 s: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := s.Verify("id-1", u.Query()); !errors.Is(err, files.ErrSignature) {
		t.Errorf("expired: %v", err)
	}
}

func TestUploadNames(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{"a.PDF": "pdf", ".bashrc": "", "a.tar.gz": "gz", "noext": "", "a.": "", "..a": ""} {
		if got := files.Extension(name); got != want {
			t.Errorf("Extension(%q) = %q, want %q", name, got, want)
		}
	}
	long := strings.Repeat("é", 201) + ".x.txt"
	if got := files.StoredName(long, "txt"); got != strings.Repeat("é", 200)+".txt" {
		t.Errorf("StoredName = %q", got)
	}
	if got := files.ParseBlacklist(" .EXE, bat,,"); len(got) != 2 || got[0] != "exe" || got[1] != "bat" {
		t.Errorf("ParseBlacklist = %q", got)
	}
	l := files.DefaultLimits()
	if l.For("png") != 10<<20 || l.For("mp4") != 100<<20 || l.For("wav") != 50<<20 || l.For("pdf") != 15<<20 || l.Max() != 100<<20 {
		t.Errorf("limits %+v", l)
	}
}
