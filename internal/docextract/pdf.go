package docextract

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/klippa-app/go-pdfium"
	pdferrors "github.com/klippa-app/go-pdfium/errors"
	"github.com/klippa-app/go-pdfium/references"
	"github.com/klippa-app/go-pdfium/requests"
	"github.com/klippa-app/go-pdfium/webassembly"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// PDFs are read by PDFium, the library behind Dify's pypdfium2, compiled
// to WebAssembly (github.com/klippa-app/go-pdfium) and run by wazero: the
// same text, and PDFium's memory is a bounded WebAssembly memory. Text is
// read as pypdfium2's get_text_range does (FPDFText_GetText over every
// character of the page, "\r\n" between lines), pages concatenated.

// PDFConfig configures the PDF engine of this process.
type PDFConfig struct {
	// CacheDir keeps the compiled PDFium between processes (compiling
	// takes seconds; loading from the cache, a fraction of one). Default
	// the user cache directory's flowrun/pdfium; "-" for none.
	CacheDir string
	// MemoryLimit bounds PDFium's memory in bytes (default 512 MiB).
	MemoryLimit int64
}

var pdfEngine struct {
	mu   sync.Mutex
	cfg  PDFConfig
	once sync.Once
	inst pdfium.Pdfium
	err  error
}

// SetPDFConfig configures the PDF engine; it has no effect once a PDF has
// been read.
func SetPDFConfig(c PDFConfig) {
	pdfEngine.mu.Lock()
	defer pdfEngine.mu.Unlock()
	pdfEngine.cfg = c
}

func pdfInstance() (pdfium.Pdfium, error) {
	pdfEngine.once.Do(func() {
		cfg := pdfEngine.cfg
		limit := cfg.MemoryLimit
		if limit <= 0 {
			limit = 512 << 20
		}
		rc := wazero.NewRuntimeConfig().
			WithCoreFeatures(api.CoreFeaturesV2 | experimental.CoreFeaturesExceptionHandling).
			WithMemoryLimitPages(uint32(min(limit>>16, 65536)))
		if dir := pdfCacheDir(cfg.CacheDir); dir != "" {
			if cache, err := wazero.NewCompilationCacheWithDir(dir); err == nil {
				rc = rc.WithCompilationCache(cache)
			}
		}
		pool, err := webassembly.Init(webassembly.Config{MinIdle: 1, MaxIdle: 1, MaxTotal: 1, RuntimeConfig: rc})
		if err != nil {
			pdfEngine.err = fmt.Errorf("start PDFium: %w", err)
			return
		}
		pdfEngine.inst, pdfEngine.err = pool.GetInstance(time.Minute)
	})
	return pdfEngine.inst, pdfEngine.err
}

func pdfCacheDir(dir string) string {
	switch dir {
	case "-":
		return ""
	case "":
		base, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(base, "flowrun", "pdfium")
	}
	if os.MkdirAll(dir, 0o700) != nil {
		return ""
	}
	return dir
}

// pdfText is Dify's _extract_text_from_pdf.
func pdfText(ctx context.Context, data []byte, lim Limits) (string, error) {
	inst, err := pdfInstance()
	if err != nil {
		return "", err
	}
	pdfEngine.mu.Lock()
	defer pdfEngine.mu.Unlock()
	doc, err := inst.OpenDocument(&requests.OpenDocument{File: &data})
	if err != nil {
		return "", pdfError(err)
	}
	defer inst.FPDF_CloseDocument(&requests.FPDF_CloseDocument{Document: doc.Document})
	n, err := inst.FPDF_GetPageCount(&requests.FPDF_GetPageCount{Document: doc.Document})
	if err != nil {
		return "", pdfError(err)
	}
	var b strings.Builder
	for i := range n.PageCount {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		text, err := pageText(inst, doc.Document, i)
		if err != nil {
			return "", pdfError(err)
		}
		b.WriteString(text)
		if int64(b.Len()) > lim.MaxText {
			return "", errTextLimit(lim)
		}
	}
	return b.String(), nil
}

func pageText(inst pdfium.Pdfium, doc references.FPDF_DOCUMENT, i int) (string, error) {
	page, err := inst.FPDF_LoadPage(&requests.FPDF_LoadPage{Document: doc, Index: i})
	if err != nil {
		return "", err
	}
	defer inst.FPDF_ClosePage(&requests.FPDF_ClosePage{Page: page.Page})
	tp, err := inst.FPDFText_LoadPage(&requests.FPDFText_LoadPage{Page: requests.Page{ByReference: &page.Page}})
	if err != nil {
		return "", err
	}
	defer inst.FPDFText_ClosePage(&requests.FPDFText_ClosePage{TextPage: tp.TextPage})
	count, err := inst.FPDFText_CountChars(&requests.FPDFText_CountChars{TextPage: tp.TextPage})
	if err != nil || count.Count <= 0 {
		return "", err
	}
	t, err := inst.FPDFText_GetText(&requests.FPDFText_GetText{TextPage: tp.TextPage, StartIndex: 0, Count: count.Count})
	if err != nil {
		return "", err
	}
	return t.Text, nil
}

// pdfError words PDFium's failures as pypdfium2 does where they match.
func pdfError(err error) error {
	switch {
	case errors.Is(err, pdferrors.ErrFormat):
		return errors.New("Failed to load document (PDFium: Data format error).") //nolint:staticcheck // pypdfium2's words
	case errors.Is(err, pdferrors.ErrPassword):
		return errors.New("Failed to load document (PDFium: Incorrect password error).") //nolint:staticcheck // pypdfium2's words
	}
	return err
}
