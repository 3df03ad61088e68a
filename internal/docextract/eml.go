package docextract

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"

	"golang.org/x/text/encoding/htmlindex"
)

// emlText is Dify's _extract_text_from_eml: the element texts of
// Unstructured 0.16's partition_email (default content_source
// "text/html") joined by "\n". Headers give no element (they are
// metadata). The body is Python's msg.get_body(("html", "plain")): the
// first text/html part, else the first text/plain one, not attachments,
// multipart/related reduced to its start part; its content decoded (the
// transfer encoding, then the charset, "ASCII" by default, errors
// replaced) is partitioned by partition_html or partition_text.
// Attachments are not read (Unstructured partitions them with its auto
// partitioner; see docs/nodes.md).
func emlText(data []byte, lim Limits) (string, error) {
	p, err := readPart(bufio.NewReader(bytes.NewReader(data)), 0)
	if err != nil {
		return "", err
	}
	body := findBody(p, p.multipart())
	if body == nil {
		return "", nil
	}
	content, err := body.content()
	if err != nil {
		return "", err
	}
	var els []string
	if body.mediaType == "text/html" {
		if els, err = htmlElements(content); err != nil {
			return "", err
		}
	} else {
		els = textElements(content)
	}
	return strings.Join(els, "\n"), nil
}

// maxMIMEDepth bounds multipart nesting; maxMIMEParts the parts read.
const (
	maxMIMEDepth = 64
	maxMIMEParts = 10000
)

// mimePart is one part of a message, its sub-parts read when multipart.
type mimePart struct {
	header    textproto.MIMEHeader
	mediaType string
	params    map[string]string
	raw       []byte
	parts     []*mimePart
}

func (p *mimePart) multipart() bool { return strings.HasPrefix(p.mediaType, "multipart/") }

func readPart(r *bufio.Reader, depth int) (*mimePart, error) {
	h, err := textproto.NewReader(r).ReadMIMEHeader()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return newPart(h, raw, depth)
}

func newPart(h textproto.MIMEHeader, raw []byte, depth int) (*mimePart, error) {
	p := &mimePart{header: h, raw: raw, mediaType: "text/plain"}
	if mt, params, err := mime.ParseMediaType(h.Get("Content-Type")); err == nil && strings.Contains(mt, "/") {
		p.mediaType, p.params = mt, params
	}
	if !p.multipart() || p.params["boundary"] == "" {
		return p, nil
	}
	if depth >= maxMIMEDepth {
		return nil, errors.New("the message's multipart parts are nested too deeply")
	}
	mr := multipart.NewReader(bytes.NewReader(raw), p.params["boundary"])
	for len(p.parts) < maxMIMEParts {
		sub, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// Python's parser keeps what it could read (a defect).
			break
		}
		// A part cut short (no closing boundary) keeps what was read,
		// as Python's parser does.
		b, readErr := io.ReadAll(sub)
		child, err := newPart(sub.Header, b, depth+1)
		if err != nil {
			return nil, err
		}
		p.parts = append(p.parts, child)
		if readErr != nil {
			break
		}
	}
	return p, nil
}

// attachment is Python's is_attachment.
func (p *mimePart) attachment() bool {
	d, _, err := mime.ParseMediaType(p.header.Get("Content-Disposition"))
	return err == nil && d == "attachment"
}

// findBody is Python's get_body(preferencelist=("html", "plain"))
// (MIMEPart._find_body; top is whether the message is multipart).
func findBody(msg *mimePart, top bool) *mimePart {
	var best *mimePart
	bestPrio := 2
	var walk func(p *mimePart) bool
	walk = func(p *mimePart) bool {
		if p.attachment() {
			return false
		}
		main, sub, _ := strings.Cut(p.mediaType, "/")
		if main == "text" {
			prio := map[string]int{"html": 0, "plain": 1}
			if n, ok := prio[sub]; ok && n < bestPrio {
				best, bestPrio = p, n
				return n == 0
			}
			return false
		}
		if main != "multipart" || !top {
			return false
		}
		if sub != "related" {
			for _, c := range p.parts {
				if walk(c) {
					return true
				}
			}
			return false
		}
		var candidate *mimePart
		if start := p.params["start"]; start != "" {
			for _, c := range p.parts {
				if c.header.Get("Content-Id") == start {
					candidate = c
					break
				}
			}
		}
		if candidate == nil && len(p.parts) > 0 {
			candidate = p.parts[0]
		}
		return candidate != nil && walk(candidate)
	}
	walk(msg)
	return best
}

// content is Python's get_content() of a text part.
func (p *mimePart) content() (string, error) {
	b := p.raw
	switch strings.ToLower(strings.TrimSpace(p.header.Get("Content-Transfer-Encoding"))) {
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '/' {
				return r
			}
			return -1
		}, b)
		if len(clean)%4 == 1 { // a lone sextet decodes to nothing
			clean = clean[:len(clean)-1]
		}
		dec, err := base64.RawStdEncoding.DecodeString(string(clean))
		if err != nil {
			return "", err
		}
		b = dec
	case "quoted-printable":
		dec, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
		if err != nil {
			return "", err
		}
		b = dec
	}
	charset := strings.ToLower(p.params["charset"])
	switch charset {
	case "", "ascii", "us-ascii":
		return asciiReplace(b), nil
	case "utf-8", "utf8":
		return strings.ToValidUTF8(string(b), "\ufffd"), nil
	}
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return "", errors.New("unknown encoding: " + charset)
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// asciiReplace is bytes.decode("ascii", errors="replace").
func asciiReplace(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c >= 0x80 {
			sb.WriteRune('\ufffd')
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}
