package sql

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Day returns the partition key of a record keyed on id (see
// migrations/006_partitions.up.sql): the UTC day of id's time when id is a
// time-ordered UUID (version 7), otherwise the UTC day of at, the record's
// created_at. It is the SQL function flowrun_day. Every version of a record
// carries the same id, so every version lands in the same partition.
func Day(id string, at time.Time) time.Time {
	if t, ok := idTime(id); ok {
		at = t
	}
	y, m, d := at.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// idDay returns Day(id, …) when id alone decides it (a version 7 UUID).
func idDay(id string) (time.Time, bool) {
	if _, ok := idTime(id); !ok {
		return time.Time{}, false
	}
	return Day(id, time.Time{}), true
}

// idTime returns the time of a version 7 UUID: its first 48 bits, in Unix
// milliseconds.
func idTime(id string) (time.Time, bool) {
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 {
		return time.Time{}, false
	}
	ms := int64(u[0])<<40 | int64(u[1])<<32 | int64(u[2])<<24 | int64(u[3])<<16 | int64(u[4])<<8 | int64(u[5])
	return time.UnixMilli(ms), true
}

// onDay is the condition " AND day = $n" for a record whose partition
// follows from id alone (see idDay), so that the query reads only that
// partition; otherwise it is empty and $n, dayArg(id), is unused (NULL).
func onDay(id string, n int) string {
	if _, ok := idDay(id); !ok {
		return fmt.Sprintf(" AND $%d::date IS NULL", n)
	}
	return fmt.Sprintf(" AND day = $%d::date", n)
}

// dayArg is onDay's argument: id's day, or nil.
func dayArg(id string) any {
	if d, ok := idDay(id); ok {
		return d.Format(time.DateOnly)
	}
	return nil
}

// dayString returns the day of t shifted by days, as a date literal.
func dayString(t time.Time, days int) string {
	return Day("", t).AddDate(0, 0, days).Format(time.DateOnly)
}
