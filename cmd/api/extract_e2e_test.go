package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// extractDSL extracts the text of its file input.
const extractDSL = `
app: {mode: workflow, name: extract}
workflow:
  graph:
    nodes:
    - {id: start, data: {type: start, title: Start, variables: [{variable: doc, label: doc, type: file, required: true, allowed_file_types: [document], allowed_file_upload_methods: [local_file]}]}}
    - {id: ex, data: {type: document-extractor, title: Extract, variable_selector: [start, doc], is_array_file: false}}
    - {id: end, data: {type: end, title: End, outputs: [{variable: text, value_selector: [ex, text], value_type: string}]}}
    edges:
    - {id: e1, source: start, target: ex}
    - {id: e2, source: ex, target: end}
`

// TestUploadThenExtract: through the real server, a CSV uploaded with
// /files/upload is read by a document-extractor node of the same app
// (Dify's markdown table), while another app cannot use the upload id.
func TestUploadThenExtract(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "extract.yml"), []byte(extractDSL), 0o644); err != nil {
		t.Fatal(err)
	}
	index := `apps:
- {id: 9a1f0c3e-5b7d-4e2a-8c6f-0d1e2f3a4b5c, workflow_id: 9a1f0c3e-5b7d-4e2a-8c6f-0d1e2f3a4b5d, file: extract.yml, keys: [app-extract-test]}
- {id: 9a1f0c3e-5b7d-4e2a-8c6f-0d1e2f3a4b6c, workflow_id: 9a1f0c3e-5b7d-4e2a-8c6f-0d1e2f3a4b6d, file: extract.yml, keys: [app-extract-other]}
`
	if err := os.WriteFile(filepath.Join(dir, "apps.yaml"), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("APPS_DIR", dir)
	t.Setenv("ADDR", "127.0.0.1:0")
	t.Setenv("UPLOAD_DIR", t.TempDir())
	svc := startMain(t)
	defer svc.stop(t)

	id := uploadTo(t, svc.addr, "app-extract-test", "people.csv", []byte("name,city\nAda,London\nLinus,Helsinki\n"))
	status, body := runWithFile(t, svc.addr, "app-extract-test", id)
	want := `"text": "| name | city |\n| ---- | ---- |\n| Ada | London |\n| Linus | Helsinki |\n"`
	if status != 200 || !strings.Contains(body, `"status": "succeeded"`) || !strings.Contains(body, want) {
		t.Fatalf("run: %d %s\nwant %s", status, body, want)
	}
	if status, body := runWithFile(t, svc.addr, "app-extract-other", id); status != 400 || !strings.Contains(body, "invalid_param") {
		t.Fatalf("another app's run with the upload: %d %s", status, body)
	}
}
