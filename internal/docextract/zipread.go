package docextract

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"path"
	"strings"
)

// archive reads the entries of a zip (docx, xlsx, pptx, epub) within
// Limits: no entry may decompress to more than MaxEntry bytes and the
// entries read may not add up to more than MaxUnzipped, whatever sizes
// the archive declares.
type archive struct {
	zr    *zip.Reader
	files map[string]*zip.File
	lim   Limits
	total int64
}

func openArchive(data []byte, lim Limits) (*archive, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("file is not a zip file: %w", err)
	}
	a := &archive{zr: zr, files: make(map[string]*zip.File, len(zr.File)), lim: lim}
	for _, f := range zr.File {
		a.files[strings.TrimPrefix(f.Name, "/")] = f
	}
	return a, nil
}

// has reports whether the archive holds name.
func (a *archive) has(name string) bool { _, ok := a.files[name]; return ok }

// read returns the decompressed bytes of entry name.
func (a *archive) read(name string) ([]byte, error) {
	f, ok := a.files[name]
	if !ok {
		return nil, fmt.Errorf("there is no item named '%s' in the archive", name)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	limit := min(a.lim.MaxEntry, a.lim.MaxUnzipped-a.total)
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	a.total += int64(len(b))
	if int64(len(b)) > limit {
		if limit < a.lim.MaxEntry {
			return nil, fmt.Errorf("%w: the archive decompresses to more than %d bytes", ErrTooLarge, a.lim.MaxUnzipped)
		}
		return nil, fmt.Errorf("%w: %s decompresses to more than %d bytes", ErrTooLarge, name, a.lim.MaxEntry)
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// resolve returns the entry path of target, relative to the part base.
func resolve(base, target string) string {
	if strings.HasPrefix(target, "/") {
		return strings.TrimPrefix(path.Clean(target), "/")
	}
	return path.Join(path.Dir(base), target)
}

// relationships reads the targets of a part's relationships by id.
func (a *archive) relationships(part string) (map[string]string, error) {
	name := path.Join(path.Dir(part), "_rels", path.Base(part)+".rels")
	out := map[string]string{}
	if !a.has(name) {
		return out, nil
	}
	b, err := a.read(name)
	if err != nil {
		return nil, err
	}
	root, err := parseXML(b)
	if err != nil {
		return nil, err
	}
	for _, r := range root.all("Relationship") {
		if r.attr("TargetMode") == "External" {
			continue
		}
		out[r.attr("Id")] = resolve(part, r.attr("Target"))
	}
	return out, nil
}
