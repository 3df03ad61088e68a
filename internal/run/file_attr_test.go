package run

import "testing"

// TestFileAttributes: a File's attributes are variables of selectors and
// {{#…#}} templates; any other key of the File is not.
func TestFileAttributes(t *testing.T) {
	t.Parallel()
	f := map[string]any{
		"dify_model_identity": "__dify__file__", "type": "document", "transfer_method": "local_file",
		"filename": "a.pdf", "extension": ".pdf", "mime_type": "application/pdf", "size": int64(42),
		"related_id": "u-1", "remote_url": "https://signed/a", "url": "https://fresh/a",
	}
	p := NewPool(nil)
	p.Set("start", Vars{{"doc", f}})
	for attr, want := range map[string]any{
		"name": "a.pdf", "type": "document", "extension": ".pdf", "mime_type": "application/pdf",
		"size": int64(42), "transfer_method": "local_file", "related_id": "u-1", "url": "https://signed/a",
	} {
		if got, ok := p.Get(Selector{"start", "doc", attr}); !ok || got != want {
			t.Errorf("%s = %v, %v; want %v", attr, got, ok, want)
		}
	}
	for _, attr := range []string{"filename", "dify_model_identity", "tenant_id"} {
		if _, ok := p.Get(Selector{"start", "doc", attr}); ok {
			t.Errorf("%s is a variable", attr)
		}
	}
	if got := ParseTemplate("{{#start.doc.name#}} ({{#start.doc.size#}} bytes)").Text(p); got != "a.pdf (42 bytes)" {
		t.Errorf("template = %q", got)
	}
}
