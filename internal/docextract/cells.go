package docextract

import (
	"fmt"
	"math"
	"time"
)

// cellKind is the type a spreadsheet reader gives a cell.
type cellKind int

const (
	kindEmpty cellKind = iota
	kindText
	kindNumber
	kindBool
	kindError
	kindTime // an ISO date stored as such (xlsx t="d")
)

// cell is a spreadsheet cell as the xlsx and xls readers both give it,
// before pandas converts it: its type, its value and whether its number
// format is a date format.
type cell struct {
	kind cellKind
	text string
	num  float64 // kindNumber; 1 or 0 for kindBool
	date bool    // the cell's number format is a date format
	t    excelTime
}

// dateSystem is how a workbook's serial dates are read.
type dateSystem struct {
	date1904 bool
	// xlrd is pandas' xlrd path (.xls): a serial date whose day is the
	// epoch's is a time of day in both systems, and one past year 9999
	// stays a float. openpyxl (.xlsx) makes only a 1900 time of day.
	xlrd bool
}

// value is the cell as pandas' reader converts it: "" for an empty
// cell, int64 for whole numbers, float64, bool, string, excelTime for
// dates, NaN for errors.
func (d dateSystem) value(c cell) any {
	switch c.kind {
	case kindText:
		return c.text
	case kindBool:
		return c.num != 0
	case kindError:
		return math.NaN()
	case kindTime:
		return c.t
	case kindNumber:
	default:
		return ""
	}
	f := c.num
	if c.date {
		if d.xlrd && (f >= 2958466 || f < -693593) {
			return f // datetime's OverflowError: pandas keeps the float
		}
		return d.serial(f)
	}
	if !math.IsInf(f, 0) && !math.IsNaN(f) && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
		return int64(f)
	}
	return f
}

// serial is a serial day number as a date and time (openpyxl's from_excel,
// xlrd's xldate_as_datetime): Excel's phantom 1900-02-29 is skipped.
func (d dateSystem) serial(f float64) excelTime {
	epoch := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	if d.date1904 {
		epoch = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
	} else if f < 60 {
		epoch = epoch.AddDate(0, 0, 1)
	}
	days := math.Floor(f)
	ms := math.Round((f - days) * 86400 * 1000)
	t := epoch.AddDate(0, 0, int(days)).Add(time.Duration(ms) * time.Millisecond)
	timeOnly := f < 1 && !d.date1904
	if d.xlrd {
		timeOnly = f >= 0 && f < 1
	}
	return excelTime{t: t, timeOnly: timeOnly}
}

// grid collects a sheet's converted cells by row and column.
type grid [][]any

// set puts v at row r, column c (0-based), growing the grid with "".
func (g *grid) set(r, c int, v any) {
	g.grow(r)
	row := (*g)[r]
	for len(row) <= c {
		row = append(row, "")
	}
	row[c] = v
	(*g)[r] = row
}

// grow makes the grid at least r+1 rows long.
func (g *grid) grow(r int) {
	for len(*g) <= r {
		*g = append(*g, nil)
	}
}

// maxCells bounds a sheet's rows × columns once padded (about 64 MiB of
// cells): a forged sheet with one cell far down and one far right would
// otherwise pad billions of empty ones. Every cell takes at least a
// character of the extracted text, so a real sheet this large is past any
// text limit anyway.
const maxCells = 1 << 22

// rows are the grid as pandas reads a sheet: trailing empty rows and
// columns dropped, every row as wide as the widest. A sheet of more than
// maxCells cells is ErrTooLarge.
func (g grid) rows() ([][]any, error) {
	last, width := -1, 0
	for i, r := range g {
		for len(r) > 0 && r[len(r)-1] == "" {
			r = r[:len(r)-1]
		}
		g[i] = r
		if len(r) > 0 {
			last = i
		}
		width = max(width, len(r))
	}
	g = g[:last+1]
	if len(g)*width > maxCells {
		return nil, fmt.Errorf("a sheet of %d rows and %d columns: %w", len(g), width, ErrTooLarge)
	}
	for i := range g {
		for len(g[i]) < width {
			g[i] = append(g[i], "")
		}
	}
	return g, nil
}
