package jsonrepair

import (
	"strings"
	"unicode"
	"unicode/utf16"
)

// parseString is json_repair's parse_string, where most repairs happen:
// missing, doubled, misplaced or unescaped quotes, unquoted keys and
// values, literals (true, false, null), stray escapes, code fences.
func (p *parser) parseString() any {
	missingQuotes, doubledQuotes := false, false
	lDelim, rDelim := '"', '"'

	c := p.at(0)
	if c == '#' || c == '/' {
		return p.parseComment()
	}
	for c != none && !isStringDelimiter(c) && !isAlnum(c) {
		p.index++
		c = p.at(0)
	}
	if c == none {
		return ""
	}
	switch {
	case c == '\'':
		lDelim, rDelim = '\'', '\''
	case c == '“':
		lDelim, rDelim = '“', '”'
	case isAlnum(c):
		if lc := unicode.ToLower(c); (lc == 't' || lc == 'f' || lc == 'n') && p.context.current != objectKey {
			if v := p.parseBooleanOrNull(); v != "" {
				return v
			}
		}
		missingQuotes = true
	}
	if !missingQuotes {
		p.index++
	}
	if p.at(0) == '`' {
		if v, ok := p.parseLLMBlock(); ok {
			return v
		}
	}
	if p.at(0) == lDelim {
		switch {
		case p.context.current == objectKey && p.at(1) == ':',
			p.context.current == objectValue && (p.at(1) == ',' || p.at(1) == '}'),
			p.context.current == array && (p.at(1) == ',' || p.at(1) == ']'):
			p.index++
			return ""
		case p.at(1) == lDelim:
			return ""
		}
		i := p.skipTo(string(rDelim), 1)
		if p.at(i+1) == rDelim {
			doubledQuotes = true
			p.index++
		} else {
			i = p.scrollWhitespaces(1)
			next := p.at(i)
			if isStringDelimiter(next) || next == '{' || next == '[' {
				p.index++
				return ""
			} else if next != ',' && next != ']' && next != '}' {
				p.index++
			}
		}
	}

	var acc []rune
	last := func() rune {
		if len(acc) == 0 {
			return none
		}
		return acc[len(acc)-1]
	}
	c = p.at(0)
	unmatchedDelimiter := false
	for c != none && c != rDelim {
		p.tick()
		if missingQuotes {
			if p.context.current == objectKey && (c == ':' || isSpace(c)) {
				break
			} else if p.context.current == array && (c == ']' || c == ',') {
				break
			}
		}
		if p.context.current == objectValue && (c == ',' || c == '}') && (len(acc) == 0 || last() != rDelim) {
			missing := true
			p.skipWhitespaces()
			if p.at(1) == '\\' {
				missing = false
			}
			i := p.skipTo(string(rDelim), 1)
			next := p.at(i)
			if next != none {
				i++
				i = p.scrollWhitespaces(i)
				next = p.at(i)
				if next == none || next == ',' || next == '}' {
					missing = false
				} else {
					i = p.skipTo(string(lDelim), i)
					next = p.at(i)
					if next == none {
						missing = false
					} else {
						i = p.scrollWhitespaces(i + 1)
						next = p.at(i)
						if next != none && next != ':' {
							missing = false
						}
					}
				}
			} else {
				i = p.skipTo(":", 1)
				if p.at(i) != none {
					break
				}
				i = p.scrollWhitespaces(1)
				j := p.skipTo("}", i)
				if j-i > 1 {
					missing = false
				} else if p.at(j) != none {
					for k := len(acc) - 1; k >= 0; k-- {
						if acc[k] == '{' {
							missing = false
							break
						}
					}
				}
			}
			if missing {
				break
			}
		}
		if c == ']' && p.context.has(array) && (len(acc) == 0 || last() != rDelim) {
			i := p.skipTo(string(rDelim), 0)
			if p.at(i) == none {
				break
			}
		}
		if p.context.current == objectValue && c == '}' {
			i := p.scrollWhitespaces(1)
			next := p.at(i)
			if next == '`' && p.at(i+1) == '`' && p.at(i+2) == '`' {
				break
			}
			if next == none {
				break
			}
		}
		acc = append(acc, c)
		p.index++
		c = p.at(0)
		if c == none {
			break
		}
		if last() == '\\' {
			// A stray escape: normalize it.
			if c == rDelim || c == 't' || c == 'n' || c == 'r' || c == 'b' || c == '\\' {
				acc = acc[:len(acc)-1]
				switch c {
				case 't':
					acc = append(acc, '\t')
				case 'n':
					acc = append(acc, '\n')
				case 'r':
					acc = append(acc, '\r')
				case 'b':
					acc = append(acc, '\b')
				default:
					acc = append(acc, c)
				}
				p.index++
				c = p.at(0)
				for c != none && len(acc) > 0 && last() == '\\' && (c == rDelim || c == '\\') {
					acc[len(acc)-1] = c
					p.index++
					c = p.at(0)
				}
				continue
			} else if c == 'u' || c == 'x' {
				n := 4
				if c == 'x' {
					n = 2
				}
				if from := p.index + 1; from+n <= len(p.s) && isHex(p.s[from:from+n]) {
					code := 0
					for _, h := range p.s[from : from+n] {
						code = code*16 + hexValue(h)
					}
					acc = acc[:len(acc)-1]
					if r := rune(code); utf16.IsSurrogate(r) && len(acc) > 0 && utf16.DecodeRune(acc[len(acc)-1], r) != unicode.ReplacementChar {
						// Python keeps the two halves, and json.dumps then
						// json.loads join them into one character.
						acc[len(acc)-1] = utf16.DecodeRune(acc[len(acc)-1], r)
					} else {
						acc = append(acc, r)
					}
					p.index += 1 + n
					c = p.at(0)
					continue
				}
			} else if isStringDelimiter(c) && c != rDelim {
				acc[len(acc)-1] = c
				p.index++
				c = p.at(0)
				continue
			}
		}
		if c == ':' && !missingQuotes && p.context.current == objectKey {
			i := p.skipTo(string(lDelim), 1)
			if p.at(i) != none {
				i++
				i = p.skipTo(string(rDelim), i)
				if p.at(i) != none {
					i++
					i = p.scrollWhitespaces(i)
					if ch := p.at(i); ch == ',' || ch == '}' {
						break
					}
				}
			} else {
				break
			}
		}
		if c == rDelim && len(acc) > 0 && last() != '\\' {
			if doubledQuotes && p.at(1) == rDelim {
				p.index++
			} else if missingQuotes && p.context.current == objectValue {
				i := 1
				next := p.at(i)
				for next != none && next != rDelim && next != lDelim {
					i++
					next = p.at(i)
				}
				if next != none {
					i++
					i = p.scrollWhitespaces(i)
					if p.at(i) == ':' {
						p.index--
						c = p.at(0)
						break
					}
				}
			} else if unmatchedDelimiter {
				unmatchedDelimiter = false
				acc = append(acc, c)
				p.index++
				c = p.at(0)
			} else {
				i := 1
				next := p.at(i)
				checkComma := true
				for next != none && next != rDelim && next != lDelim {
					if checkComma && isAlpha(next) {
						checkComma = false
					}
					if (p.context.has(objectKey) && (next == ':' || next == '}')) ||
						(p.context.has(objectValue) && next == '}') ||
						(p.context.has(array) && (next == ']' || next == ',')) ||
						(checkComma && p.context.current == objectValue && next == ',') {
						break
					}
					i++
					next = p.at(i)
				}
				if next == ',' && p.context.current == objectValue {
					i++
					i = p.skipTo(string(rDelim), i)
					i++
					i = p.scrollWhitespaces(i)
					if next = p.at(i); next == '}' || next == ',' {
						acc = append(acc, c)
						p.index++
						c = p.at(0)
						continue
					}
				} else if next == rDelim && p.at(i-1) != '\\' {
					if p.onlyWhitespaceUntil(i) {
						break
					}
					switch p.context.current {
					case objectValue:
						i = p.scrollWhitespaces(i + 1)
						if p.at(i) == ',' {
							i = p.skipTo(string(lDelim), i+1)
							i++
							i = p.skipTo(string(rDelim), i+1)
							i++
							i = p.scrollWhitespaces(i)
							if p.at(i) == ':' {
								acc = append(acc, c)
								p.index++
								c = p.at(0)
								continue
							}
						}
						i = p.skipTo(string(rDelim), i+1)
						i++
						next = p.at(i)
						for next != none && next != ':' {
							if next == ',' || next == ']' || next == '}' || (next == rDelim && p.at(i-1) != '\\') {
								break
							}
							i++
							next = p.at(i)
						}
						if next != ':' {
							unmatchedDelimiter = !unmatchedDelimiter
							acc = append(acc, c)
							p.index++
							c = p.at(0)
						}
					case array:
						even := next == rDelim
						targets := string(rDelim) + "]"
						for next == rDelim {
							i = p.skipTo(targets, i+1)
							next = p.at(i)
							if next != rDelim {
								even = false
								break
							}
							i = p.skipTo(targets, i+1)
							next = p.at(i)
						}
						if !even {
							goto done
						}
						unmatchedDelimiter = !unmatchedDelimiter
						acc = append(acc, c)
						p.index++
						c = p.at(0)
					case objectKey:
						acc = append(acc, c)
						p.index++
						c = p.at(0)
					}
				}
			}
		}
	}
done:
	if c != none && missingQuotes && p.context.current == objectKey && isSpace(c) {
		p.skipWhitespaces()
		if p.at(0) != ':' && p.at(0) != ',' {
			return ""
		}
	}
	if c != rDelim {
		acc = []rune(strings.TrimRightFunc(string(acc), isSpace))
	} else {
		p.index++
	}
	if missingQuotes || (len(acc) > 0 && last() == '\n') {
		acc = []rune(strings.TrimRightFunc(string(acc), isSpace))
	}
	return string(acc)
}

func (p *parser) onlyWhitespaceUntil(end int) bool {
	for j := 1; j < end; j++ {
		if c := p.at(j); c != none && !isSpace(c) {
			return false
		}
	}
	return true
}

func isHex(rs []rune) bool {
	for _, r := range rs {
		if hexValue(r) < 0 {
			return false
		}
	}
	return true
}

func hexValue(r rune) int {
	switch {
	case r >= '0' && r <= '9':
		return int(r - '0')
	case r >= 'a' && r <= 'f':
		return int(r-'a') + 10
	case r >= 'A' && r <= 'F':
		return int(r-'A') + 10
	}
	return -1
}
