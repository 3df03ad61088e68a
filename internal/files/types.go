package files

import (
	"mime"
	"strings"
)

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

// ExtByMime returns the extension (with its dot) Python's
// mimetypes.guess_extension gives media type t, ".bin" when it knows none.
func ExtByMime(t string) string {
	if e, ok := extensions[t]; ok {
		return e
	}
	if es, err := mime.ExtensionsByType(t); err == nil && len(es) > 0 {
		return es[0]
	}
	return ".bin"
}

// MimeByExt returns the media type of extension ext (with its dot, any
// case), "" when it is unknown.
func MimeByExt(ext string) string {
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

// File type extension lists of Dify's core.file.constants. Documents are
// Dify's list with ETL_TYPE=Unstructured (doc, eml, msg, pptx, xml, epub and
// ppt as well), since flowrun's document extractor reads those.
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

// TypeOf is Dify's _standardize_file_type: by extension, then by media
// type, else custom.
func TypeOf(ext, mimeType string) string {
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
