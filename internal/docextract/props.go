package docextract

import "strings"

// propertiesText is Dify's _extract_text_from_properties: each stripped
// line "k=v" or "k:v" (split at the first "=", else the first ":")
// becomes "k: v"; blank lines and comments (# or !) are kept stripped.
func propertiesText(b []byte) string {
	lines := splitLines(decodeText(b))
	out := make([]string, 0, len(lines))
	for _, line := range lines {
		line = pyStrip(line)
		if line == "" || line[0] == '#' || line[0] == '!' {
			out = append(out, line)
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, _ = strings.Cut(line, ":")
		}
		out = append(out, pyStrip(k)+": "+pyStrip(v))
	}
	return strings.Join(out, "\n")
}

// splitLines is Python's str.splitlines().
func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); {
		r, n := rune(s[i]), 1
		if r >= 0x80 {
			r, n = decodeRune(s[i:])
		}
		switch r {
		case '\n', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
		case '\r':
			out = append(out, s[start:i])
			if i+1 < len(s) && s[i+1] == '\n' {
				n = 2
			}
			i += n
			start = i
			continue
		default:
			i += n
			continue
		}
		out = append(out, s[start:i])
		i += n
		start = i
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// pyStrip is Python's str.strip(): Unicode whitespace and the separators
// 0x1c–0x1f.
func pyStrip(s string) string {
	return strings.TrimFunc(s, isPySpace)
}

func isPySpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// pyFields is Python's str.split() without arguments.
func pyFields(s string) []string {
	return strings.FieldsFunc(s, isPySpace)
}
