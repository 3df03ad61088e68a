package builtin

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/flowrun/flowrun/internal/py"
)

// dateTimeFormat is the format Dify's time tools read and write.
const dateTimeFormat = "%Y-%m-%d %H:%M:%S"

// dateTimeRE is the regular expression Python's strptime builds for
// dateTimeFormat (a space matches any run of whitespace).
var dateTimeRE = regexp.MustCompile(`^(\d\d\d\d)-(1[0-2]|0[1-9]|[1-9])-(3[01]|[12]\d|0[1-9]|[1-9]| [1-9])[\s\p{Z}]+(2[0-3]|[0-1]\d|\d):([0-5]\d|\d):(6[0-1]|[0-5]\d|\d)`)

// parseDateTime is datetime.strptime(s, "%Y-%m-%d %H:%M:%S"): the wall
// time it reads, as a time in UTC, or Python's ValueError text.
func parseDateTime(s string) (time.Time, error) {
	m := dateTimeRE.FindStringSubmatchIndex(s)
	if m == nil {
		return time.Time{}, fmt.Errorf("time data %s does not match format %s", py.Repr(s), py.Repr(dateTimeFormat))
	}
	if m[1] != len(s) {
		return time.Time{}, fmt.Errorf("unconverted data remains: %s", s[m[1]:])
	}
	var f [6]int
	for i := range f {
		f[i], _ = strconv.Atoi(trimSpace(s[m[2+2*i]:m[3+2*i]]))
	}
	return civil(f[0], f[1], f[2], f[3], f[4], f[5])
}

// civil is Python's datetime(y, mo, d, h, mi, s) with its range checks.
func civil(y, mo, d, h, mi, s int) (time.Time, error) {
	switch {
	case y < 1 || y > 9999:
		return time.Time{}, fmt.Errorf("year %d is out of range", y)
	case mo < 1 || mo > 12:
		return time.Time{}, fmt.Errorf("month must be in 1..12")
	case d < 1 || d > daysIn(y, mo):
		return time.Time{}, fmt.Errorf("day is out of range for month")
	case h > 23:
		return time.Time{}, fmt.Errorf("hour must be in 0..23")
	case mi > 59:
		return time.Time{}, fmt.Errorf("minute must be in 0..59")
	case s > 59:
		return time.Time{}, fmt.Errorf("second must be in 0..59")
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC), nil
}

func daysIn(y, mo int) int {
	return time.Date(y, time.Month(mo)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func trimSpace(s string) string {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	return s
}
