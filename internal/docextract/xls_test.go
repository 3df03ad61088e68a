package docextract

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/docextract/fixture"
)

// rkInt is n as an RK number with the integer flag.
func rkInt(n int32) uint32 { return uint32(n)<<2 | 2 }

// rkCents is n/100 as an RK: the integer flag and the ×100 flag.
func rkCents(n int32) uint32 { return uint32(n)<<2 | 3 }

// TestExtractXLS compares with the text Dify 1.12 gives for the same
// workbook, worked out by hand: pandas 2's ExcelFile picks xlrd for an
// OLE2 file; xlrd 2 types each cell (NUMBER/RK/MULRK/FORMULA numbers
// are floats, typed date by their XF's format: built-in 14 and the
// custom "yyyy\-mm\-dd hh:mm" are dates, "0.00" is not; BOOLERR gives a
// boolean or an error; BLANK records are ignored without
// formatting_info); pandas' _parse_cell makes whole floats int, errors
// NaN, a date on the epoch's day a time of day; then the same parser
// and markdown as for .xlsx (frame): qty is int64, price float64 (7.0),
// when and note object columns (an empty cell is NaN), ok bool; rows
// print as object Series, each value's str().
func TestExtractXLS(t *testing.T) {
	long := strings.Repeat("€", 5000) // 10 000 bytes: the SST goes on in a CONTINUE record
	sst := []string{"name", "qty", "price", "when", "ok", "note", "Ada", "Bob", "a", "b", long}
	sheet1 := concat(
		lsst(0, 0, 0), lsst(0, 1, 1), lsst(0, 2, 2), lsst(0, 3, 3), lsst(0, 4, 4), lsst(0, 5, 5),
		lsst(1, 0, 6),
		fixture.Rec(0x027E, uint16(1), uint16(1), uint16(0), rkInt(3)),
		fixture.Rec(0x027E, uint16(1), uint16(2), uint16(0), rkCents(150)),
		fixture.Rec(0x0203, uint16(1), uint16(3), uint16(1), 45000.0),
		fixture.Rec(0x0205, uint16(1), uint16(4), uint16(0), uint8(1), uint8(0)),
		fixture.Rec(0x0204, uint16(1), uint16(5), uint16(0), uint16(1), uint8(0), "x"),
		lsst(2, 0, 7),
		fixture.Rec(0x0203, uint16(2), uint16(1), uint16(3), 4.0),
		formula(2, 2, 2.25),
		fixture.Rec(0x0203, uint16(2), uint16(3), uint16(2), 45000.5),
		formulaSpecial(2, 4, 1, 0),
		fixture.Rec(0x0205, uint16(2), uint16(5), uint16(0), uint8(7), uint8(1)),
		formulaSpecial(3, 0, 0, 0),
		fixture.Rec(0x0207, uint16(2), uint8(0), "Cy"),
		fixture.Rec(0x00BD, uint16(3), uint16(1), uint16(0), rkInt(5), uint16(3), rkInt(7), uint16(2)),
		fixture.Rec(0x0203, uint16(3), uint16(3), uint16(1), 0.5),
		fixture.Rec(0x0205, uint16(3), uint16(4), uint16(0), uint8(1), uint8(0)),
		fixture.Rec(0x0201, uint16(9), uint16(9), uint16(0)), // BLANK: not a cell for xlrd
	)
	sheet2 := concat(lsst(0, 0, 8), lsst(0, 1, 9),
		fixture.Rec(0x00BD, uint16(1), uint16(0), uint16(0), rkInt(1), uint16(0), rkInt(2), uint16(1)),
		fixture.Rec(0x00BD, uint16(2), uint16(0), uint16(0), rkInt(-3), uint16(0), rkInt(4), uint16(1)))
	sheet3 := concat(lsst(0, 0, 10), fixture.Rec(0x027E, uint16(1), uint16(0), uint16(0), rkInt(1)))
	want := "| name | qty | price | when | ok | note |\n| ---- | --- | ----- | ---- | -- | ---- |\n" +
		"| Ada | 3 | 1.5 | 2023-03-15 00:00:00 | True | x |\n" +
		"| Bob | 4 | 2.25 | 2023-03-15 12:00:00 | False | nan |\n" +
		"| Cy | 5 | 7.0 | 12:00:00 | True | nan |\n\n" +
		"| a | b |\n| - | - |\n| 1 | 2 |\n| -3 | 4 |\n\n" +
		"| " + long + " |\n| " + strings.Repeat("-", 5000) + " |\n| 1 |\n\n"
	got, err := Extract(context.Background(), KindExcel, fixture.XLS(sst, sheet1, sheet2, sheet3), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

// TestExtractXLSHostile: forged containers and records fail the file
// with Dify's Excel message, or read what is readable; none panics.
func TestExtractXLSHostile(t *testing.T) {
	good := fixture.XLS([]string{"a"}, lsst(0, 0, 0))
	loop := append([]byte(nil), good...)
	// The stream's first sector (2) points back at itself.
	loop[512+8], loop[512+9], loop[512+10], loop[512+11] = 2, 0, 0, 0
	cases := map[string][]byte{
		"magic only":   append(append([]byte(nil), cfbMagic...), make([]byte, 600)...),
		"fat loop":     loop,
		"truncated":    good[:1100],
		"not biff8":    fixture.CFB("Workbook", fixture.Rec(0x0809, uint16(0x0500), uint16(5))),
		"no workbook":  fixture.CFB("Book", []byte("x")),
		"sheet offset": fixture.CFB("Workbook", concat(fixture.Rec(0x0809, uint16(0x0600), uint16(5)), fixture.Rec(0x0085, uint32(1<<30), uint16(0), uint8(1), uint8(0), "S"), fixture.Rec(0x000A))),
		"huge sst": fixture.CFB("Workbook", concat(fixture.Rec(0x0809, uint16(0x0600), uint16(5)),
			fixture.Rec(0x00FC, uint32(1<<31), uint32(1<<31), uint16(0xFFFF), uint8(1), "ab"), fixture.Rec(0x000A))),
		"encrypted": fixture.CFB("Workbook", concat(fixture.Rec(0x0809, uint16(0x0600), uint16(5)), fixture.Rec(0x002F, uint16(0)), fixture.Rec(0x000A))),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			text, err := Extract(context.Background(), KindExcel, in, Limits{})
			if name == "huge sst" {
				if err != nil || text != "" {
					t.Fatalf("got %q, %v; want an empty workbook", text, err)
				}
				return
			}
			var de *Error
			if !errors.As(err, &de) || de.Type != TypeExtraction || !strings.HasPrefix(de.Msg, "Failed to extract text from Excel file: ") {
				t.Fatalf("got %q, %v", text, err)
			}
		})
	}
}

// TestGuard: a parser that panics fails its extraction with an error
// instead of ending the process (the worker's own recover; a worker that
// dies anyway is replaced, see TestHostileFiles in nodes/docextractor).
func TestGuard(t *testing.T) {
	var nilMap map[string]int
	_, err := guard(func() (string, error) { nilMap["x"] = 1; return "", nil })
	if !errors.Is(err, ErrExtraction) || !strings.Contains(err.Error(), "assignment to entry in nil map") {
		t.Fatalf("got %v", err)
	}
	if text, err := guard(func() (string, error) { return "ok", nil }); text != "ok" || err != nil {
		t.Fatalf("got %q, %v", text, err)
	}
}

func lsst(row, col uint16, i uint32) []byte {
	return fixture.Rec(0x00FD, row, col, uint16(0), i)
}

func formula(row, col uint16, v float64) []byte {
	return fixture.Rec(0x0006, row, col, uint16(0), v, uint16(0), uint32(0), uint16(0))
}

// formulaSpecial is a FORMULA record whose cached result is not a
// number: typ 0 text (a STRING record follows), 1 boolean, 2 error.
func formulaSpecial(row, col uint16, typ, val uint8) []byte {
	return fixture.Rec(0x0006, row, col, uint16(0), typ, uint8(0), val, uint8(0), uint16(0), uint16(0xFFFF), uint16(0), uint32(0), uint16(0))
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// FuzzXLSSheets: the BIFF and OLE2 readers return an error or sheets for
// any input, without panicking (the guard is the last line, not the
// first).
func FuzzXLSSheets(f *testing.F) {
	f.Add(fixture.XLS([]string{"a", "b"}, concat(lsst(0, 0, 0), lsst(0, 1, 1), formula(1, 0, 1.5))))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = xlsSheets(data)
	})
}
