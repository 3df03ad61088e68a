package docextract

import (
	"errors"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// Unstructured's partition_html (0.16, the v1 parser of
// unstructured/partition/html/parser.py) as far as element texts go, over
// golang.org/x/net/html's tree instead of lxml's.

// htmlRole is the parser.py class an element's tag maps to.
type htmlRole int

const (
	roleDefault  htmlRole = iota // unknown: phrasing whose content is dropped
	roleFlow                     // div-like
	roleHeading                  // h1-h6: Title
	roleBlock                    // p
	rolePre                      // pre: whitespace kept
	roleListItem                 // li: ListItem
	roleTable                    // table: one Table
	roleRemoved                  // RemovedBlock
	rolePhrasing                 // inline, text kept
	roleBreak                    // br: "\n"
	roleStripped                 // RemovedPhrasing, and the elements stripped first
)

var htmlRoles = map[string]htmlRole{}

func init() {
	set := func(r htmlRole, tags string) {
		for _, t := range strings.Fields(tags) {
			htmlRoles[t] = r
		}
	}
	set(roleFlow, "address article aside blockquote body center div footer header hgroup main section ol ul")
	set(roleHeading, "h1 h2 h3 h4 h5 h6")
	set(roleBlock, "p")
	set(rolePre, "pre")
	set(roleListItem, "li")
	set(roleTable, "table")
	set(roleRemoved, "details dl dd dt figure hr nav template form input summary")
	set(rolePhrasing, "a b em i strong abbr bdi bdo big cite code data dfn kbd mark meter q s samp small span strike sub sup time tt u var wbr")
	set(roleBreak, "br")
	// button and label are RemovedPhrasing; del img link meta noscript
	// script style are stripped before parsing, their tails kept, which
	// comes to the same.
	set(roleStripped, "button label del img link meta noscript script style")
}

func role(n *html.Node) htmlRole {
	if n.Type != html.ElementNode {
		return roleDefault
	}
	return htmlRoles[n.Data]
}

func phrasing(r htmlRole) bool {
	return r == roleDefault || r == rolePhrasing || r == roleBreak || r == roleStripped
}

// maxHTMLDepth bounds the element nesting walked (the walk recurses).
const maxHTMLDepth = 512

// htmlElements returns the element texts of partition_html(text=s).
func htmlElements(s string) ([]string, error) {
	doc, err := html.ParseWithOptions(strings.NewReader(s), html.ParseOptionEnableScripting(false))
	if err != nil {
		return nil, err
	}
	root := find(doc, "main", 0)
	if root == nil {
		root = find(doc, "body", 0)
	}
	if root == nil {
		return nil, nil
	}
	w := &htmlWalk{}
	w.flow(root, roleFlow, 0)
	return w.out, w.err
}

func find(n *html.Node, tag string, depth int) *html.Node {
	if depth > maxHTMLDepth {
		return nil
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.Data == tag {
			return c
		}
		if f := find(c, tag, depth+1); f != nil {
			return f
		}
	}
	return nil
}

type htmlWalk struct {
	out []string
	err error
}

var errHTMLDepth = errors.New("HTML nested too deeply")

// flow is Flow.iter_elements: runs of text and phrasing between block
// children become elements; the element's own class (Title, ListItem)
// applies to the first run only.
func (w *htmlWalk) flow(n *html.Node, r htmlRole, depth int) {
	if depth > maxHTMLDepth {
		w.err = errHTMLDepth
		return
	}
	switch r {
	case roleRemoved:
		return
	case roleTable:
		w.table(n)
		return
	}
	acc := &accum{pre: r == rolePre, cls: r}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		switch {
		case c.Type == html.TextNode:
			acc.text.WriteString(c.Data)
		case c.Type != html.ElementNode:
		case phrasing(role(c)):
			w.phrase(c, acc, depth+1)
		default:
			w.flush(acc)
			w.flow(c, role(c), depth+1)
			acc.cls = roleDefault
		}
	}
	w.flush(acc)
}

// accum is an _ElementAccumulator.
type accum struct {
	text strings.Builder
	pre  bool
	cls  htmlRole // roleHeading and roleListItem keep any text
}

// phrase adds the text of phrasing element n to acc; block elements
// nested in it (invalid, accepted) flush acc and become elements.
func (w *htmlWalk) phrase(n *html.Node, acc *accum, depth int) {
	if depth > maxHTMLDepth {
		w.err = errHTMLDepth
		return
	}
	switch role(n) {
	case roleBreak:
		acc.text.WriteByte('\n')
		return
	case roleDefault, roleStripped:
		return
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		switch {
		case c.Type == html.TextNode:
			acc.text.WriteString(c.Data)
		case c.Type != html.ElementNode:
		case phrasing(role(c)):
			w.phrase(c, acc, depth+1)
		default:
			w.flush(acc)
			w.flow(c, role(c), depth+1)
		}
	}
}

// flush is _ElementAccumulator.flush: the text normalised (or, in a pre,
// with one leading and one trailing newline removed); without a class
// from its element, a text shorter than two characters is dropped and a
// bulleted one has its bullet cleaned.
func (w *htmlWalk) flush(acc *accum) {
	raw := acc.text.String()
	acc.text.Reset()
	var t string
	if acc.pre {
		t = strings.TrimSuffix(strings.TrimPrefix(raw, "\n"), "\n")
	} else {
		t = strings.Join(pyFields(raw), " ")
	}
	if t == "" {
		return
	}
	if acc.cls != roleHeading && acc.cls != roleListItem {
		switch {
		case bulleted(pyStrip(t)):
			if t = cleanBullets(t); t == "" {
				return
			}
		case utf8.RuneCountInString(t) < 2:
			return
		}
	}
	w.out = append(w.out, t)
}

// table is TableBlock.iter_elements: each row's non-empty cells (a cell
// being the stripped non-blank text nodes below it joined by " ") joined
// by " ", the rows joined by " " (an empty row leaving two spaces).
func (w *htmlWalk) table(t *html.Node) {
	var rows []*html.Node
	for c := t.FirstChild; c != nil; c = c.NextSibling {
		switch {
		case c.Type != html.ElementNode:
		case c.Data == "tr":
			rows = append(rows, c)
		case c.Data == "thead" || c.Data == "tbody" || c.Data == "tfoot":
			for r := c.FirstChild; r != nil; r = r.NextSibling {
				if r.Type == html.ElementNode && r.Data == "tr" {
					rows = append(rows, r)
				}
			}
		}
	}
	rowTexts := make([]string, len(rows))
	for i, tr := range rows {
		var cells []string
		for td := tr.FirstChild; td != nil; td = td.NextSibling {
			if td.Type != html.ElementNode || (td.Data != "td" && td.Data != "th") {
				continue
			}
			var texts []string
			nodeTexts(td, &texts, 0)
			if cell := strings.Join(texts, " "); cell != "" {
				cells = append(cells, cell)
			}
		}
		rowTexts[i] = strings.Join(cells, " ")
	}
	if t := pyStrip(strings.Join(rowTexts, " ")); t != "" {
		w.out = append(w.out, t)
	}
}

// nodeTexts appends the stripped, non-blank text nodes below n
// (lxml's itertext, the stripped elements excluded).
func nodeTexts(n *html.Node, out *[]string, depth int) {
	if depth > maxHTMLDepth {
		return
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		switch {
		case c.Type == html.TextNode:
			if s := pyStrip(c.Data); s != "" {
				*out = append(*out, s)
			}
		case c.Type == html.ElementNode:
			switch c.Data {
			case "del", "img", "link", "meta", "noscript", "script", "style":
				continue
			}
			nodeTexts(c, out, depth+1)
		}
	}
}
