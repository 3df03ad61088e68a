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

// rel is one relationship of a part.
type rel struct {
	id, typ, target string
}

// rels reads a part's internal relationships, in order; part "" is the
// package itself (_rels/.rels).
func (a *archive) rels(part string) ([]rel, error) {
	name := path.Join(path.Dir(part), "_rels", path.Base(part)+".rels")
	if part == "" {
		name = "_rels/.rels"
	}
	if !a.has(name) {
		return nil, nil
	}
	root, err := a.readXML(name)
	if err != nil {
		return nil, err
	}
	var out []rel
	for _, r := range root.all("Relationship") {
		if r.attr("TargetMode") == "External" {
			continue
		}
		out = append(out, rel{id: r.attr("Id"), typ: r.attr("Type"), target: resolve(part, r.attr("Target"))})
	}
	return out, nil
}

// relationships reads the targets of a part's relationships by id.
func (a *archive) relationships(part string) (map[string]string, error) {
	rs, err := a.rels(part)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(rs))
	for _, r := range rs {
		out[r.id] = r.target
	}
	return out, nil
}

// relTarget returns the target of the first relationship of part whose
// type ends in "/"+kind ("" when there is none).
func (a *archive) relTarget(part, kind string) (string, error) {
	rs, err := a.rels(part)
	if err != nil {
		return "", err
	}
	for _, r := range rs {
		if strings.HasSuffix(r.typ, "/"+kind) {
			return r.target, nil
		}
	}
	return "", nil
}

// readXML reads entry name and parses it.
func (a *archive) readXML(name string) (*xnode, error) {
	b, err := a.read(name)
	if err != nil {
		return nil, err
	}
	return parseXML(b)
}
