package docextract

import (
	"errors"
	"fmt"
)

// Kind is one of Dify's conversions.
type Kind string

// The conversions, named after Dify's _extract_text_from_* functions.
const (
	KindText       Kind = "plain_text"
	KindJSON       Kind = "json"
	KindYAML       Kind = "yaml"
	KindPDF        Kind = "pdf"
	KindDoc        Kind = "doc"
	KindDocx       Kind = "docx"
	KindCSV        Kind = "csv"
	KindExcel      Kind = "excel"
	KindPPT        Kind = "ppt"
	KindPPTX       Kind = "pptx"
	KindEPUB       Kind = "epub"
	KindEML        Kind = "eml"
	KindMSG        Kind = "msg"
	KindVTT        Kind = "vtt"
	KindProperties Kind = "properties"
)

// Dify's exception classes (document_extractor/exc.py), the error_type of
// a failed node.
const (
	TypeUnsupported = "UnsupportedFileTypeError"
	TypeExtraction  = "TextExtractionError"
	TypeDownload    = "FileDownloadError"
)

// ErrUnsupported is wrapped by the errors of files Dify cannot read by
// type; ErrExtraction by those of files whose conversion failed.
var (
	ErrUnsupported = errors.New("unsupported file type")
	ErrExtraction  = errors.New("text extraction failed")
)

// Error is a failed extraction with Dify's message.
type Error struct {
	// Type is Dify's exception class name.
	Type string
	// Msg is Dify's message, the node's error.
	Msg string
	// Err is the sentinel it wraps (ErrUnsupported or ErrExtraction).
	Err error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

func unsupported(format string, args ...any) error {
	return &Error{Type: TypeUnsupported, Msg: fmt.Sprintf(format, args...), Err: ErrUnsupported}
}

func failed(format string, args ...any) error {
	return &Error{Type: TypeExtraction, Msg: fmt.Sprintf(format, args...), Err: ErrExtraction}
}

// plainExtensions take the plain-text path.
var plainExtensions = map[string]bool{}

func init() {
	for _, e := range []string{".txt", ".markdown", ".md", ".mdx", ".html", ".htm", ".xml",
		".c", ".h", ".cpp", ".hpp", ".cc", ".cxx", ".c++", ".py", ".js", ".ts", ".jsx", ".tsx",
		".java", ".php", ".rb", ".go", ".rs", ".swift", ".kt", ".scala", ".sh", ".bash", ".bat",
		".ps1", ".sql", ".r", ".m", ".pl", ".lua", ".vim", ".asm", ".s", ".css", ".scss", ".less",
		".sass", ".ini", ".cfg", ".conf", ".toml", ".env", ".log", ".vtt"} {
		plainExtensions[e] = true
	}
}

var byExtension = map[string]Kind{
	".json": KindJSON, ".yaml": KindYAML, ".yml": KindYAML, ".pdf": KindPDF, ".doc": KindDoc,
	".docx": KindDocx, ".csv": KindCSV, ".xls": KindExcel, ".xlsx": KindExcel, ".ppt": KindPPT,
	".pptx": KindPPTX, ".epub": KindEPUB, ".eml": KindEML, ".msg": KindMSG, ".properties": KindProperties,
}

var byMIME = map[string]Kind{
	"text/plain": KindText, "text/html": KindText, "text/htm": KindText, "text/markdown": KindText,
	"text/xml": KindText, "application/pdf": KindPDF, "application/msword": KindDoc,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": KindDocx,
	"text/csv": KindCSV, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": KindExcel,
	"application/vnd.ms-excel": KindExcel, "application/vnd.ms-powerpoint": KindPPT,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": KindPPTX,
	"application/epub+zip": KindEPUB, "message/rfc822": KindEML, "application/vnd.ms-outlook": KindMSG,
	"application/json": KindJSON, "application/x-yaml": KindYAML, "text/yaml": KindYAML,
	"text/vtt": KindVTT, "text/properties": KindProperties,
}

// Classify picks the conversion as Dify does: by extension (with its dot,
// matched exactly) when the file has one, else by MIME type (matched
// exactly). Its errors are Dify's.
func Classify(ext, mime string) (Kind, error) {
	switch {
	case ext != "":
		if plainExtensions[ext] {
			return KindText, nil
		}
		if k, ok := byExtension[ext]; ok {
			return k, nil
		}
		return "", unsupported("Unsupported Extension Type: %s", ext)
	case mime != "":
		if k, ok := byMIME[mime]; ok {
			return k, nil
		}
		return "", unsupported("Unsupported MIME type: %s", mime)
	}
	return "", unsupported("Unable to determine file type: MIME type or file extension is missing")
}

// Binary reports whether k parses a container format (zip, OLE, PDF)
// with a library, the kinds that must run in a worker process.
func (k Kind) Binary() bool {
	switch k {
	case KindPDF, KindDocx, KindExcel, KindPPTX, KindEPUB, KindEML, KindDoc, KindPPT, KindMSG:
		return true
	}
	return false
}
