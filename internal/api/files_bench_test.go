package api_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/dbtest"
	"github.com/flowrun/flowrun/internal/files"
	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/disk"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
)

// benchFileSize is the file of the upload benchmarks (8 MiB).
const benchFileSize = 8 << 20

// BenchmarkUpload measures POST /files/upload end to end (multipart
// parsing, checks, streaming into the store) against a raw copy of the
// same bytes into the same store: io.Copy into a file of the upload
// directory, and the PostgreSQL store's Put fed from memory. b.SetBytes
// makes `go test -bench` report MB/s.
func BenchmarkUpload(b *testing.B) {
	content := bytes.Repeat([]byte("0123456789abcdef"), benchFileSize/16)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("file", "bench.pdf")
	w.Write(content)
	mw.WriteField("user", "bench")
	mw.Close()
	form, ct := body.Bytes(), mw.FormDataContentType()

	stores := map[string]func(b *testing.B) repo.FileStore{
		"dir": func(b *testing.B) repo.FileStore {
			s, err := disk.New(disk.Config{Dir: b.TempDir(), MaxBytes: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
		"postgres": func(b *testing.B) repo.FileStore { return reposql.NewFiles(dbtest.Pool(b)) },
	}
	for _, name := range []string{"dir", "postgres"} {
		b.Run(name+"/api", func(b *testing.B) {
			st := stores[name](b)
			bl := setup(b, options{mutate: func(c *api.Config) {
				c.Files = api.Files{Store: st, Limits: files.Limits{File: 1 << 30}}
			}})
			b.SetBytes(benchFileSize)
			b.ResetTimer()
			for b.Loop() {
				req := httptest.NewRequest("POST", "/v1/files/upload", bytes.NewReader(form))
				req.Header.Set("Authorization", "Bearer "+echoKey)
				req.Header.Set("Content-Type", ct)
				rec := httptest.NewRecorder()
				bl.srv.ServeHTTP(rec, req)
				if rec.Code != http.StatusCreated {
					b.Fatalf("upload: %d %s", rec.Code, rec.Body)
				}
			}
		})
		b.Run(name+"/raw", func(b *testing.B) {
			st := stores[name](b)
			dir := b.TempDir()
			b.SetBytes(benchFileSize)
			b.ResetTimer()
			for b.Loop() {
				if name == "dir" {
					f, err := os.Create(filepath.Join(dir, uuid.NewString()))
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.Copy(f, bytes.NewReader(content)); err != nil {
						b.Fatal(err)
					}
					f.Close()
					continue
				}
				u := &repo.Upload{ID: uuid.NewString(), AppID: echoApp, Name: "bench.pdf"}
				if err := st.Put(context.Background(), u, bytes.NewReader(content)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
