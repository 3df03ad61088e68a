package run

import (
	"strconv"
	"unicode/utf8"
)

// MaxQuoted is how many characters of a value an error message quotes.
// Messages reach clients, logs and run records; a value that users or
// upstream services control can be megabytes long.
const MaxQuoted = 200

// Clip bounds s for quoting in an error message: its first MaxQuoted
// characters, followed, when s is longer, by "…" and its length.
func Clip(s string) string {
	if len(s) <= MaxQuoted {
		return s
	}
	n := 0
	for i := range s {
		if n == MaxQuoted {
			return s[:i] + "… (" + strconv.Itoa(utf8.RuneCountInString(s)) + " characters)"
		}
		n++
	}
	return s
}
