package docextract

import (
	"strings"
	"unicode/utf8"
)

// csvText is Dify's _extract_text_from_csv: rows read as Python's
// csv.reader reads them (excel dialect, non-strict), written as a
// markdown table whose separator repeats "-" to each header's length in
// characters; "\n" in a cell becomes a space and "\r" is removed. An empty
// file gives "". The text is bounded by lim.MaxText as it is built.
func csvText(b []byte, lim Limits) (string, error) {
	s := decodeAny(b)
	var out strings.Builder
	first := true
	var header []string
	err := readCSV(s, func(row []string) error {
		if first {
			first = false
			header = row
			writeRow(&out, row)
			seps := make([]string, len(header))
			for i, h := range header {
				seps[i] = strings.Repeat("-", utf8.RuneCountInString(h))
			}
			out.WriteString("| " + strings.Join(seps, " | ") + " |\n")
		} else {
			writeRow(&out, row)
		}
		if int64(out.Len()) > lim.MaxText {
			return errTextLimit(lim)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return out.String(), nil
}

var cellFlattener = strings.NewReplacer("\n", " ", "\r", "")

func writeRow(out *strings.Builder, row []string) {
	out.WriteString("| ")
	for i, c := range row {
		if i > 0 {
			out.WriteString(" | ")
		}
		cellFlattener.WriteString(out, c)
	}
	out.WriteString(" |\n")
}

// readCSV calls row for each record of s as Python's csv.reader yields
// them: a blank line is an empty record; quotes open a field only at its
// start; a quote after a closing quote is a literal quote; other text
// after a closing quote joins the field (non-strict mode); an unclosed
// quote runs to the end of the data.
func readCSV(s string, row func([]string) error) error {
	const (
		startRecord = iota
		startField
		inField
		inQuoted
		quoteInQuoted
	)
	var fields []string
	var field strings.Builder
	state := startRecord
	save := func() {
		fields = append(fields, field.String())
		field.Reset()
	}
	end := func() error {
		r := fields
		fields = nil
		state = startRecord
		return row(r)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		nl := c == '\n' || c == '\r'
		if nl && c == '\r' && i+1 < len(s) && s[i+1] == '\n' && state != inQuoted {
			i++
		}
		switch state {
		case startRecord, startField:
			switch {
			case nl && state == startRecord:
				if err := end(); err != nil {
					return err
				}
			case nl:
				save()
				if err := end(); err != nil {
					return err
				}
			case c == '"':
				state = inQuoted
			case c == ',':
				save()
				state = startField
			default:
				field.WriteByte(c)
				state = inField
			}
		case inField:
			switch {
			case nl:
				save()
				if err := end(); err != nil {
					return err
				}
			case c == ',':
				save()
				state = startField
			default:
				field.WriteByte(c)
			}
		case inQuoted:
			if c == '"' {
				state = quoteInQuoted
			} else {
				field.WriteByte(c)
			}
		case quoteInQuoted:
			switch {
			case c == '"':
				field.WriteByte('"')
				state = inQuoted
			case c == ',':
				save()
				state = startField
			case nl:
				save()
				if err := end(); err != nil {
					return err
				}
			default:
				field.WriteByte(c)
				state = inField
			}
		}
	}
	if state != startRecord {
		save()
		return end()
	}
	return nil
}
