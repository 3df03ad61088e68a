package api

import (
	"context"
	"encoding/json"
	"math"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/files"
	"github.com/flowrun/flowrun/internal/run"
)

// resolveFiles turns the file mappings of a run request into File
// values before the run starts, as Dify's generators do: sys.files first
// (features.file_upload; dropped when uploads are not enabled), then the
// file and file-list inputs, each against its variable's configuration.
// Workflow apps check types strictly. A failure is an *files.InputError
// (400 invalid_param). inputs is changed in place.
func (s *Server) resolveFiles(ctx context.Context, a *app.App, sc files.Scope, inputs run.Vars, mappings []any) ([]any, error) {
	res := s.cfg.Files.Resolver
	var sys []any
	if cfg := sysFilesConfig(a.Workflow.Doc.Workflow.Features); cfg != nil && len(mappings) > 0 {
		var err error
		if sys, err = res.Files(ctx, sc, mappings, cfg, true); err != nil {
			return nil, err
		}
	}
	for i := range a.Workflow.Inputs {
		v := &a.Workflow.Inputs[i]
		if v.Type != "file" && v.Type != "file-list" {
			continue
		}
		idx := -1
		for j := range inputs {
			if inputs[j].Name == v.Variable {
				idx = j
				break
			}
		}
		if idx < 0 || inputs[idx].Value == nil {
			continue
		}
		cfg := &files.FileConfig{AllowedTypes: v.AllowedFileTypes, AllowedExtensions: v.AllowedFileExtensions, AllowedMethods: v.AllowedFileUploadMethods}
		switch x := inputs[idx].Value.(type) {
		case map[string]any:
			f, err := res.File(ctx, sc, x, cfg)
			if err != nil {
				return nil, err
			}
			inputs[idx].Value = f
		case []any:
			list, err := res.Files(ctx, sc, x, cfg, false)
			if err != nil {
				return nil, err
			}
			inputs[idx].Value = list
		}
	}
	return sys, nil
}

// sysFilesConfig is the FileConfig of sys.files from the DSL's
// features.file_upload, or nil when uploads are not enabled.
func sysFilesConfig(features map[string]any) *files.FileConfig {
	fu, _ := features["file_upload"].(map[string]any)
	if on, _ := fu["enabled"].(bool); !on {
		return nil
	}
	methods := strs(fu["allowed_file_upload_methods"])
	cfg := &files.FileConfig{
		AllowedTypes:      strs(fu["allowed_file_types"]),
		AllowedExtensions: strs(fu["allowed_file_extensions"]),
		AllowedMethods:    methods,
		Image:             &files.ImageConfig{NumberLimit: 3, Methods: methods},
	}
	if n, ok := whole(fu["number_limits"]); ok {
		cfg.NumberLimit = n
		cfg.Image.NumberLimit = n
	}
	return cfg
}

// strs is the strings of a DSL list.
func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// whole reads a DSL integer (a json.Number, float64 or int64).
func whole(v any) (int, bool) {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<31 {
			return int(x), true
		}
	case int64:
		return int(x), true
	case int:
		return x, true
	case json.Number:
		if n, err := x.Int64(); err == nil && n >= 0 && n < 1<<31 {
			return int(n), true
		}
	}
	return 0, false
}
