package builtin

import (
	"context"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/tools"
)

// invoke runs a tool of p and returns its text messages, joined.
func invoke(t testing.TB, p tools.Provider, tool string, args map[string]any) string {
	t.Helper()
	msgs, err := tools.Collect(context.Background(), p, &tools.Call{Tool: tool, Args: args})
	if err != nil {
		t.Fatalf("%s(%v): %v", tool, args, err)
	}
	var b strings.Builder
	for _, m := range msgs {
		if m.Kind != tools.KindText {
			t.Fatalf("%s sent a %s message", tool, m.Kind)
		}
		b.WriteString(m.Text)
	}
	return b.String()
}

// TestJSONProcess replays testdata/json_process.jsonl: each line is
// [tool, arguments, text], the text being what the plugin's own code
// (dify-official-plugins tools/json_process, with jsonpath-ng 1.8.0 on
// CPython) answered for those arguments.
func TestJSONProcess(t *testing.T) {
	t.Parallel()
	p := newJSONProcess(Options{})
	n := replay(t, "testdata/json_process.jsonl", func(tool string, args map[string]any) string { return invoke(t, p, tool, args) })
	if n < 100 {
		t.Fatalf("only %d cases", n)
	}
}

// TestJSONProcessHostile: deep and large documents are answered with an
// error text or a result, never a crash.
func TestJSONProcessHostile(t *testing.T) {
	t.Parallel()
	p := newJSONProcess(Options{})
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	if got := invoke(t, p, "parse", map[string]any{"content": deep, "json_filter": "$"}); got != "maximum recursion depth exceeded while decoding a JSON array from a unicode string" {
		t.Fatalf("deep document: %q", got[:min(len(got), 200)])
	}
	path := "$" + strings.Repeat(".a", 50000)
	if got := invoke(t, p, "parse", map[string]any{"content": `{"a": 1}`, "json_filter": path}); got != "" {
		t.Fatalf("long path: %q", got)
	}
	parens := strings.Repeat("(", 5000) + "a" + strings.Repeat(")", 5000)
	if got := invoke(t, p, "parse", map[string]any{"content": `{"a": 1}`, "json_filter": parens}); !strings.Contains(got, "nested too deeply") {
		t.Fatalf("nested path: %q", got)
	}
	wide := "[" + strings.Repeat("{\"a\": [1, 2, 3]}, ", 20000) + "1]"
	if got := invoke(t, p, "parse", map[string]any{"content": wide, "json_filter": "$..a[*]"}); len(got) < 100000 {
		t.Fatalf("wide document: %d bytes", len(got))
	}
}
