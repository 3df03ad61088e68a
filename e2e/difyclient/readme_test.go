package difyclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// readmeBase is the address the README's examples use.
const readmeBase = "http://127.0.0.1:5001"

// fence is a fenced code block of the README.
type fence struct{ lang, body string }

// readmeSection returns the fenced blocks of the README section that
// starts with heading, in order.
func readmeSection(t *testing.T, heading string) []fence {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "\n"+heading+"\n")
	if start < 0 {
		t.Fatalf("README has no section %q", heading)
	}
	text = text[start+len(heading)+2:]
	if end := strings.Index(text, "\n## "); end >= 0 {
		text = text[:end]
	}
	var out []fence
	var cur *fence
	var body []string
	for line := range strings.SplitSeq(text, "\n") {
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &fence{lang: strings.TrimPrefix(line, "```")}
			body = nil
		case cur != nil && line == "```":
			cur.body = strings.Join(body, "\n")
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body = append(body, line)
		}
	}
	return out
}

// TestREADME runs every example of the README's "Try it" section against
// the real binary, serving the example apps, and compares each output
// with the one the README shows: the same keys everywhere, and the same
// values but for ids, times and durations.
func TestREADME(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tl := setup(t, ctx)
	srv := start(t, ctx, tl.api, true, "ADDR=127.0.0.1:0", "APPS_DIR=../../examples", "WORKFLOW_REPO_MODE=memory")
	defer srv.stop(t)
	base := "http://" + srv.addr
	blocks := readmeSection(t, "## Try it")
	ran := 0
	for i := 0; i < len(blocks); i++ {
		b := blocks[i]
		code := strings.ReplaceAll(b.body, readmeBase, base)
		switch {
		case b.lang == "sh" && i+1 < len(blocks) && (blocks[i+1].lang == "json" || blocks[i+1].lang == "text"):
			got := bash(t, ctx, code)
			if blocks[i+1].lang == "json" {
				sameJSON(t, fmt.Sprintf("README block %d", i+1), got, blocks[i+1].body)
			} else {
				sameStream(t, fmt.Sprintf("README block %d", i+1), got, blocks[i+1].body)
			}
			i++
		case b.lang == "sh":
			// Commands, each followed by its output as a "# " comment.
			var script, wants []string
			for line := range strings.SplitSeq(code, "\n") {
				if want, ok := strings.CutPrefix(line, "# "); ok {
					wants = append(wants, want)
					line = `printf '\n@@@\n'`
				}
				script = append(script, line)
			}
			parts := strings.Split(bash(t, ctx, strings.Join(script, "\n")), "\n@@@\n")
			if len(parts) != len(wants)+1 {
				t.Fatalf("README block %d: %d outputs for %d expectations", i+1, len(parts)-1, len(wants))
			}
			for j, want := range wants {
				sameJSON(t, fmt.Sprintf("README block %d, command %d", i+1, j+1), parts[j], want)
			}
		case b.lang == "js":
			nodeExample(t, ctx, tl.node, code)
		default:
			t.Fatalf("README block %d (%s) is neither a command nor a command's output", i+1, b.lang)
		}
		ran++
	}
	if ran < 4 {
		t.Fatalf("ran %d README examples, want the four of the section", ran)
	}
}

func bash(t *testing.T, ctx context.Context, script string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v running\n%s\n%s", err, script, stderr.String())
	}
	return string(out)
}

// nodeExample runs the README's Node snippet as an ES module, with the
// SDK this package installs.
func nodeExample(t *testing.T, ctx context.Context, node, code string) {
	t.Helper()
	dir := t.TempDir()
	modules, err := filepath.Abs("node_modules")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "run.mjs"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	want, ok := strings.CutPrefix(code[strings.LastIndex(code, "// "):], "// ")
	if !ok {
		t.Fatal("the Node example shows no output comment")
	}
	cmd := exec.CommandContext(ctx, node, "run.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != strings.TrimSpace(want) {
		t.Errorf("node run.mjs: %v\n%s\nwant %s", err, out, want)
	}
}

// volatile names the values that differ from run to run.
var volatile = map[string]bool{
	"id": true, "task_id": true, "workflow_run_id": true, "created_at": true, "finished_at": true,
	"elapsed_time": true, "sys.workflow_run_id": true, "sys.timestamp": true,
}

func sameJSON(t *testing.T, what, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Errorf("%s: output is not JSON (%v):\n%s", what, err, got)
		return
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: the README's output is not JSON (%v):\n%s", what, err, want)
	}
	if err := same("", g, w); err != nil {
		t.Errorf("%s: %v\ngot  %s\nwant %s", what, err, got, want)
	}
}

// sameStream compares two event streams event by event.
func sameStream(t *testing.T, what, got, want string) {
	t.Helper()
	events := func(s string) []string {
		var out []string
		for line := range strings.SplitSeq(s, "\n") {
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				out = append(out, data)
			}
		}
		return out
	}
	g, w := events(got), events(want)
	if len(g) != len(w) || len(w) == 0 {
		t.Errorf("%s: %d events, the README shows %d:\n%s", what, len(g), len(w), got)
		return
	}
	for i := range w {
		sameJSON(t, fmt.Sprintf("%s, event %d", what, i+1), g[i], w[i])
	}
}

// same reports the first difference between got and want, values under
// volatile keys compared by type only; strings that hold JSON objects
// (Dify's run detail) are compared as such.
func same(path string, got, want any) error { return sameAt(path, "", got, want) }

// sameAt is same for the value under key (empty in arrays and at the top).
func sameAt(path, key string, got, want any) error {
	if gs, ok := got.(string); ok {
		if ws, ok := want.(string); ok && strings.HasPrefix(ws, "{") {
			var g, w any
			if json.Unmarshal([]byte(gs), &g) == nil && json.Unmarshal([]byte(ws), &w) == nil {
				return sameAt(path, key, g, w)
			}
		}
	}
	if volatile[key] {
		if fmt.Sprintf("%T", got) != fmt.Sprintf("%T", want) {
			return fmt.Errorf("%s is a %T, the README shows a %T", path, got, want)
		}
		return nil
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s is %v, the README shows an object", path, got)
		}
		gk, wk := slices.Sorted(maps.Keys(g)), slices.Sorted(maps.Keys(w))
		if !slices.Equal(gk, wk) {
			return fmt.Errorf("%s has keys %v, the README shows %v", path, gk, wk)
		}
		for _, k := range wk {
			if err := sameAt(path+"."+k, k, g[k], w[k]); err != nil {
				return err
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s is %v, the README shows %v", path, got, want)
		}
		for i := range w {
			if err := sameAt(fmt.Sprintf("%s[%d]", path, i), "", g[i], w[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("%s is %v, the README shows %v", path, got, want)
	}
	return nil
}
