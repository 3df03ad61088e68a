package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/dbtest"
)

// fileInfoKey is the example app with a file input (examples/file-info.yml).
const fileInfoKey = "app-flowrun-file-info-local-only"

// uploadTo uploads a small text file to the server at addr with key and
// returns its id.
func uploadTo(t *testing.T, addr, key, name string, content []byte) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("file", name)
	w.Write(content)
	mw.WriteField("user", "u1")
	mw.Close()
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/files/upload", &body)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &m) != nil {
		t.Fatalf("upload: %d %s", resp.StatusCode, raw)
	}
	return m["id"].(string)
}

// runWithFile runs file-info with upload id on addr and returns the status
// code and body.
func runWithFile(t *testing.T, addr, key, id string) (int, string) {
	t.Helper()
	body := fmt.Sprintf(`{"inputs": {"doc": {"transfer_method": "local_file", "upload_file_id": %q, "type": "document"}}, "user": "u1"}`, id)
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/workflows/run", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// get fetches path on addr with key and returns the status and body.
func get(t *testing.T, addr, key, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// TestUploadsAcrossReplicas: in sync and async modes two servers share
// one PostgreSQL; a file uploaded to one is read by a run, a preview and
// a signed URL on the other, and never by another app.
func TestUploadsAcrossReplicas(t *testing.T) {
	for _, mode := range []string{"sync", "async"} {
		t.Run(mode, func(t *testing.T) {
			redisURL := os.Getenv("TEST_REDIS_URL")
			if redisURL == "" {
				t.Fatal("TEST_REDIS_URL is not set: run the tests with scripts/test.sh")
			}
			t.Setenv("APPS_DIR", "../../examples")
			t.Setenv("ADDR", "127.0.0.1:0")
			t.Setenv("WORKFLOW_REPO_MODE", mode)
			t.Setenv("DATABASE_URL", dbtest.SchemaURL(t))
			t.Setenv("MIGRATE_ON_START", "true")
			t.Setenv("REDIS_URL", redisURL)
			t.Setenv("ASYNC_QUEUE", "files-"+uuid.NewString()[:8])
			t.Setenv("ASYNC_SPOOL_DIR", t.TempDir())
			t.Setenv("SECRET_KEY", "shared-by-the-replicas")
			a, b := startMain(t), startMain(t)

			content := bytes.Repeat([]byte("flowrun "), 300000) // 2.4 MB: three chunks
			id := uploadTo(t, a.addr, fileInfoKey, "notes.txt", content)
			status, body := runWithFile(t, b.addr, fileInfoKey, id)
			if status != 200 || !strings.Contains(body, `"outputs": {"name": "notes.txt", "size": 2400000, "type": "document", "extension": ".txt"}`) {
				t.Fatalf("run on the other replica: %d %s", status, body)
			}
			status, got := get(t, b.addr, fileInfoKey, "/v1/files/"+id+"/preview")
			if status != 200 || got != string(content) {
				t.Fatalf("preview on the other replica: %d, %d bytes", status, len(got))
			}
			// Another app reads nothing: not by run, not by preview.
			const other = "app-flowrun-echo-local-only"
			if status, body := get(t, b.addr, other, "/v1/files/"+id+"/preview"); status != 404 || !strings.Contains(body, "file_not_found") {
				t.Fatalf("another app's preview: %d %s", status, body)
			}
			// The signed URL one replica made works on the other.
			var m map[string]any
			var up bytes.Buffer
			mw := multipart.NewWriter(&up)
			w, _ := mw.CreateFormFile("file", "s.txt")
			w.Write([]byte("signed"))
			mw.Close()
			req, _ := http.NewRequest("POST", "http://"+a.addr+"/v1/files/upload", &up)
			req.Header.Set("Authorization", "Bearer "+fileInfoKey)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			json.NewDecoder(resp.Body).Decode(&m)
			resp.Body.Close()
			src := m["source_url"].(string)
			path := src[strings.Index(src, "/files/"):]
			if status, got := get(t, b.addr, "", path); status != 200 || got != "signed" {
				t.Fatalf("signed URL on the other replica: %d %q", status, got)
			}
			a.stop(t)
			b.stop(t)
		})
	}
}
