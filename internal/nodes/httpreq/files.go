package httpreq

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"net/url"
	"path"
	"strings"

	"github.com/flowrun/flowrun/internal/files"
	"github.com/flowrun/flowrun/internal/run"
)

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

// download returns a file's content through a files.Reader: an upload of
// the run's app from the file store, a remote_url file through the node's
// guarded client, a data: URL decoded; at most MaxBinarySize bytes.
func (n *node) download(ctx context.Context, pool *run.Pool, f map[string]any) ([]byte, error) {
	appID, _ := pool.Get(run.Selector{"sys", "app_id"})
	id, _ := appID.(string)
	client, release := n.cs.client(n.timeouts)
	defer release()
	limit := n.cs.cfg.MaxBinarySize
	rd := files.NewReader(files.ReaderConfig{Store: n.cs.cfg.Uploads, Client: client, MaxBytes: limit})
	rc, err := rd.Open(ctx, id, f)
	if err == nil {
		defer rc.Close()
		var data []byte
		data, err = io.ReadAll(io.LimitReader(rc, limit+1))
		if err == nil && int64(len(data)) > limit {
			err = files.ErrTooLarge
		}
		if err == nil {
			return data, nil
		}
	}
	switch {
	case ctx.Err() != nil:
		return nil, context.Cause(ctx)
	case errors.Is(err, files.ErrTooLarge):
		return nil, sizeError(true, limit, "more than "+readableSize(limit))
	case errors.Is(err, ErrBlocked), errors.Is(err, errTooManyRedirects):
		target, _ := cmp.Or(f["remote_url"], f["url"]).(string)
		return nil, classifyError(target, err)
	}
	return nil, nodeErr(ErrTypeFileFetch, fmt.Errorf("cannot read file %q: %w", f["filename"], err))
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
		cdType = files.MimeByExt(path.Ext(cdName))
	}
	urlName := urlBase(reqURL)
	mimeType := cmp.Or(cdType, ct, files.MimeByExt(path.Ext(urlName)), "application/octet-stream")
	name := cdName
	if name == "" {
		name = cmp.Or(urlName, "file")
		if path.Ext(name) == "" {
			name += files.ExtByMime(mimeType)
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
	mimeType = cmp.Or(mimeType, files.MimeByExt(path.Ext(name)), "application/octet-stream")
	ext := files.ExtByMime(mimeType)
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
	mimeType = cmp.Or(mimeType, files.MimeByExt(path.Ext(name)), "application/octet-stream")
	ext := cmp.Or(strings.ToLower(path.Ext(name)), files.ExtByMime(mimeType))
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
		"type":                files.TypeOf(ext, mimeType),
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
