// Package docextractor implements Dify's document-extractor workflow node
// (api/core/workflow/nodes/document_extractor/node.py): it reads the
// file, or each file of a list, that variable_selector names and outputs
// its text, a string for a file and an array of strings for a list. The
// conversions are package docextract's; the bytes come through an Opener.
// docs/nodes.md describes the node.
package docextractor

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/flowrun/flowrun/internal/docextract"
	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/run"
)

// TypeName is the node's DSL type.
const TypeName = "document-extractor"

// DefaultMaxInputBytes is Config.MaxInputBytes's default: Dify's upload
// limit for documents (UPLOAD_FILE_SIZE_LIMIT, 15 MB) with room for
// remote files.
const DefaultMaxInputBytes = 50 << 20

// Opener reads the bytes of a file value (Dify's File mapping, see
// docs/api.md) for the app appID (sys.app_id).
type Opener interface {
	Open(ctx context.Context, appID string, f map[string]any) (io.ReadCloser, error)
}

// Extractor converts a document to text (docextract.Workers in the
// service). Its errors are *docextract.Error with Dify's message.
type Extractor interface {
	Extract(ctx context.Context, k docextract.Kind, data []byte) (string, error)
}

// ErrTooLarge is wrapped by the error of a file over MaxInputBytes.
var ErrTooLarge = errors.New("file too large")

// Config configures document-extractor nodes.
type Config struct {
	// Opener reads the files (required).
	Opener Opener
	// Extractor converts them (required).
	Extractor Extractor
	// MaxInputBytes bounds the bytes read of one file (default
	// DefaultMaxInputBytes).
	MaxInputBytes int64
}

// Register adds the document-extractor node type to r.
func Register(r *run.Registry, cfg Config) error {
	if cfg.Opener == nil || cfg.Extractor == nil {
		return errors.New("document-extractor needs an Opener and an Extractor")
	}
	if cfg.MaxInputBytes <= 0 {
		cfg.MaxInputBytes = DefaultMaxInputBytes
	}
	r.Register(run.NodeType{Name: TypeName, Build: func(b *run.Build) (run.Executor, error) { return build(b, cfg) }})
	return nil
}

type nodeData struct {
	VariableSelector run.Selector `json:"variable_selector"`
}

type node struct {
	cfg Config
	sel run.Selector
}

func build(b *run.Build, cfg Config) (run.Executor, error) {
	var d nodeData
	if err := b.Decode(&d); err != nil {
		return nil, err
	}
	if len(d.VariableSelector) < 2 {
		b.Errorf("variable_selector: a selector [node, variable] is required")
		return nil, errors.New("variable_selector is required")
	}
	return &node{cfg: cfg, sel: b.Selector("variable_selector", d.VariableSelector)}, nil
}

// Execute reads and converts the file(s). One file that cannot be read
// fails the node with Dify's error.
func (n *node) Execute(ctx context.Context, x *run.Exec) (*run.Result, error) {
	v, ok := x.Pool.Get(n.sel)
	if !ok {
		return nil, &run.NodeError{Type: "DocumentExtractorError", Err: fmt.Errorf("File variable not found for selector: %s", selRepr(n.sel))}
	}
	files, list, ok := filesOf(v)
	if !ok {
		return nil, &run.NodeError{Type: "DocumentExtractorError", Err: fmt.Errorf("Variable %s is not an ArrayFileSegment", selRepr(n.sel))}
	}
	appID := ""
	if id, ok := x.Pool.Get(run.Selector{"sys", "app_id"}); ok {
		appID, _ = id.(string)
	}
	docs := make([]any, len(files))
	texts := make([]any, len(files))
	for i, f := range files {
		docs[i] = f
		text, err := n.extract(ctx, appID, f)
		if err != nil {
			return nil, err
		}
		texts[i] = text
	}
	var out any = texts
	if !list {
		out = texts[0]
	}
	return &run.Result{
		Inputs:      run.Vars{}.With("variable_selector", selList(n.sel)),
		ProcessData: run.Vars{}.With("documents", docs),
		Outputs:     run.Vars{}.With("text", out),
	}, nil
}

func (n *node) extract(ctx context.Context, appID string, f map[string]any) (string, error) {
	data, err := n.read(ctx, appID, f)
	if err != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		return "", &run.NodeError{Type: docextract.TypeDownload, Err: fmt.Errorf("Error downloading file: %w", err)}
	}
	ext, _ := f["extension"].(string)
	mime, _ := f["mime_type"].(string)
	kind, err := docextract.Classify(ext, mime)
	if err == nil {
		var text string
		if text, err = n.cfg.Extractor.Extract(ctx, kind, data); err == nil {
			return text, nil
		}
	}
	var de *docextract.Error
	if errors.As(err, &de) {
		return "", &run.NodeError{Type: de.Type, Err: err}
	}
	return "", err
}

// read reads at most MaxInputBytes of f.
func (n *node) read(ctx context.Context, appID string, f map[string]any) ([]byte, error) {
	rc, err := n.cfg.Opener.Open(ctx, appID, f)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, n.cfg.MaxInputBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > n.cfg.MaxInputBytes {
		return nil, fmt.Errorf("%w: the file is larger than %d bytes", ErrTooLarge, n.cfg.MaxInputBytes)
	}
	return b, nil
}

// filesOf returns the file(s) of v and whether v is a list. An empty
// value passes, as in Dify (an empty list gives an empty list of texts).
func filesOf(v any) ([]map[string]any, bool, bool) {
	switch x := v.(type) {
	case map[string]any:
		if isFile(x) {
			return []map[string]any{x}, false, true
		}
	case []any:
		out := make([]map[string]any, 0, len(x))
		for _, e := range x {
			f, ok := e.(map[string]any)
			if !ok || !isFile(f) {
				return nil, false, false
			}
			out = append(out, f)
		}
		return out, true, true
	}
	return nil, false, false
}

func isFile(m map[string]any) bool { return m["dify_model_identity"] == "__dify__file__" }

func selList(sel run.Selector) []any {
	out := make([]any, len(sel))
	for i, s := range sel {
		out[i] = s
	}
	return out
}

// selRepr is Python's repr of the selector list: ['start', 'file'].
func selRepr(sel run.Selector) string { return py.Repr(selList(sel)) }
