package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"github.com/flowrun/flowrun/internal/tools"
	"github.com/flowrun/flowrun/internal/tools/builtin"
	"github.com/flowrun/flowrun/internal/tools/mcp"
	"github.com/flowrun/flowrun/internal/tools/openapi"
	"github.com/flowrun/flowrun/internal/tools/workflowtool"
)

// toolsFileName is the tool configuration looked for in APPS_DIR when
// TOOLS_FILE is not set.
const toolsFileName = "tools.yaml"

// toolDeps is what the provider kinds need from the rest of the api.
type toolDeps struct {
	// dial is the http-request node's SSRF guard, which OpenAPI tools go
	// through.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// maxText bounds an OpenAPI tool's text response, as the http-request
	// node's.
	maxText int64
	// workflows runs the apps that workflow tools call; it is set once
	// the API server exists.
	workflows *workflowtool.Deferred
	// maxDepth is WORKFLOW_CALL_MAX_DEPTH.
	maxDepth int
}

// toolKinds lists the provider kinds tools.yaml may use.
func toolKinds(d toolDeps) tools.Kinds {
	return tools.Kinds{
		"builtin":         builtin.Kind(builtin.Options{}),
		mcp.Kind:          mcp.Factory(mcp.Options{}),
		openapi.Kind:      openapi.Factory(openapi.Options{Dial: d.dial, MaxTextSize: d.maxText}),
		workflowtool.Kind: workflowtool.Factory(workflowtool.Options{Runner: d.workflows, MaxDepth: d.maxDepth}),
	}
}

// configFile is the configuration file to read: file when set, else
// name in appsDir when it exists, else "" (none).
func configFile(file, appsDir, name string) (string, error) {
	if file != "" {
		return file, nil
	}
	cand := filepath.Join(appsDir, name)
	if _, err := os.Stat(cand); err == nil {
		return cand, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("configuration: %s: %w", cand, err)
	}
	return "", nil
}

// toolRegistry reads the tool configuration (TOOLS_FILE, else
// APPS_DIR/tools.yaml when it exists; the built-in providers alone when
// neither) and builds the registry tool nodes call. Every problem in the
// file is a startup error naming its entry.
func toolRegistry(ctx context.Context, file, appsDir string, d toolDeps) (*tools.Registry, error) {
	path, err := configFile(file, appsDir, toolsFileName)
	if err != nil {
		return nil, err
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
	reg, err := tools.Build(ctx, cfg, toolKinds(d), builtin.Defaults())
	if err != nil {
		where := path
		if where == "" {
			where = "built-in tools"
		}
		return nil, fmt.Errorf("configuration: %s: %w", where, err)
	}
	return reg, nil
}
