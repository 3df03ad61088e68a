package sql_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/dbtest"
	"github.com/flowrun/flowrun/internal/repo/repotest"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
)

// TestDayMatchesSQL keeps Day, which writers use, equal to flowrun_day,
// which the migration used for the rows it moved: around midnight, for
// time-ordered ids, random ids and ids that only look time-ordered.
func TestDayMatchesSQL(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	midnight := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	var ats []time.Time
	for _, off := range []time.Duration{-time.Millisecond, 0, time.Millisecond, 12 * time.Hour, -36 * time.Hour} {
		at := midnight.Add(off)
		v7 := uuid.Must(uuid.NewV7())
		ms := at.UnixMilli()
		for i := range 6 {
			v7[i] = byte(ms >> (40 - 8*i))
		}
		notV7 := v7
		notV7[8] = notV7[8]&0x3f | 0xc0 // another variant
		for _, id := range []string{v7.String(), repotest.NewID(), notV7.String()} {
			for _, created := range []time.Time{at, at.Add(48 * time.Hour), at.In(time.FixedZone("east", 5*3600))} {
				ids, ats = append(ids, id), append(ats, created)
			}
		}
		if got := reposql.Day(v7.String(), at.Add(72*time.Hour)); !got.Equal(midnight.Add(off).Truncate(24 * time.Hour)) {
			t.Errorf("Day(v7 of %v) = %v", at, got)
		}
	}
	for i, id := range ids {
		var got time.Time
		if err := pool.QueryRow(t.Context(), `SELECT flowrun_day($1::uuid, $2)::timestamp`, id, ats[i]).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := reposql.Day(id, ats[i]); !got.Equal(want) {
			t.Errorf("flowrun_day(%s, %v) = %v, Day = %v", id, ats[i], got, want)
		}
	}
}
