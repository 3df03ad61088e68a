package httpreq

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// ErrFileUnavailable is wrapped by the error of a file whose content
// flowrun cannot read: it has no file store, so only remote_url files and
// files carried as data: URLs can be sent.
var ErrFileUnavailable = errors.New("file content is not available")

// isFile reports whether v is a Dify file mapping (as the engine judges
// it: it has a transfer_method and a type).
func isFile(m map[string]any) bool {
	_, tm := m["transfer_method"]
	_, typ := m["type"]
	return tm && typ
}

func fileURL(f map[string]any) (remote, plain string) {
	remote, _ = f["remote_url"].(string)
	plain, _ = f["url"].(string)
	return remote, plain
}

// sendable is Dify's filter for form-data files (an uploaded file with a
// related_id, or a remote_url file with its URL), extended to files
// carried as data: URLs.
func sendable(f map[string]any) bool {
	if f["related_id"] != nil {
		return true
	}
	remote, plain := fileURL(f)
	if tm, _ := f["transfer_method"].(string); tm == "remote_url" && (remote != "" || plain != "") {
		return true
	}
	return strings.HasPrefix(remote, "data:") || strings.HasPrefix(plain, "data:")
}

// download returns a file's content: a data: URL is decoded, a remote_url
// file is fetched through the guarded client, anything else needs a file
// store flowrun does not have.
func (n *node) download(ctx context.Context, f map[string]any) ([]byte, error) {
	remote, plain := fileURL(f)
	for _, u := range []string{remote, plain} {
		if strings.HasPrefix(u, "data:") {
			data, err := decodeDataURL(u)
			if err != nil {
				return nil, nodeErrf(ErrTypeFileFetch, "cannot decode the data: URL of file %q: %v", f["filename"], err)
			}
			if int64(len(data)) > n.cs.cfg.MaxBinarySize {
				return nil, sizeError(true, n.cs.cfg.MaxBinarySize, readableSize(int64(len(data))))
			}
			return data, nil
		}
	}
	tm, _ := f["transfer_method"].(string)
	if tm != "remote_url" {
		return nil, nodeErr(ErrTypeFileFetch, fmt.Errorf("cannot read file %q (transfer_method %s): flowrun has no file store; only remote_url files and data: URLs can be sent: %w",
			f["filename"], cmp.Or(tm, "unknown"), ErrFileUnavailable))
	}
	target := cmp.Or(remote, plain)
	if target == "" {
		return nil, nodeErrf(ErrTypeFileFetch, "Missing file remote_url")
	}
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		return nil, nodeErrf(ErrTypeFileFetch, "cannot fetch file from %q: not an http(s) URL", target)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, nodeErrf(ErrTypeFileFetch, "cannot fetch file from %q: %v", target, err)
	}
	client, release := n.cs.client(n.timeouts)
	defer release()
	resp, err := client.Do(req)
	if err != nil {
		return nil, requestError(ctx, target, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, nodeErrf(ErrTypeFileFetch, "cannot fetch file from %s: status code %d", target, resp.StatusCode)
	}
	limit := n.cs.cfg.MaxBinarySize
	body := decodeContent(strings.TrimSpace(resp.Header.Get("Content-Encoding")), resp.Body)
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, classifyError(target, err)
	}
	if int64(len(data)) > limit {
		return nil, sizeError(true, limit, "more than "+readableSize(limit))
	}
	return data, nil
}

// decodeDataURL decodes "data:[<mediatype>][;base64],<data>".
func decodeDataURL(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, "data:")
	if !ok {
		return nil, errors.New("not a data: URL")
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, errors.New("missing ','")
	}
	if strings.HasSuffix(strings.ToLower(meta), ";base64") {
		out, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			if out, err2 := base64.RawStdEncoding.DecodeString(data); err2 == nil {
				return out, nil
			}
			return nil, err
		}
		return out, nil
	}
	out, err := url.PathUnescape(data)
	if err != nil {
		return nil, err
	}
	return []byte(out), nil
}

// fileOutput describes a file response as a Dify file mapping. With no
// file store, the content travels in "url" as a data: URL (transfer_method
// tool_file, no related_id): End nodes render it, and another http-request
// node can send it again.
func fileOutput(reqURL string, r *response) map[string]any {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(r.header.Get("Content-Type"), ";")[0]))
	cdName := dispositionFilename(r.header.Get("Content-Disposition"))
	var cdType string
	if cdName != "" {
		cdType = typeByExtension(path.Ext(cdName))
	}
	urlName := urlBase(reqURL)
	mimeType := cmp.Or(cdType, ct, typeByExtension(path.Ext(urlName)), "application/octet-stream")
	name := cdName
	if name == "" {
		name = cmp.Or(urlName, "file")
		if path.Ext(name) == "" {
			name += extensionByType(mimeType)
		}
	}
	return DataFile(name, mimeType, r.content)
}

// DataFile describes content as a Dify file mapping whose content travels
// as a data: URL in "url" (transfer_method tool_file, no related_id), as
// the files of http-request responses do. An empty mimeType is guessed
// from the name's extension (application/octet-stream when unknown); a
// name without an extension gets the type's.
func DataFile(name, mimeType string, content []byte) map[string]any {
	mimeType = cmp.Or(mimeType, typeByExtension(path.Ext(name)), "application/octet-stream")
	ext := extensionByType(mimeType)
	if name == "" {
		name = "file" + ext
	}
	return mapping("tool_file", name, ext, mimeType, int64(len(content)), nil,
		"data:"+mimeType+";base64,"+base64.StdEncoding.EncodeToString(content))
}

// RemoteFile describes the file at rawURL as a Dify file mapping with
// transfer_method remote_url; its name is the URL path's last segment and
// an empty mimeType is guessed from its extension. Its size is unknown
// (-1), as for Dify's remote files that were not probed.
func RemoteFile(rawURL, mimeType string) map[string]any {
	name := urlBase(rawURL)
	mimeType = cmp.Or(mimeType, typeByExtension(path.Ext(name)), "application/octet-stream")
	ext := cmp.Or(strings.ToLower(path.Ext(name)), extensionByType(mimeType))
	return mapping("remote_url", cmp.Or(name, "file"+ext), ext, mimeType, -1, rawURL, rawURL)
}

// urlBase is the unescaped last segment of a URL's path.
func urlBase(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	u = u[strings.LastIndex(u, "/")+1:]
	if s, err := url.PathUnescape(u); err == nil {
		u = s
	}
	return u
}

// mapping is a Dify file mapping without an upload record.
func mapping(transfer, name, ext, mimeType string, size int64, remote any, fileURL string) map[string]any {
	return map[string]any{
		"dify_model_identity": "__dify__file__",
		"id":                  nil,
		"tenant_id":           "",
		"type":                fileType(ext, mimeType),
		"transfer_method":     transfer,
		"remote_url":          remote,
		"related_id":          nil,
		"filename":            name,
		"extension":           ext,
		"mime_type":           mimeType,
		"size":                size,
		"url":                 fileURL,
	}
}

// knownApplicationTypes are the binary application/* types Python's
// mimetypes knows by default, plus common archive and office formats. An
// application/* response of another type is text, as in Dify.
var knownApplicationTypes = map[string]bool{}

func init() {
	for _, t := range strings.Fields(`
		octet-stream pdf zip gzip x-gzip x-tar x-gtar x-ustar x-7z-compressed vnd.rar x-rar-compressed
		x-bzip2 x-xz zstd x-compress java-archive x-debian-package x-rpm vnd.android.package-archive
		x-iso9660-image x-apple-diskimage x-msdownload x-msi x-sqlite3 wasm ogg epub+zip
		msword vnd.ms-excel vnd.ms-powerpoint vnd.ms-outlook vnd.visio
		vnd.openxmlformats-officedocument.wordprocessingml.document
		vnd.openxmlformats-officedocument.spreadsheetml.sheet
		vnd.openxmlformats-officedocument.presentationml.presentation
		vnd.oasis.opendocument.text vnd.oasis.opendocument.spreadsheet
		vnd.oasis.opendocument.presentation vnd.oasis.opendocument.graphics
		vnd.apple.mpegurl postscript oda pkcs7-mime x-pkcs12 x-shockwave-flash x-python-code
		x-bcpio x-cpio x-sv4cpio x-sv4crc x-shar x-hdf x-hdf5 x-netcdf x-dvi x-mif
		x-pn-realaudio x-wais-source x-troff x-troff-man x-troff-me x-troff-ms x-tex x-texinfo
		x-latex x-csh x-sh x-tcl x-httpd-php n-triples n-quads trig rtf`) {
		knownApplicationTypes["application/"+t] = true
	}
}

// extensions maps media types to the extension Python's
// mimetypes.guess_extension gives them.
var extensions = map[string]string{
	"application/octet-stream": ".bin", "application/pdf": ".pdf", "application/zip": ".zip",
	"application/gzip": ".gz", "application/x-gzip": ".gz", "application/x-tar": ".tar",
	"application/x-7z-compressed": ".7z", "application/vnd.rar": ".rar", "application/json": ".json",
	"application/xml": ".xsl", "application/msword": ".doc", "application/vnd.ms-excel": ".xls",
	"application/vnd.ms-powerpoint": ".ppt", "application/epub+zip": ".epub", "application/wasm": ".wasm",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   ".docx",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         ".xlsx",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
	"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp",
	"image/svg+xml": ".svg", "image/bmp": ".bmp", "image/tiff": ".tiff", "image/x-icon": ".ico",
	"image/vnd.microsoft.icon": ".ico", "image/avif": ".avif", "image/heic": ".heic",
	"audio/mpeg": ".mp3", "audio/wav": ".wav", "audio/x-wav": ".wav", "audio/mp4": ".m4a",
	"audio/aac": ".aac", "audio/ogg": ".ogg", "audio/webm": ".weba", "audio/amr": ".amr", "audio/flac": ".flac",
	"video/mp4": ".mp4", "video/mpeg": ".mpeg", "video/quicktime": ".mov", "video/webm": ".webm",
	"video/x-msvideo": ".avi", "text/plain": ".txt", "text/html": ".html", "text/csv": ".csv",
	"text/markdown": ".md", "text/xml": ".xml", "text/css": ".css", "text/javascript": ".js",
}

// typesByExt is the reverse of extensions, with the common aliases.
var typesByExt = map[string]string{
	".jpeg": "image/jpeg", ".tif": "image/tiff", ".htm": "text/html", ".xml": "text/xml", ".md": "text/markdown",
	".markdown": "text/markdown", ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".mpg": "video/mpeg",
}

func init() {
	for t, e := range extensions {
		if _, ok := typesByExt[e]; !ok {
			typesByExt[e] = t
		}
	}
}

func extensionByType(t string) string {
	if e, ok := extensions[t]; ok {
		return e
	}
	if es, err := mime.ExtensionsByType(t); err == nil && len(es) > 0 {
		return es[0]
	}
	return ".bin"
}

func typeByExtension(ext string) string {
	if ext == "" {
		return ""
	}
	ext = strings.ToLower(ext)
	if t, ok := typesByExt[ext]; ok {
		return t
	}
	t, _, _ := strings.Cut(mime.TypeByExtension(ext), ";")
	return strings.TrimSpace(t)
}

// File type extension lists of Dify's core.file.constants.
var fileTypeByExt = map[string]string{}

func init() {
	for typ, exts := range map[string]string{
		"image":    "jpg jpeg png webp gif svg",
		"video":    "mp4 mov mpeg webm",
		"audio":    "mp3 m4a wav amr mpga",
		"document": "txt markdown md mdx pdf html htm xlsx xls vtt properties doc docx csv eml msg pptx xml epub ppt",
	} {
		for _, e := range strings.Fields(exts) {
			fileTypeByExt[e] = typ
		}
	}
}

// fileType is Dify's _standardize_file_type: by extension, then by media
// type, else custom.
func fileType(ext, mimeType string) string {
	if t, ok := fileTypeByExt[strings.ToLower(strings.TrimPrefix(ext, "."))]; ok {
		return t
	}
	switch {
	case strings.Contains(mimeType, "image"):
		return "image"
	case strings.Contains(mimeType, "video"):
		return "video"
	case strings.Contains(mimeType, "audio"):
		return "audio"
	case strings.Contains(mimeType, "text"), strings.Contains(mimeType, "pdf"):
		return "document"
	}
	return "custom"
}
