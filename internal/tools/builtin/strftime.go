package builtin

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// strftime formats t as Python's datetime.strftime does on Linux: Python
// itself expands %f (microseconds), %z (+HHMM) and %Z (the zone's
// abbreviation); glibc in the C locale does the rest, flags (- _ 0 ^ #),
// field widths and the E and O modifiers included. An unknown directive
// is copied as it is. local is the zone %s reads the wall clock in
// (mktime's), dst the DST flag Python hands it (1, 0, or -1 for a zone
// that does not say).
func strftime(t time.Time, dst int, format string, local *time.Location) string {
	var b strings.Builder
	for i := 0; i < len(format); {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 < len(format) {
			switch format[i+1] {
			case 'f':
				fmt.Fprintf(&b, "%06d", t.Nanosecond()/1000)
				i += 2
				continue
			case 'z':
				b.WriteString(pyOffset(t))
				i += 2
				continue
			case 'Z':
				abbr, _ := t.Zone()
				b.WriteString(abbr)
				i += 2
				continue
			}
		}
		n := directive(&b, t, dst, format[i:], local)
		i += n
	}
	return b.String()
}

// pyOffset is Python's %z: +HHMM, with seconds when there are any.
func pyOffset(t time.Time) string {
	_, off := t.Zone()
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	s := fmt.Sprintf("%c%02d%02d", sign, off/3600, off/60%60)
	if off%60 != 0 {
		s += fmt.Sprintf("%02d", off%60)
	}
	return s
}

// directive writes one glibc conversion starting at spec[0] == '%' and
// returns how many bytes of spec it used.
func directive(b *strings.Builder, t time.Time, dst int, spec string, local *time.Location) int {
	i := 1
	var flags []byte
	for i < len(spec) && strings.IndexByte("-_0^#", spec[i]) >= 0 {
		flags = append(flags, spec[i])
		i++
	}
	width := -1
	for i < len(spec) && spec[i] >= '0' && spec[i] <= '9' {
		if width < 0 {
			width = 0
		}
		if width < 1<<16 {
			width = width*10 + int(spec[i]-'0')
		}
		i++
	}
	var mod byte
	if i < len(spec) && (spec[i] == 'E' || spec[i] == 'O') {
		mod = spec[i]
		i++
	}
	if width > 4096 {
		width = 4096 // glibc would fail the whole call; keep outputs bounded
	}
	pad := func(s string) {
		p := " "
		if last(flags) == '0' {
			p = "0"
		}
		if width > len(s) {
			b.WriteString(strings.Repeat(p, width-len(s)))
		}
		b.WriteString(s)
	}
	// An unknown or incomplete directive is copied, padded to its width.
	if i >= len(spec) {
		pad(spec)
		return len(spec)
	}
	conv := spec[i]
	i++
	literal := func() int { pad(spec[:i]); return i }
	if (mod == 'E' && strings.IndexByte("cCxXyY", conv) < 0) || (mod == 'O' && strings.IndexByte("deHImMSuUVwWy", conv) < 0) {
		return literal()
	}
	if n, w, pad, ok := number(t, dst, conv, local); ok {
		writeNumber(b, n, w, pad, flags, width)
		return i
	}
	s, ok := textual(t, dst, conv, local)
	if !ok {
		return literal()
	}
	for _, f := range flags {
		switch {
		case f == '^':
			s = strings.ToUpper(s)
		case f == '#' && strings.IndexByte("aAbBh", conv) >= 0:
			s = strings.ToUpper(s)
		case f == '#' && (conv == 'p' || conv == 'Z'):
			s = strings.ToLower(s)
		}
	}
	pad(s)
	return i
}

func last(flags []byte) byte {
	if len(flags) == 0 {
		return 0
	}
	return flags[len(flags)-1]
}

// number returns a numeric conversion's value, default width and pad.
func number(t time.Time, dst int, conv byte, local *time.Location) (n, width int, pad byte, ok bool) {
	isoYear, isoWeek := t.ISOWeek()
	yday := t.YearDay() - 1
	wday := int(t.Weekday())
	hour12 := t.Hour() % 12
	if hour12 == 0 {
		hour12 = 12
	}
	switch conv {
	case 'C':
		return floorDiv(t.Year(), 100), 2, '0', true
	case 'd':
		return t.Day(), 2, '0', true
	case 'e':
		return t.Day(), 2, ' ', true
	case 'g':
		return isoYear % 100, 2, '0', true
	case 'G':
		return isoYear, 1, '0', true
	case 'H':
		return t.Hour(), 2, '0', true
	case 'I':
		return hour12, 2, '0', true
	case 'j':
		return yday + 1, 3, '0', true
	case 'k':
		return t.Hour(), 2, ' ', true
	case 'l':
		return hour12, 2, ' ', true
	case 'm':
		return int(t.Month()), 2, '0', true
	case 'M':
		return t.Minute(), 2, '0', true
	case 's':
		return int(mktime(t, dst, local)), 1, '0', true
	case 'S':
		return t.Second(), 2, '0', true
	case 'u':
		return (wday+6)%7 + 1, 1, '0', true
	case 'U':
		return (yday + 7 - wday) / 7, 2, '0', true
	case 'V':
		return isoWeek, 2, '0', true
	case 'w':
		return wday, 1, '0', true
	case 'W':
		return (yday + 7 - (wday+6)%7) / 7, 2, '0', true
	case 'y':
		return t.Year() % 100, 2, '0', true
	case 'Y':
		return t.Year(), 1, '0', true
	}
	return 0, 0, 0, false
}

func writeNumber(b *strings.Builder, n, width int, pad byte, flags []byte, explicit int) {
	switch last(flags) {
	case '_':
		pad = ' '
	case '0':
		pad = '0'
	case '-':
		if explicit < 0 {
			width = 0
		}
		pad = ' '
	}
	if explicit >= 0 {
		width = explicit
	}
	s := strconv.Itoa(n)
	if len(s) < width {
		b.WriteString(strings.Repeat(string(pad), width-len(s)))
	}
	b.WriteString(s)
}

// textual returns a conversion that is text in the C locale.
func textual(t time.Time, dst int, conv byte, local *time.Location) (string, bool) {
	switch conv {
	case 'a':
		return t.Weekday().String()[:3], true
	case 'A':
		return t.Weekday().String(), true
	case 'b', 'h':
		return t.Month().String()[:3], true
	case 'B':
		return t.Month().String(), true
	case 'p':
		if t.Hour() < 12 {
			return "AM", true
		}
		return "PM", true
	case 'P':
		if t.Hour() < 12 {
			return "am", true
		}
		return "pm", true
	case 'Z':
		abbr, _ := t.Zone()
		return abbr, true
	case 'z':
		return pyOffset(t), true
	case 'n':
		return "\n", true
	case 't':
		return "\t", true
	case '%':
		return "%", true
	}
	if f, ok := composites[conv]; ok {
		return strftime(t, dst, f, local), true
	}
	return "", false
}

// mktime is glibc's mktime of t's wall clock in local: a DST flag that
// local does not have at that time moves the result by the hour of
// difference.
func mktime(t time.Time, dst int, local *time.Location) int64 {
	w := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, local)
	if dst < 0 {
		return w.Unix()
	}
	isDST := 0
	if w.IsDST() {
		isDST = 1
	}
	return w.Unix() + int64(isDST-dst)*3600
}

// composites are the conversions glibc spells with others (C locale).
var composites = map[byte]string{
	'c': "%a %b %e %H:%M:%S %Y",
	'D': "%m/%d/%y",
	'F': "%Y-%m-%d",
	'r': "%I:%M:%S %p",
	'R': "%H:%M",
	'T': "%H:%M:%S",
	'x': "%m/%d/%y",
	'X': "%H:%M:%S",
}
