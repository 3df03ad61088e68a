package exec

// This file is not part of upstream gonja: it bounds, before the work, the
// size of results that can be much larger than their inputs, so that the
// budget refuses them without allocating them (see budget.go).

import (
	"math"
	"strings"
	"unicode/utf8"
)

// ItemsSize returns the size the value budget gives n items, saturating at
// math.MaxInt.
func ItemsSize(n int) int { return mulSat(n, ItemCost) }

// ReplaceSize returns the length of strings.Replace(s, old, new, count),
// all occurrences for a negative count.
func ReplaceSize(s, old, new string, count int) int {
	n := strings.Count(s, old) // old == "": around every rune, as Replace
	if count >= 0 && count < n {
		n = count
	}
	if len(new) < len(old) {
		return len(s) - n*(len(old)-len(new))
	}
	return addSat(len(s), mulSat(n, len(new)-len(old)))
}

// JoinSize returns the length of strings.Join(parts, sep) for parts of
// total length total.
func JoinSize(total, parts int, sep string) int {
	if parts == 0 {
		return 0
	}
	return addSat(total, mulSat(parts-1, len(sep)))
}

// FormatSize bounds, for Grow, the length of formatting format with args: a Go
// fmt format (open '%', the format filter) or a Python str.format one
// (open '{'). Every field may print the longest argument, up to four
// times over for an escaping conversion (%q, %x, %#v, !r, !a), padded to
// the widest width or precision the format names, plus what a number
// can print.
func (b *Budget) FormatSize(format string, open byte, args []*Value) int {
	fields, factor, widest, nested := 0, 1, 0, false
	for i := 0; i < len(format); i++ {
		if format[i] != open {
			continue
		}
		fields++
		if open == '%' {
			j := i + 1
			for j < len(format) && strings.IndexByte("+-# 0123456789.*[]", format[j]) >= 0 {
				j++
			}
			spec := format[i+1 : j]
			widest = max(widest, largestNumber(spec))
			if strings.IndexByte(spec, '*') >= 0 {
				widest = max(widest, 1_000_000) // fmt's own cap on widths
			}
			if strings.IndexByte(spec, '#') >= 0 || j < len(format) && strings.IndexByte("qxXUv", format[j]) >= 0 {
				factor = 4
			}
			i = j
			continue
		}
		end := strings.IndexByte(format[i+1:], '}')
		if end < 0 {
			end = len(format) - i - 1
		}
		spec := format[i+1 : i+1+end]
		if strings.Contains(spec, "!r") || strings.Contains(spec, "!a") {
			factor = 4
		}
		if k := strings.IndexByte(spec, ':'); k >= 0 {
			widest = max(widest, largestNumber(spec[k:]))
			nested = nested || strings.IndexByte(spec[k:], open) >= 0
		}
	}
	longest := 0
	for _, a := range args {
		w := b.sizer()
		longest = max(longest, w.size(a.Val, 0))
		if nested {
			// A width taken from an argument.
			widest = max(widest, largestNumber(a.String()))
		}
	}
	perField := addSat(addSat(mulSat(factor, longest), widest), 512)
	return addSat(len(format), mulSat(fields, perField))
}

// JSONSize bounds, for Grow, the length of v encoded as JSON with indent spaces per
// level: every byte may need a six-byte escape, and every item a line
// indented to the deepest level.
func (b *Budget) JSONSize(v *Value, indent int) int {
	w := b.sizer()
	n := w.size(v.Val, 0)
	perItem := addSat(mulSat(max(indent, 0), w.depth+1), 8)
	return addSat(mulSat(n, 6), mulSat(w.items+1, perItem))
}

// sizer returns a sizer that stops soon after the value budget: what it
// measures is only compared with that budget.
func (b *Budget) sizer() sizer {
	if b == nil || b.limits.Value <= 0 {
		return sizer{}
	}
	return sizer{stop: b.limits.Value}
}

// largestNumber returns the largest decimal number written in s,
// saturating at 1<<40.
func largestNumber(s string) int {
	largest, n := 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if n < 1<<40 {
				n = n*10 + int(s[i]-'0')
			}
			continue
		}
		largest, n = max(largest, n), 0
	}
	return min(largest, 1<<40)
}

func addSat(a, b int) int {
	if b > 0 && a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

// mulSat multiplies non-negative a and b, saturating at math.MaxInt.
func mulSat(a, b int) int {
	if b != 0 && a > math.MaxInt/b {
		return math.MaxInt
	}
	return a * b
}

// PadSize returns the length of s padded to width runes with a fill
// character of fillBytes bytes (center, ljust, rjust, zfill).
func PadSize(s string, width, fillBytes int) int {
	pad := width - utf8.RuneCountInString(s)
	if pad <= 0 {
		return len(s)
	}
	return addSat(len(s), mulSat(pad, fillBytes))
}

// RepeatSize returns base + n*each, saturating at math.MaxInt; n and each
// are not negative.
func RepeatSize(base, n, each int) int { return addSat(base, mulSat(n, each)) }

// SplitSize bounds the size of the list that splitting s into at most
// pieces pieces makes.
func SplitSize(s string, pieces int) int { return addSat(len(s), ItemsSize(pieces)) }

// LineBreaks bounds how many line breaks str.splitlines() finds in s: it
// counts the bytes that end or begin one (\n \r \v \f \x1c-\x1e, and the
// last bytes of U+0085, U+2028 and U+2029).
func LineBreaks(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0xa8, 0xa9:
			n++
		}
	}
	return n
}
