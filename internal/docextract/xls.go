package docextract

import (
	"encoding/binary"
	"errors"
	"math"
	"regexp"
	"strings"
	"unicode/utf16"
)

// BIFF8 record types read (see [MS-XLS] 2.3).
const (
	recFormula    = 0x0006
	recEOF        = 0x000A
	recDateMode   = 0x0022
	recFilePass   = 0x002F
	recContinue   = 0x003C
	recBoundSheet = 0x0085
	recMulRK      = 0x00BD
	recXF         = 0x00E0
	recSST        = 0x00FC
	recLabelSST   = 0x00FD
	recRString    = 0x00D6
	recNumber     = 0x0203
	recLabel      = 0x0204
	recBoolErr    = 0x0205
	recString     = 0x0207
	recRK         = 0x027E
	recFormat     = 0x041E
	recBOF        = 0x0809
)

var errBIFF = errors.New("not a BIFF8 workbook (only Excel 97-2003 .xls is read)")

// xlsSheets reads a legacy .xls (BIFF8 in an OLE2 container) as xlrd 2
// does for pandas: the worksheets in BOUNDSHEET order, each as the rows
// of cells pandas' _parse_cell converts (numbers are floats made int when
// whole, dates by the cell's XF number format, booleans, errors as NaN;
// BLANK cells are not read, as with formatting_info=False).
func xlsSheets(data []byte) ([][][]any, error) {
	stream, err := cfbStream(data, "Workbook")
	if err != nil {
		return nil, err
	}
	recs := biffRecords(stream, 0)
	bof, ok := recs.next()
	if !ok || bof.id != recBOF || len(bof.body) < 4 || binary.LittleEndian.Uint16(bof.body) != 0x0600 {
		return nil, errBIFF
	}
	bk := &xlsBook{formats: map[uint16]bool{}, sys: dateSystem{xlrd: true}}
	var sheets []uint32
	for r, ok := recs.next(); ok && r.id != recEOF; r, ok = recs.next() {
		le := binary.LittleEndian
		switch r.id {
		case recFilePass:
			return nil, errors.New("Workbook is encrypted") //nolint:staticcheck // xlrd's words
		case recDateMode:
			bk.sys.date1904 = len(r.body) >= 2 && le.Uint16(r.body) == 1
		case recFormat:
			if len(r.body) >= 2 {
				s, _ := unicodeString(&segments{segs: [][]byte{r.body[2:]}}, 2)
				bk.formats[le.Uint16(r.body)] = isDateFormatString(s)
			}
		case recXF:
			if len(r.body) >= 4 {
				bk.xfFormats = append(bk.xfFormats, le.Uint16(r.body[2:]))
			}
		case recBoundSheet:
			if len(r.body) >= 6 && r.body[5] == 0 { // a worksheet
				sheets = append(sheets, le.Uint32(r.body))
			}
		case recSST:
			segs := [][]byte{r.body}
			for recs.peek() == recContinue {
				c, _ := recs.next()
				segs = append(segs, c.body)
			}
			bk.sst = readSST(segs)
		}
	}
	out := make([][][]any, 0, len(sheets))
	for _, pos := range sheets {
		g, err := bk.sheet(stream, pos)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

type xlsBook struct {
	sst       []string
	formats   map[uint16]bool // FORMAT records: a date format
	xfFormats []uint16        // by XF index: its format
	sys       dateSystem
}

// isDate is xlrd's cell type of an XF: the FORMAT record's string when
// there is one, else the built-in format's type.
func (bk *xlsBook) isDate(xf uint16) bool {
	if int(xf) >= len(bk.xfFormats) {
		return false
	}
	f := bk.xfFormats[xf]
	if d, ok := bk.formats[f]; ok {
		return d
	}
	return f >= 14 && f <= 22 || f >= 27 && f <= 36 || f >= 45 && f <= 47 || f >= 50 && f <= 58 || f >= 71 && f <= 81
}

func (bk *xlsBook) number(xf uint16, f float64) any {
	return bk.sys.value(cell{kind: kindNumber, num: f, date: bk.isDate(xf)})
}

// sheet reads the worksheet substream at pos.
func (bk *xlsBook) sheet(stream []byte, pos uint32) ([][]any, error) {
	if int64(pos) >= int64(len(stream)) {
		return nil, errBIFF
	}
	recs := biffRecords(stream, int(pos))
	if r, ok := recs.next(); !ok || r.id != recBOF {
		return nil, errBIFF
	}
	le := binary.LittleEndian
	var g grid
	for r, ok := recs.next(); ok && r.id != recEOF; r, ok = recs.next() {
		b := r.body
		if len(b) < 6 {
			continue
		}
		row, col, xf := int(le.Uint16(b)), int(le.Uint16(b[2:])), le.Uint16(b[4:])
		switch r.id {
		case recNumber:
			if len(b) >= 14 {
				g.set(row, col, bk.number(xf, math.Float64frombits(le.Uint64(b[6:]))))
			}
		case recRK:
			if len(b) >= 10 {
				g.set(row, col, bk.number(xf, rkValue(le.Uint32(b[6:]))))
			}
		case recMulRK:
			for i := 4; i+6 <= len(b)-2; i += 6 {
				g.set(row, col, bk.number(le.Uint16(b[i:]), rkValue(le.Uint32(b[i+2:]))))
				col++
			}
		case recLabelSST:
			if len(b) >= 10 {
				i := le.Uint32(b[6:])
				s := ""
				if int64(i) < int64(len(bk.sst)) {
					s = bk.sst[i]
				}
				g.set(row, col, s)
			}
		case recLabel, recRString:
			s, _ := unicodeString(&segments{segs: [][]byte{b[6:]}}, 2)
			g.set(row, col, s)
		case recBoolErr:
			if len(b) >= 8 {
				k := kindBool
				if b[7] != 0 {
					k = kindError
				}
				g.set(row, col, bk.sys.value(cell{kind: k, num: float64(b[6])}))
			}
		case recFormula:
			if len(b) < 14 {
				continue
			}
			res := b[6:14]
			if res[6] != 0xFF || res[7] != 0xFF {
				g.set(row, col, bk.number(xf, math.Float64frombits(le.Uint64(res))))
				continue
			}
			switch res[0] {
			case 0: // the text follows in a STRING record
				s := ""
				if recs.peek() == recString {
					n, _ := recs.next()
					s, _ = unicodeString(&segments{segs: [][]byte{n.body}}, 2)
				}
				g.set(row, col, s)
			case 1:
				g.set(row, col, res[2] != 0)
			case 2:
				g.set(row, col, math.NaN())
			case 3:
				g.set(row, col, "")
			}
		}
	}
	return g.rows()
}

// rkValue is an RK number ([MS-XLS] 2.5.217).
func rkValue(rk uint32) float64 {
	var f float64
	if rk&2 != 0 {
		f = float64(int32(rk) >> 2)
	} else {
		f = math.Float64frombits(uint64(rk&^3) << 32)
	}
	if rk&1 != 0 {
		f /= 100
	}
	return f
}

type biffRecord struct {
	id   uint16
	body []byte
}

// biffReader walks a BIFF stream's records from an offset; a record
// cut short ends the walk.
type biffReader struct {
	b   []byte
	off int
}

func biffRecords(b []byte, off int) *biffReader { return &biffReader{b: b, off: off} }

func (r *biffReader) next() (biffRecord, bool) {
	if r.off+4 > len(r.b) {
		return biffRecord{}, false
	}
	id := binary.LittleEndian.Uint16(r.b[r.off:])
	n := int(binary.LittleEndian.Uint16(r.b[r.off+2:]))
	if r.off+4+n > len(r.b) {
		return biffRecord{}, false
	}
	body := r.b[r.off+4 : r.off+4+n]
	r.off += 4 + n
	return biffRecord{id: id, body: body}, true
}

// peek is the next record's type, or 0.
func (r *biffReader) peek() uint16 {
	if r.off+4 > len(r.b) {
		return 0
	}
	return binary.LittleEndian.Uint16(r.b[r.off:])
}

// readSST reads the shared strings of an SST record and its CONTINUE
// records; a string cut short ends the table.
func readSST(segs [][]byte) []string {
	s := &segments{segs: segs}
	if !s.skip(8) {
		return nil
	}
	var out []string
	for {
		str, ok := unicodeString(s, 2)
		if !ok {
			return out
		}
		out = append(out, str)
	}
}

// segments reads bytes across a record and its CONTINUE records.
type segments struct {
	segs [][]byte
	i    int
	off  int
}

func (s *segments) byte() (byte, bool) {
	for s.i < len(s.segs) && s.off >= len(s.segs[s.i]) {
		s.i++
		s.off = 0
	}
	if s.i >= len(s.segs) {
		return 0, false
	}
	c := s.segs[s.i][s.off]
	s.off++
	return c, true
}

func (s *segments) uint(n int) (uint32, bool) {
	var v uint32
	for k := 0; k < n; k++ {
		c, ok := s.byte()
		if !ok {
			return 0, false
		}
		v |= uint32(c) << (8 * k)
	}
	return v, true
}

func (s *segments) skip(n int) bool {
	for ; n > 0; n-- {
		if _, ok := s.byte(); !ok {
			return false
		}
	}
	return true
}

// unicodeString reads an XLUnicodeRichExtendedString whose character
// count takes lenBytes bytes ([MS-XLS] 2.5.293): characters in 8 bits
// (Latin-1) or UTF-16LE, re-flagged at each CONTINUE boundary; rich-text
// runs and phonetic data skipped.
func unicodeString(s *segments, lenBytes int) (string, bool) {
	n, ok := s.uint(lenBytes)
	if !ok {
		return "", false
	}
	flags, ok := s.byte()
	if !ok {
		return "", false
	}
	var runs, ext uint32
	if flags&8 != 0 {
		if runs, ok = s.uint(2); !ok {
			return "", false
		}
	}
	if flags&4 != 0 {
		if ext, ok = s.uint(4); !ok {
			return "", false
		}
	}
	wide := flags&1 != 0
	u := make([]uint16, 0, min(n, 1<<16))
	seg := s.i
	for k := uint32(0); k < n; k++ {
		for s.i < len(s.segs) && s.off >= len(s.segs[s.i]) {
			s.i++
			s.off = 0
		}
		if s.i != seg && s.i < len(s.segs) { // a CONTINUE starts with new flags
			seg = s.i
			f, _ := s.byte()
			wide = f&1 != 0
		}
		size := 1
		if wide {
			size = 2
		}
		c, ok := s.uint(size)
		if !ok {
			return "", false
		}
		u = append(u, uint16(c))
	}
	if !s.skip(int(runs)*4) || !s.skip(int(ext)) {
		return "", false
	}
	return strings.ToValidUTF8(string(utf16.Decode(u)), "\uFFFD"), true
}

// isDateFormatString is xlrd's is_date_format_string: quoted text,
// escaped characters and [bracketed] parts removed, a format is a date
// one when its date characters (ymdhs) outweigh its digits (0#?).
func isDateFormatString(f string) bool {
	var b strings.Builder
	state := 0
	for _, c := range f {
		switch {
		case state == 1:
			if c == '"' {
				state = 0
			}
		case state == 2:
			state = 0
		case c == '"':
			state = 1
		case strings.ContainsRune(`\_*`, c):
			state = 2
		case strings.ContainsRune("$-+/(): ", c):
		default:
			b.WriteRune(c)
		}
	}
	s := fmtBrackets.ReplaceAllString(b.String(), "")
	switch s {
	case "0.00E+00", "##0.0E+0", "General", "GENERAL", "general", "@":
		return false
	}
	var dates, nums int
	for _, c := range s {
		switch {
		case strings.ContainsRune("ymdhsYMDHS", c):
			dates++
		case strings.ContainsRune("0#?", c):
			nums++
		}
	}
	return dates > nums
}

var fmtBrackets = regexp.MustCompile(`\[[^\]]*\]`)
