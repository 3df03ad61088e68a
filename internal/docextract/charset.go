package docextract

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Dify decodes text with the encoding charset_normalizer finds best among
// utf-8, latin-1 and cp1252 (json, yaml and csv: among all encodings),
// dropping undecodable bytes, and falls back to utf-8 when none fits.
// decodeText approximates that choice without charset_normalizer's
// statistics:
//   - bytes that are valid UTF-8 are UTF-8 (a BOM is kept, as Python's
//     utf_8 codec keeps it);
//   - otherwise cp1252 when the bytes are all defined in cp1252 and some
//     fall in 0x80–0x9F (latin-1 would make them C1 control characters,
//     which charset_normalizer counts as mess); latin-1 otherwise, which
//     reads every byte (the two agree on all other bytes);
//   - bytes that look binary (over a fifth control characters, where
//     charset_normalizer gives up) are read as UTF-8 with the invalid
//     sequences dropped.
func decodeText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	if looksBinary(b) {
		return strings.ToValidUTF8(string(b), "")
	}
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/4)
	cp := useCP1252(b)
	for _, c := range b {
		if cp && c >= 0x80 && c < 0xa0 {
			sb.WriteRune(cp1252[c-0x80])
			continue
		}
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// decodeAny is decodeText with the byte-order marks of UTF-16 recognised,
// for the conversions where Dify lets charset_normalizer consider every
// encoding.
func decodeAny(b []byte) string {
	if len(b) >= 2 && len(b)%2 == 0 && (b[0] == 0xff && b[1] == 0xfe || b[0] == 0xfe && b[1] == 0xff) {
		le := b[0] == 0xff
		u := make([]uint16, 0, len(b)/2-1)
		for i := 2; i+1 < len(b); i += 2 {
			if le {
				u = append(u, uint16(b[i])|uint16(b[i+1])<<8)
			} else {
				u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
			}
		}
		return string(utf16.Decode(u))
	}
	return decodeText(b)
}

func looksBinary(b []byte) bool {
	n := 0
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' {
			n++
		}
	}
	return n*5 > len(b)
}

func useCP1252(b []byte) bool {
	c1 := false
	for _, c := range b {
		if c >= 0x80 && c < 0xa0 {
			if cp1252[c-0x80] == 0 {
				return false
			}
			c1 = true
		}
	}
	return c1
}

// cp1252 maps 0x80–0x9F; 0 marks the five undefined bytes.
var cp1252 = [32]rune{
	'€', 0, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0, 'Ž', 0,
	0, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0, 'ž', 'Ÿ',
}
