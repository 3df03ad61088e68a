package builtin

import (
	_ "embed" // zones.txt
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // time zones without a system tz database

	"github.com/flowrun/flowrun/internal/py"
)

// zoneList is the IANA zone and link names pytz accepts (its
// all_timezones), one a line: tz database 2025b, less "Factory".
//
//go:embed zones.txt
var zoneList string

// zoneNames maps each name in lower case to its spelling.
var zoneNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range strings.Fields(zoneList) {
		m[strings.ToLower(n)] = n
	}
	return m
}()

// unknownZone is pytz's UnknownTimeZoneError, a KeyError: its text is
// the name's repr.
type unknownZone string

func (e unknownZone) Error() string { return py.Repr(string(e)) }

// zone is a time zone as pytz sees it.
type zone struct{ loc *time.Location }

// loadZone is pytz.timezone: "UTC" in any case is UTC, other names are
// looked up case-insensitively among the known names.
func loadZone(name string) (zone, error) {
	if strings.EqualFold(name, "UTC") {
		return zone{time.UTC}, nil
	}
	canon, ok := zoneNames[strings.ToLower(name)]
	if !ok {
		return zone{}, unknownZone(name)
	}
	if loc, ok := zoneCache.Load(canon); ok {
		return zone{loc.(*time.Location)}, nil
	}
	loc, err := time.LoadLocation(canon)
	if err != nil {
		return zone{}, unknownZone(name)
	}
	zoneCache.Store(canon, loc)
	return zone{loc}, nil
}

// zoneCache holds the zones loaded so far (at most the ~600 known names):
// loading one reads the tz database.
var zoneCache sync.Map

// offset is the zone's UTC offset at instant t, rounded to the minute as
// pytz rounds every offset, its abbreviation, and whether it is DST.
func (z zone) offset(t time.Time) (int, string, bool) {
	in := t.In(z.loc)
	abbr, off := in.Zone()
	return floorDiv(off+30, 60) * 60, abbr, in.IsDST()
}

// fromUTC is the wall time of instant t in the zone (pytz's fromutc): a
// time in a fixed zone carrying pytz's offset and abbreviation, and its
// DST flag (1 or 0).
func (z zone) fromUTC(t time.Time) (time.Time, int) {
	off, abbr, dst := z.offset(t)
	flag := 0
	if dst {
		flag = 1
	}
	return t.In(time.FixedZone(abbr, off)), flag
}

// localize is pytz's localize(naive, is_dst=False): the instant whose
// wall time in the zone is naive (a time in UTC holding the wall clock).
// An ambiguous wall time (the hour repeated when clocks go back) is taken
// in standard time; a wall time that does not exist (skipped when clocks
// go forward) is read with the offset before the change.
func (z zone) localize(naive time.Time) time.Time {
	type cand struct {
		at  time.Time
		dst bool
	}
	var found []cand
	for _, probe := range []time.Time{naive.Add(-24 * time.Hour), naive.Add(24 * time.Hour)} {
		off, _, _ := z.offset(probe)
		at := naive.Add(-time.Duration(off) * time.Second)
		if got, _, dst := z.offset(at); got == off && (len(found) == 0 || !found[0].at.Equal(at)) {
			found = append(found, cand{at, dst})
		}
	}
	switch len(found) {
	case 0:
		return z.localize(naive.Add(-6 * time.Hour)).Add(6 * time.Hour)
	case 1:
		return found[0].at
	}
	var std []cand
	for _, c := range found {
		if !c.dst {
			std = append(std, c)
		}
	}
	if len(std) == 1 {
		return std[0].at
	}
	if len(std) == 0 {
		std = found
	}
	latest := std[0].at
	for _, c := range std[1:] {
		if c.at.After(latest) {
			latest = c.at
		}
	}
	return latest
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
