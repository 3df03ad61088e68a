package docextract

import (
	"errors"
	"sort"
	"strconv"
	"strings"
)

// pptxText is Dify's _extract_text_from_pptx: the texts of the elements
// of Unstructured's partition_pptx (0.16, python-pptx 1.0, default
// options: page breaks on, slide notes off, no picture partitioner)
// joined by "\n". Slides come in presentation order, each after the
// first preceded by a PageBreak element whose text is "". A slide's
// shapes, those of groups flattened in, are sorted (stably) by top then
// left, a placeholder without a position taking its layout's (by idx)
// or that layout placeholder's master one (by type). A text shape gives
// one element per paragraph that is not blank, its text unstripped
// (runs and fields, "\v" for a line break), unless it lies off the slide
// (top and left non-zero, one negative). A table gives one element, the
// text of Unstructured's HtmlTable: the cells' text whitespace-normalised
// and joined by " ", each cell cut at its first "\n" (its <br/> tail is
// dropped). Pictures, charts and connectors give nothing.
func pptxText(data []byte, lim Limits) (string, error) {
	a, err := openArchive(data, lim)
	if err != nil {
		return "", err
	}
	main, err := a.relTarget("", "officeDocument")
	if err != nil {
		return "", err
	}
	if main == "" || !a.has(main) {
		return "", errors.New("file is not a PowerPoint presentation: it has no main document part")
	}
	pres, err := a.readXML(main)
	if err != nil {
		return "", err
	}
	slides, err := a.relationships(main)
	if err != nil {
		return "", err
	}
	d := &deck{a: a, layouts: map[string]*layout{}}
	var out []string
	size := 0
	for i, id := range pres.all("sldId") {
		part, ok := slides[id.nsAttr("id")]
		if !ok {
			return "", errors.New("a slide of the presentation is missing")
		}
		if i > 0 {
			out = append(out, "")
		}
		texts, err := d.slide(part)
		if err != nil {
			return "", err
		}
		for _, t := range texts {
			size += len(t) + 1
		}
		if int64(size) > lim.MaxText {
			return "", errTextLimit(lim)
		}
		out = append(out, texts...)
	}
	return strings.Join(out, "\n"), nil
}

// deck reads the slides of one presentation, caching layouts.
type deck struct {
	a       *archive
	layouts map[string]*layout
}

// layout holds the placeholder positions a slide placeholder inherits.
type layout struct {
	byIdx  map[string]*xnode // the layout's first placeholder of each idx
	master map[string]*xnode // the master's first placeholder of each type
}

// slide returns the element texts of one slide.
func (d *deck) slide(part string) ([]string, error) {
	root, err := d.a.readXML(part)
	if err != nil {
		return nil, err
	}
	tree := root.path("sld", "cSld", "spTree")
	if tree == nil {
		return nil, nil
	}
	type placed struct {
		n         *xnode
		top, left int64
	}
	var shapes []placed
	var walk func(parent *xnode, top bool) error
	walk = func(parent *xnode, top bool) error {
		for _, k := range parent.kids {
			switch k.name {
			case "grpSp":
				if err := walk(k, false); err != nil {
					return err
				}
			case "sp", "graphicFrame", "cxnSp", "pic", "contentPart":
				off := offset(k)
				if off == nil && top && k.name == "sp" && placeholder(k) != nil {
					if off, err = d.inherited(part, placeholder(k)); err != nil {
						return err
					}
				}
				y, x := emu(off, "y"), emu(off, "x")
				shapes = append(shapes, placed{k, y, x})
			}
		}
		return nil
	}
	if err := walk(tree, true); err != nil {
		return nil, err
	}
	sort.SliceStable(shapes, func(i, j int) bool {
		if shapes[i].top != shapes[j].top {
			return shapes[i].top < shapes[j].top
		}
		return shapes[i].left < shapes[j].left
	})
	var out []string
	for _, s := range shapes {
		switch s.n.name {
		case "graphicFrame":
			if t := pptxTable(s.n); t != "" {
				out = append(out, t)
			}
		case "sp":
			if s.top != 0 && s.left != 0 && (s.top < 0 || s.left < 0) {
				continue
			}
			if body := s.n.child("txBody"); body != nil {
				for _, p := range body.children("p") {
					if t := pptxPara(p); pyStrip(t) != "" {
						out = append(out, t)
					}
				}
			}
		}
	}
	return out, nil
}

// offset is a shape's a:off, nil when it has none.
func offset(n *xnode) *xnode {
	if n.name == "graphicFrame" {
		return n.path("xfrm", "off")
	}
	for _, pr := range []string{"spPr", "grpSpPr"} {
		if o := n.path(pr, "xfrm", "off"); o != nil {
			return o
		}
	}
	return nil
}

// emu is coordinate attr of off, 0 when absent (python's `top or 0`).
func emu(off *xnode, attr string) int64 {
	if off == nil {
		return 0
	}
	v, _ := strconv.ParseInt(off.attr(attr), 10, 64)
	return v
}

// placeholder is the p:ph of a shape, nil when it is not a placeholder.
func placeholder(n *xnode) *xnode {
	for _, nv := range []string{"nvSpPr", "nvGraphicFramePr", "nvPicPr", "nvCxnSpPr", "nvGrpSpPr"} {
		if ph := n.path(nv, "nvPr", "ph"); ph != nil {
			return ph
		}
	}
	return nil
}

func phIdx(ph *xnode) string {
	if v := ph.attr("idx"); v != "" {
		return v
	}
	return "0"
}

func phType(ph *xnode) string {
	if v := ph.attr("type"); v != "" {
		return v
	}
	return "obj"
}

// masterType is python-pptx's LayoutPlaceholder._base_placeholder map
// from a layout placeholder's type to the master's.
var masterType = map[string]string{
	"body": "body", "chart": "body", "clipArt": "body", "ctrTitle": "title", "dgm": "body",
	"dt": "dt", "ftr": "ftr", "media": "body", "obj": "body", "pic": "body", "sldNum": "sldNum",
	"subTitle": "body", "tbl": "body", "title": "title",
}

// inherited is the a:off a slide placeholder without one inherits.
func (d *deck) inherited(slide string, ph *xnode) (*xnode, error) {
	part, err := d.a.relTarget(slide, "slideLayout")
	if err != nil || part == "" {
		return nil, err
	}
	l, ok := d.layouts[part]
	if !ok {
		if l, err = d.readLayout(part); err != nil {
			return nil, err
		}
		d.layouts[part] = l
	}
	base := l.byIdx[phIdx(ph)]
	if base == nil {
		return nil, nil
	}
	if off := offset(base); off != nil || base.name != "sp" {
		return off, nil
	}
	if m := l.master[masterType[phType(placeholder(base))]]; m != nil {
		return offset(m), nil
	}
	return nil, nil
}

func (d *deck) readLayout(part string) (*layout, error) {
	l := &layout{byIdx: map[string]*xnode{}, master: map[string]*xnode{}}
	if !d.a.has(part) {
		return l, nil
	}
	root, err := d.a.readXML(part)
	if err != nil {
		return nil, err
	}
	for _, s := range root.path("sldLayout", "cSld", "spTree").childrenOrNone() {
		if ph := placeholder(s); ph != nil {
			if _, dup := l.byIdx[phIdx(ph)]; !dup {
				l.byIdx[phIdx(ph)] = s
			}
		}
	}
	master, err := d.a.relTarget(part, "slideMaster")
	if err != nil || master == "" || !d.a.has(master) {
		return l, err
	}
	mroot, err := d.a.readXML(master)
	if err != nil {
		return nil, err
	}
	for _, s := range mroot.path("sldMaster", "cSld", "spTree").childrenOrNone() {
		if ph := placeholder(s); ph != nil {
			if _, dup := l.master[phType(ph)]; !dup {
				l.master[phType(ph)] = s
			}
		}
	}
	return l, nil
}

// pptxPara is python-pptx's _Paragraph.text.
func pptxPara(p *xnode) string {
	var b strings.Builder
	for _, k := range p.kids {
		switch k.name {
		case "r", "fld":
			if t := k.child("t"); t != nil {
				b.WriteString(t.innerText())
			}
		case "br":
			b.WriteByte('\v')
		}
	}
	return b.String()
}

// tableURI is the graphicData uri of a table.
const tableURI = "http://schemas.openxmlformats.org/drawingml/2006/table"

// pptxTable is the text of the Table element of a graphic frame holding
// a table, "" for one without text or for another graphic frame.
func pptxTable(frame *xnode) string {
	data := frame.path("graphic", "graphicData")
	if data == nil || data.attr("uri") != tableURI {
		return ""
	}
	var words []string
	for _, tr := range data.path("tbl").childrenOrNone() {
		if tr.name != "tr" {
			continue
		}
		for _, tc := range tr.children("tc") {
			var paras []string
			for _, p := range tc.path("txBody").childrenOrNone() {
				if p.name == "p" {
					paras = append(paras, pptxPara(p))
				}
			}
			first, _, _ := strings.Cut(strings.Join(paras, "\n"), "\n")
			words = append(words, pyFields(first)...)
		}
	}
	return strings.Join(words, " ")
}
