package docextract

import (
	"context"
	"errors"
	"fmt"
)

// Limits bound one extraction. Zero fields take the defaults.
type Limits struct {
	// MaxText bounds the text produced, in bytes (default
	// DefaultMaxText).
	MaxText int64
	// MaxEntry bounds the bytes decompressed from one zip entry (default
	// DefaultMaxEntry).
	MaxEntry int64
	// MaxUnzipped bounds the bytes decompressed from one zip archive in
	// total (default DefaultMaxUnzipped).
	MaxUnzipped int64
}

// The defaults of Limits.
const (
	DefaultMaxText     = 16 << 20
	DefaultMaxEntry    = 64 << 20
	DefaultMaxUnzipped = 256 << 20
)

// WithDefaults returns l with its zero fields set to the defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxText <= 0 {
		l.MaxText = DefaultMaxText
	}
	if l.MaxEntry <= 0 {
		l.MaxEntry = DefaultMaxEntry
	}
	if l.MaxUnzipped <= 0 {
		l.MaxUnzipped = DefaultMaxUnzipped
	}
	return l
}

// ErrTooLarge is wrapped by the error of an extraction that went past a
// limit.
var ErrTooLarge = errors.New("limit exceeded")

// errTextLimit is the error of a text longer than lim.MaxText.
func errTextLimit(lim Limits) error {
	return fmt.Errorf("%w: the text is longer than %d bytes", ErrTooLarge, lim.MaxText)
}

// labels are the words of Dify's "Failed to extract text from …".
var labels = map[Kind]string{
	KindPDF: "PDF", KindDoc: "DOC", KindDocx: "DOCX", KindCSV: "CSV", KindExcel: "Excel file",
	KindPPT: "PPTX", KindPPTX: "PPTX", KindEPUB: "EPUB", KindEML: "EML", KindMSG: "MSG",
	KindProperties: "properties file", KindVTT: "VTT", KindText: "plain text file",
}

// Extract converts data, a document of kind k, to text as Dify does. Its
// errors are *Error with Dify's message. It is bounded by lim but not
// protected against every hostile input: see the package comment.
func Extract(ctx context.Context, k Kind, data []byte, lim Limits) (string, error) {
	lim = lim.WithDefaults()
	text, err := guard(func() (string, error) { return convert(ctx, k, data, lim) })
	if err == nil && int64(len(text)) > lim.MaxText {
		err = errTextLimit(lim)
	}
	if err == nil {
		return text, nil
	}
	var de *Error
	if errors.As(err, &de) {
		return "", err
	}
	switch k {
	case KindJSON:
		return "", failed("Failed to decode or parse JSON file: %v", err)
	case KindYAML:
		return "", failed("Failed to decode or parse YAML file: %v", err)
	case KindText:
		return "", failed("Failed to decode plain text file: %v", err)
	}
	return "", failed("Failed to extract text from %s: %v", labels[k], err)
}

// guard runs a conversion; a parser that panics on a hostile document
// fails the extraction, and the worker process lives on.
func guard(conv func() (string, error)) (text string, err error) {
	defer func() {
		if p := recover(); p != nil {
			text, err = "", fmt.Errorf("%w: the parser failed: %v", ErrExtraction, p)
		}
	}()
	return conv()
}

func convert(ctx context.Context, k Kind, data []byte, lim Limits) (string, error) {
	switch k {
	case KindText:
		return decodeText(data), nil
	case KindJSON:
		return jsonText(data)
	case KindYAML:
		return yamlText(data)
	case KindCSV:
		return csvText(data, lim)
	case KindProperties:
		return propertiesText(data), nil
	case KindVTT:
		return vttText(data)
	case KindDocx:
		return docxText(data, lim)
	case KindExcel:
		return excelText(data, lim)
	case KindPDF:
		return pdfText(ctx, data, lim)
	case KindPPTX:
		return pptxText(data, lim)
	case KindEPUB:
		return epubText(data, lim)
	case KindEML:
		return emlText(data, lim)
	case KindDoc:
		// Dify reads .doc only through the Unstructured API.
		return "", failed("UNSTRUCTURED_API_URL must be set")
	case KindPPT, KindMSG:
		return "", errors.New("this binary Office format is not supported by flowrun; convert it to its XML successor (pptx, eml)")
	}
	return "", unsupported("Unsupported Extension Type: %s", k)
}

// InProcess extracts in the calling process, without the isolation of
// Workers: for tests and for documents that are trusted.
type InProcess struct {
	Limits Limits
}

// Extract converts data, a document of kind k, with Extract.
func (p InProcess) Extract(ctx context.Context, k Kind, data []byte) (string, error) {
	return Extract(ctx, k, data, p.Limits)
}
