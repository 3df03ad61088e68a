package files

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/py"
	"github.com/flowrun/flowrun/internal/repo"
)

// Identity is the dify_model_identity of a serialised File.
const Identity = "__dify__file__"

// InputError is a file mapping Dify refuses with 400 invalid_param
// (a ValueError of factories/file_factory.py), with Dify's message.
type InputError struct{ Message string }

// Error returns the message sent to the client.
func (e *InputError) Error() string { return e.Message }

func inputErr(format string, args ...any) error {
	return &InputError{Message: fmt.Sprintf(format, args...)}
}

// FileConfig is what a file must satisfy to be accepted: a start
// variable's allowed_file_* fields, or features.file_upload for sys.files
// (Dify's FileUploadConfig).
type FileConfig struct {
	// AllowedTypes lists the accepted file types (empty: any).
	AllowedTypes []string
	// AllowedExtensions lists the extensions, with their dot and
	// case-sensitive, a custom file may have (empty: none).
	AllowedExtensions []string
	// AllowedMethods lists the accepted transfer methods of non-image
	// files (empty: any).
	AllowedMethods []string
	// Image, set for sys.files only, configures images.
	Image *ImageConfig
	// NumberLimit bounds the number of files (0: no bound).
	NumberLimit int
}

// ImageConfig is sys.files' image configuration.
type ImageConfig struct {
	// NumberLimit bounds the number of images.
	NumberLimit int
	// Methods lists the accepted transfer methods of images (empty: any).
	Methods []string
}

// Getter is what Resolver needs of a repo.FileStore.
type Getter interface {
	Get(ctx context.Context, appID, id string) (*repo.Upload, error)
}

// ResolverConfig configures a Resolver.
type ResolverConfig struct {
	// Store holds the uploads (nil: every local_file is invalid).
	Store Getter
	// Client probes remote_url files with HEAD. It must dial through the
	// SSRF guard; nil refuses every remote_url file.
	Client *http.Client
	// Signer signs the url of uploads.
	Signer *Signer
}

// Resolver turns file mappings into File values.
type Resolver struct {
	cfg ResolverConfig
}

// NewResolver returns a Resolver.
func NewResolver(cfg ResolverConfig) *Resolver { return &Resolver{cfg: cfg} }

// Scope is the request a mapping comes with.
type Scope struct {
	// AppID is the app of the run: only its uploads are found.
	AppID string
	// BaseURL prefixes signed URLs ("http://host:port").
	BaseURL string
	// Strict checks that a mapping's type is the detected one (workflow
	// apps through the service API, as in Dify).
	Strict bool
}

var transferMethods = []string{"remote_url", "local_file", "tool_file", "datasource_file"}

var fileTypes = []string{"image", "document", "audio", "video", "custom"}

// File builds the File value of mapping m and checks it against cfg (nil:
// no check), as Dify's build_from_mapping does. Errors are *InputError,
// or the store's when it cannot be read.
func (r *Resolver) File(ctx context.Context, sc Scope, m map[string]any, cfg *FileConfig) (map[string]any, error) {
	tm, _ := m["transfer_method"].(string)
	if !slices.Contains(transferMethods, tm) {
		return nil, inputErr("No matching enum found for value '%s'", py.Str(m["transfer_method"]))
	}
	specified := "custom"
	if v, ok := m["type"]; ok {
		s, _ := v.(string)
		if !slices.Contains(fileTypes, s) {
			return nil, inputErr("'%s' is not a valid FileType", py.Str(v))
		}
		specified = s
	}
	var (
		f   map[string]any
		err error
	)
	switch tm {
	case "local_file":
		f, err = r.local(ctx, sc, m, tm, specified)
	case "remote_url":
		if id, ok := m["upload_file_id"]; ok && id != nil && id != "" {
			f, err = r.local(ctx, sc, m, tm, specified)
		} else {
			f, err = r.remote(ctx, sc, m, specified)
		}
	default:
		// Tool and datasource files are made by nodes, never by clients.
		return nil, inputErr("Invalid file transfer method: %s", tm)
	}
	if err != nil {
		return nil, err
	}
	if id, ok := m["id"]; ok {
		f["id"] = id
	}
	if cfg != nil && !valid(specified, f["extension"].(string), tm, cfg) {
		return nil, inputErr("File validation failed for file: %s", f["filename"])
	}
	return f, nil
}

// Files builds the File values of the mappings in list, then checks
// cfg's image and file counts, as Dify's build_from_mappings does.
// skip drops the mappings without a transfer method and remote ones
// without a URL (sys.files).
func (r *Resolver) Files(ctx context.Context, sc Scope, list []any, cfg *FileConfig, skip bool) ([]any, error) {
	out := make([]any, 0, len(list))
	images := 0
	for _, v := range list {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, inputErr("Invalid file mapping: %s", py.Str(v))
		}
		if skip && skipped(m) {
			continue
		}
		f, err := r.File(ctx, sc, m, cfg)
		if err != nil {
			return nil, err
		}
		if f["type"] == "image" {
			images++
		}
		out = append(out, f)
	}
	if cfg != nil && cfg.Image != nil && images > cfg.Image.NumberLimit {
		return nil, inputErr("Number of image files exceeds the maximum limit %d", cfg.Image.NumberLimit)
	}
	if cfg != nil && cfg.NumberLimit > 0 && len(out) > cfg.NumberLimit {
		return nil, inputErr("Number of files exceeds the maximum limit %d", cfg.NumberLimit)
	}
	return out, nil
}

// skipped reports a mapping sys.files drops silently.
func skipped(m map[string]any) bool {
	tm, _ := m["transfer_method"].(string)
	if tm == "" {
		return true
	}
	if tm == "remote_url" {
		u, _ := m["url"].(string)
		ru, _ := m["remote_url"].(string)
		id, _ := m["upload_file_id"].(string)
		return u == "" && ru == "" && id == ""
	}
	return false
}

// valid is Dify's _is_file_valid_with_config.
func valid(typ, ext, method string, cfg *FileConfig) bool {
	if len(cfg.AllowedTypes) > 0 && typ != "custom" && !slices.Contains(cfg.AllowedTypes, typ) {
		return false
	}
	if typ == "custom" && !slices.Contains(cfg.AllowedExtensions, ext) {
		return false
	}
	if typ == "image" {
		return cfg.Image == nil || len(cfg.Image.Methods) == 0 || slices.Contains(cfg.Image.Methods, method)
	}
	return len(cfg.AllowedMethods) == 0 || slices.Contains(cfg.AllowedMethods, method)
}

// checkType applies strict type validation and picks the file's type.
func checkType(sc Scope, specified, detected string) (string, error) {
	if sc.Strict && detected != specified {
		return "", inputErr("Detected file type does not match the specified type. Please verify the file.")
	}
	if specified != "custom" {
		return specified, nil
	}
	return detected, nil
}

func (r *Resolver) local(ctx context.Context, sc Scope, m map[string]any, tm, specified string) (map[string]any, error) {
	raw, ok := m["upload_file_id"]
	id, _ := raw.(string)
	if !ok || raw == nil || id == "" {
		return nil, inputErr("Invalid upload file id")
	}
	if _, err := uuid.Parse(id); err != nil {
		return nil, inputErr("Invalid upload file id format")
	}
	if r.cfg.Store == nil {
		return nil, inputErr("Invalid upload file")
	}
	u, err := r.cfg.Store.Get(ctx, sc.AppID, id)
	if errors.Is(err, repo.ErrNotFound) {
		return nil, inputErr("Invalid upload file")
	}
	if err != nil {
		return nil, err
	}
	typ, err := checkType(sc, specified, TypeOf("."+u.Extension, u.MimeType))
	if err != nil {
		return nil, err
	}
	signed := ""
	if r.cfg.Signer != nil {
		signed = r.cfg.Signer.URL(sc.BaseURL, sc.AppID, u.ID)
	}
	return Value(sc.AppID, typ, tm, signed, u.ID, u.Name, "."+u.Extension, u.MimeType, u.Size, signed), nil
}

// Value is a File value (the serialised form of Dify's File model).
func Value(tenant, typ, method string, remoteURL any, relatedID any, name, ext, mimeType string, size int64, fileURL string) map[string]any {
	if s, ok := remoteURL.(string); ok && s == "" {
		remoteURL = nil
	}
	if s, ok := relatedID.(string); ok && s == "" {
		relatedID = nil
	}
	return map[string]any{
		"dify_model_identity": Identity,
		"id":                  nil,
		"tenant_id":           tenant,
		"type":                typ,
		"transfer_method":     method,
		"remote_url":          remoteURL,
		"related_id":          relatedID,
		"filename":            name,
		"extension":           ext,
		"mime_type":           mimeType,
		"size":                size,
		"url":                 fileURL,
	}
}

func (r *Resolver) remote(ctx context.Context, sc Scope, m map[string]any, specified string) (map[string]any, error) {
	target, _ := m["url"].(string)
	if target == "" {
		target, _ = m["remote_url"].(string)
	}
	if target == "" || !strings.HasPrefix(target, "http") {
		return nil, inputErr("Invalid file url")
	}
	mimeType, name, size, err := r.probe(ctx, target)
	if err != nil {
		return nil, err
	}
	ext := ""
	if mimeType != "" {
		ext = ExtByMime(mimeType)
		if ext == ".bin" && mimeType != "application/octet-stream" {
			ext = ""
		}
	}
	if ext == "" {
		ext = ".bin"
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			ext = "." + name[i+1:]
		}
	}
	typ, err := checkType(sc, specified, TypeOf(ext, mimeType))
	if err != nil {
		return nil, err
	}
	return Value(sc.AppID, typ, "remote_url", target, nil, name, ext, mimeType, size, target), nil
}

// probe is Dify's _get_remote_file_info: the name from the URL path or
// Content-Disposition, the type guessed from the name or Content-Type,
// the size from Content-Length (-1 when unknown). A HEAD answered with
// another status than 200 leaves the guesses from the URL. A HEAD the
// SSRF guard refuses, or that fails, refuses the file.
func (r *Resolver) probe(ctx context.Context, target string) (mimeType, name string, size int64, err error) {
	size = -1
	pu, perr := url.Parse(target)
	if perr != nil {
		return "", "", 0, inputErr("Invalid file url")
	}
	name = path.Base(pu.Path)
	if name == "/" || name == "." {
		name = ""
	}
	mimeType = MimeByExt(path.Ext(name))
	if r.cfg.Client == nil {
		return "", "", 0, inputErr("Invalid file url: remote files are not enabled")
	}
	req, rerr := http.NewRequestWithContext(ctx, http.MethodHead, target, nil)
	if rerr != nil {
		return "", "", 0, inputErr("Invalid file url")
	}
	resp, derr := r.cfg.Client.Do(req)
	if derr != nil {
		if ctx.Err() != nil {
			return "", "", 0, context.Cause(ctx)
		}
		return "", "", 0, inputErr("Invalid file url: %s", unwrapURLError(derr))
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if cd := resp.Header.Get("Content-Disposition"); cd != "" {
			if _, params, err := mime.ParseMediaType(cd); err == nil && params["filename"] != "" {
				name = params["filename"]
			} else if _, after, ok := strings.Cut(cd, "filename="); ok {
				name = strings.Trim(after, `"`)
			}
			mimeType = MimeByExt(path.Ext(name))
		}
		if cl := resp.Header.Get("Content-Length"); cl != "" {
			if n, err := strconv.ParseInt(cl, 10, 64); err == nil {
				size = n
			}
		}
		if mimeType == "" {
			mimeType = strings.TrimSpace(strings.Split(resp.Header.Get("Content-Type"), ";")[0])
		}
	}
	if name == "" {
		ext := ExtByMime(mimeType)
		name = strings.ReplaceAll(uuid.NewString(), "-", "") + ext
		if mimeType == "" {
			mimeType = MimeByExt(ext)
		}
	}
	return mimeType, name, size, nil
}

// unwrapURLError drops net/http's "Head <url>:" prefix.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
