package docextract

import (
	"strings"
	"unicode/utf8"
)

// Unstructured's partition_text (0.16: unstructured/partition/text.py and
// cleaners/core.py) as far as element texts go: the element types it
// picks change no text but a bulleted one's, whose bullet is cleaned.

// isBullet reports whether r is one of Unstructured's UNICODE_BULLETS
// ("-" and "*" among them).
func isBullet(r rune) bool {
	switch r {
	case 0x95, 0x2022, 0x2023, 0x2043, 0x3164, 0x204c, 0x204d, 0x2219, 0x25cb, 0x25cf, 0x25d8,
		0x25e6, 0x2619, 0x2765, 0x2767, 0x29be, 0x29bf, '-', 0xf0b7, '*', 0xb7:
		return true
	}
	return false
}

// bulleted is UNICODE_BULLETS_RE.match(s): a bullet not followed by
// another.
func bulleted(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || !isBullet(r) {
		return false
	}
	next, m := utf8.DecodeRuneInString(s[n:])
	return m == 0 || !isBullet(next)
}

// cleanBullets is clean_bullets.
func cleanBullets(s string) string {
	if !bulleted(s) {
		return s
	}
	_, n := utf8.DecodeRuneInString(s)
	return pyStrip(s[n:])
}

// textElements returns the element texts of partition_text(text=s).
func textElements(s string) []string {
	if pyStrip(s) == "" {
		return nil
	}
	lines := splitAfterNewline(s)
	count := min(len(lines), 2000)
	empty := 0
	for _, l := range lines[:count] {
		if pyStrip(l) == "" {
			empty++
		}
	}
	var grouped string
	if float64(empty)/float64(count) < 0.1 {
		var keep []string
		for _, l := range lines {
			if pyStrip(l) != "" {
				keep = append(keep, l)
			}
		}
		grouped = strings.Join(keep, "\n\n")
	} else {
		grouped = groupBrokenParagraphs(s)
	}
	var out []string
	for _, c := range splitNewlineRuns(pyStrip(grouped), 1) {
		c = pyStrip(c)
		if c == "" || (bulleted(c) && utf8.RuneCountInString(c) == 1) {
			continue
		}
		out = append(out, cleanBullets(c))
	}
	return out
}

// splitAfterNewline is re.split(r"(?<=\n)", s).
func splitAfterNewline(s string) []string {
	var out []string
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
}

// newlineRun finds, from byte i of s, the first run of whitespace that
// holds at least min newlines (re's \s*\n\s*, or (\s*\n\s*){2} for 2),
// returning its bounds or -1.
func newlineRun(s string, i, min int) (int, int) {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isPySpace(r) {
			i += n
			continue
		}
		j, nl := i, 0
		for j < len(s) {
			r, m := utf8.DecodeRuneInString(s[j:])
			if !isPySpace(r) {
				break
			}
			if r == '\n' {
				nl++
			}
			j += m
		}
		if nl >= min {
			return i, j
		}
		i = j
	}
	return -1, -1
}

// splitNewlineRuns splits s at each whitespace run holding at least min
// newlines (the separators dropped).
func splitNewlineRuns(s string, min int) []string {
	var out []string
	at := 0
	for {
		i, j := newlineRun(s, at, min)
		if i < 0 {
			return append(out, s[at:])
		}
		out = append(out, s[at:i])
		at = j
	}
}

// joinNewlineRuns is re.sub(r"\s*\n\s*", " ", s).
func joinNewlineRuns(s string) string {
	return strings.Join(splitNewlineRuns(s, 1), " ")
}

// groupBrokenParagraphs is group_broken_paragraphs, the blank-line
// grouper.
func groupBrokenParagraphs(s string) string {
	var clean []string
	for _, p := range splitNewlineRuns(s, 2) {
		if pyStrip(p) == "" {
			continue
		}
		ps := pyStrip(p)
		if bulleted(ps) || (strings.HasPrefix(ps, "e") && len(ps) > 1 && startsPySpace(ps[1:])) {
			clean = append(clean, groupBulletParagraph(p)...)
			continue
		}
		lines := splitBroken(p)
		short := true
		for _, l := range lines {
			if len(strings.Split(pyStrip(l), " ")) >= 5 {
				short = false
			}
		}
		if !short {
			clean = append(clean, joinNewlineRuns(p))
			continue
		}
		for _, l := range lines {
			if pyStrip(l) != "" {
				clean = append(clean, l)
			}
		}
	}
	return strings.Join(clean, "\n\n")
}

func startsPySpace(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return n > 0 && isPySpace(r)
}

// splitBroken is PARAGRAPH_PATTERN_RE.split(p): p cut at each bullet and
// at each newline run that is not followed by a bullet or the end (or a
// final "\n"), the separators kept as items.
func splitBroken(p string) []string {
	followedOK := func(j int) bool {
		if j >= len(p) || p[j:] == "\n" {
			return false
		}
		r, _ := utf8.DecodeRuneInString(p[j:])
		return !isBullet(r)
	}
	var out []string
	at, i := 0, 0
	for i < len(p) {
		r, n := utf8.DecodeRuneInString(p[i:])
		if isBullet(r) && followedOK(i+n) {
			out = append(out, p[at:i], p[i:i+n])
			i += n
			at = i
			continue
		}
		if isPySpace(r) {
			// The longest \s*\n\s* from i that the lookahead accepts.
			j, last := i, -1
			seenNL := false
			for j < len(p) {
				r, m := utf8.DecodeRuneInString(p[j:])
				if !isPySpace(r) {
					break
				}
				if r == '\n' {
					seenNL = true
				}
				j += m
				if seenNL && followedOK(j) {
					last = j
				}
			}
			if last > 0 {
				out = append(out, p[at:i], p[i:last])
				i, at = last, last
				continue
			}
		}
		i += n
	}
	return append(out, p[at:])
}

// groupBulletParagraph is group_bullet_paragraph.
func groupBulletParagraph(p string) []string {
	lines := strings.Split(p, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "e") && len(l) > 1 && startsPySpace(l[1:]) {
			lines[i] = "·" + l[1:]
		}
	}
	p = pyStrip(strings.Join(lines, "\n"))
	var out []string
	at, prevBullet := 0, false
	for i, r := range p {
		b := isBullet(r)
		if b && !prevBullet && i > 0 {
			out = append(out, p[at:i])
			at = i
		}
		prevBullet = b
	}
	out = append(out, p[at:])
	var clean []string
	for _, s := range out {
		if s != "" {
			clean = append(clean, joinNewlineRuns(s))
		}
	}
	return clean
}
