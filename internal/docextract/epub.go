package docextract

import (
	"errors"
	"net/url"
	"strings"
)

// epubText is Dify's _extract_text_from_epub: Unstructured 0.16's
// partition_epub converts the book to HTML with pandoc and partitions it
// with partition_html, element texts joined by "\n". flowrun partitions
// the XHTML documents of the spine (META-INF/container.xml's package
// document, its manifest and spine order) one after the other with the
// same HTML partitioner as .eml bodies (htmlElements): pandoc's HTML
// keeps the books' blocks (headings, paragraphs, lists, tables), so the
// texts agree but where pandoc rewrites a structure (loose inline text
// becoming a paragraph, figures, notes).
func epubText(data []byte, lim Limits) (string, error) {
	a, err := openArchive(data, lim)
	if err != nil {
		return "", err
	}
	if !a.has("META-INF/container.xml") {
		return "", errors.New("file is not an EPUB: META-INF/container.xml is missing")
	}
	container, err := a.readXML("META-INF/container.xml")
	if err != nil {
		return "", err
	}
	roots := container.all("rootfile")
	if len(roots) == 0 {
		return "", errors.New("the EPUB has no package document")
	}
	opfPath := roots[0].attr("full-path")
	opf, err := a.readXML(opfPath)
	if err != nil {
		return "", err
	}
	hrefs := map[string]string{}
	for _, item := range opf.all("item") {
		hrefs[item.attr("id")] = item.attr("href")
	}
	var out []string
	size := 0
	for _, ref := range opf.all("itemref") {
		href, ok := hrefs[ref.attr("idref")]
		if !ok {
			continue
		}
		if u, err := url.PathUnescape(href); err == nil {
			href = u
		}
		name := resolve(opfPath, strings.SplitN(href, "#", 2)[0])
		if !a.has(name) {
			continue
		}
		b, err := a.read(name)
		if err != nil {
			return "", err
		}
		els, err := htmlElements(string(b))
		if err != nil {
			return "", err
		}
		for _, e := range els {
			size += len(e) + 1
		}
		if int64(size) > lim.MaxText {
			return "", errTextLimit(lim)
		}
		out = append(out, els...)
	}
	return strings.Join(out, "\n"), nil
}
