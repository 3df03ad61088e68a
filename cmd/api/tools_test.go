package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/tools/workflowtool"
)

// noDeps are toolDeps for tests that call no tool.
var noDeps = toolDeps{workflows: &workflowtool.Deferred{}}

func TestToolRegistry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Neither TOOLS_FILE nor APPS_DIR/tools.yaml: the built-ins.
	reg, err := toolRegistry(ctx, "", t.TempDir(), noDeps)
	if err != nil || strings.Join(reg.IDs(), " ") != "json_process langgenius/json_process/json_process time" {
		t.Fatalf("defaults: %v, %v", reg, err)
	}
	// APPS_DIR/tools.yaml is read when present.
	apps := t.TempDir()
	write := func(dir, body string) string {
		t.Helper()
		p := filepath.Join(dir, toolsFileName)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write(apps, "providers:\n- {id: clock, kind: builtin, provider: time, aliases: [timer]}\n")
	reg, err = toolRegistry(ctx, "", apps, noDeps)
	if err != nil || !strings.Contains(strings.Join(reg.IDs(), " "), "clock") {
		t.Fatalf("APPS_DIR/tools.yaml: %v, %v", reg.IDs(), err)
	}
	for _, c := range []struct{ body, want string }{
		{"providers:\n- {id: t, kind: rest}\n", `tools.yaml: invalid tool configuration: providers[0] (id "t", kind rest): unknown kind "rest" (known: builtin, mcp, openapi, workflow)`},
		{"providers:\n- {id: t, kind: mcp, url: 'ftp://127.0.0.1:1/mcp'}\n", "scheme must be http or https"},
		{"providers:\n- {id: t, kind: workflow}\n", "app"},
		{"providers:\n- {id: t, kind: builtin, provider: time, colour: red}\n", `unknown field "colour"`},
		{"provider: []\n", "field provider not found"},
		{"providers:\n- {kind: builtin}\n", "providers[0]: id is required"},
	} {
		p := write(t.TempDir(), c.body)
		if _, err := toolRegistry(ctx, p, apps, noDeps); err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "configuration: ") {
			t.Errorf("%s: %v, want %q", c.body, err, c.want)
		}
	}
	if _, err := toolRegistry(ctx, filepath.Join(apps, "missing.yaml"), apps, noDeps); err == nil || !strings.Contains(err.Error(), "TOOLS_FILE") {
		t.Fatalf("missing TOOLS_FILE: %v", err)
	}
}
