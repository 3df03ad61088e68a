package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/flowrun/flowrun/internal/tools"
	"github.com/flowrun/flowrun/internal/tools/builtin"
)

// toolsFileName is the tool configuration looked for in APPS_DIR when
// TOOLS_FILE is not set.
const toolsFileName = "tools.yaml"

// toolKinds lists the provider kinds tools.yaml may use. A package that
// implements a stubbed kind (mcp, openapi, workflow) replaces its entry
// here.
func toolKinds() tools.Kinds {
	k := tools.StubKinds()
	k["builtin"] = builtin.Kind(builtin.Options{})
	return k
}

// toolRegistry reads the tool configuration (TOOLS_FILE, else
// APPS_DIR/tools.yaml when it exists; the built-in providers alone when
// neither) and builds the registry tool nodes call. Every problem in the
// file is a startup error naming its entry.
func toolRegistry(ctx context.Context, file, appsDir string) (*tools.Registry, error) {
	path := file
	if path == "" {
		cand := filepath.Join(appsDir, toolsFileName)
		if _, err := os.Stat(cand); err == nil {
			path = cand
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("configuration: %s: %w", cand, err)
		}
	}
	var cfg *tools.Config
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("configuration: TOOLS_FILE: %w", err)
		}
		if cfg, err = tools.ParseConfig(data, filepath.Dir(path)); err != nil {
			return nil, fmt.Errorf("configuration: %s: %w", path, err)
		}
	}
	reg, err := tools.Build(ctx, cfg, toolKinds(), builtin.Defaults())
	if err != nil {
		where := path
		if where == "" {
			where = "built-in tools"
		}
		return nil, fmt.Errorf("configuration: %s: %w", where, err)
	}
	return reg, nil
}
