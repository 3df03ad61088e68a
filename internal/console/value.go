package console

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// PreviewBytes is how much of a value a page shows before it is
// expanded.
const PreviewBytes = 2048

// value is a JSON value as a page shows it: indented, cut at
// PreviewBytes; URL, when the value was cut, serves it whole.
type value struct {
	Text      string
	Size      int
	Truncated bool
	URL       string
}

// newValue previews raw; url serves the whole value ("" for none).
func newValue(raw json.RawMessage, url string) *value {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	text := pretty(raw)
	v := &value{Text: text, Size: len(text)}
	if len(text) > PreviewBytes {
		cut := PreviewBytes
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		v.Text, v.Truncated, v.URL = text[:cut], true, url
	}
	return v
}

// pretty indents JSON; invalid JSON is shown as it is.
func pretty(raw json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}
