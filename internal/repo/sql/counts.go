package sql

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowrun/flowrun/internal/repo"
)

// The runs list's exact total comes from counts of the app logs of sealed
// days (migrations/007_log_counts.up.sql) plus a count of the logs of the
// days after them. These margins keep the two apart:
//
//   - a writer recounts the days its runs and logs fall in when those are
//     lateDays or more before today (its clock): only then can the day be
//     sealed;
//   - the maintainer seals the days sealLag or more before today (the
//     earlier of its clock and the real one).
//
// A write whose day the maintainer seals meanwhile without a recount would
// need a transaction open for more than a day.
const (
	lateDays = 2
	sealLag  = 3
)

// recountLate is the statement that recounts sealed (app, day) pairs.
const recountLate = `SELECT flowrun_log_recount($1::text[], $2::date[])`

// lateArgs returns recountLate's arguments for the runs and logs of b
// whose days are lateDays or more before now, or nil when there are none.
func lateArgs(b *repo.Batch, now time.Time) []any {
	limit := Day("", now).AddDate(0, 0, -lateDays)
	type pair struct {
		app string
		day time.Time
	}
	var late []pair
	add := func(app string, day time.Time) {
		if !day.After(limit) {
			late = append(late, pair{app, day})
		}
	}
	for _, r := range b.Runs {
		add(r.AppID, runTable.day(r))
	}
	for _, l := range b.AppLogs {
		add(l.AppID, logTable.day(l))
	}
	if len(late) == 0 {
		return nil
	}
	apps := make([]string, len(late))
	days := make([]string, len(late))
	for i, p := range late {
		apps[i], days[i] = p.app, p.day.Format(time.DateOnly)
	}
	return []any{apps, days}
}

// seal seals the days up to sealLag days before now (see
// flowrun_log_seal): once, the first time, every day up to there; then
// the days since, one transaction each, so that a long catch-up holds the
// counts' lock a day at a time.
func seal(ctx context.Context, db pgxQuerier, now time.Time) (int, error) {
	if real := time.Now(); real.Before(now) {
		now = real // never ahead of the writers' clock (see lateArgs)
	}
	upto := Day("", now).AddDate(0, 0, -sealLag)
	var horizon *time.Time
	if err := db.QueryRow(ctx, `SELECT day FROM workflow_log_counts_sealed`).Scan(&horizon); err != nil {
		return 0, interpretError(err)
	}
	var days []time.Time
	if horizon == nil {
		days = []time.Time{upto}
	} else {
		for d := horizon.AddDate(0, 0, 1); !d.After(upto); d = d.AddDate(0, 0, 1) {
			days = append(days, d)
		}
	}
	for i, d := range days {
		var n int64
		if err := db.QueryRow(ctx, `SELECT flowrun_log_seal($1::date)`, d.Format(time.DateOnly)).Scan(&n); err != nil {
			return i, fmt.Errorf("seal the log counts of %s: %w", d.Format(time.DateOnly), interpretError(err))
		}
	}
	return len(days), nil
}

// pgxQuerier is the one method seal needs.
type pgxQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// countSQL returns the statement that counts a runs list: where and args
// are RunList's filter (args[0] the app id), join the join of the run, and
// joined whether the filter reads it. Without a keyword or end-user
// filter, the days sealed and wholly inside the list's time bounds are
// summed from workflow_log_counts, and only the logs of the other days are
// counted: a log's day is within milliseconds of its created_at (see Day),
// so a day two days inside a bound is wholly inside it.
func countSQL(p *repo.RunListParams, where []string, args []any, join string, joined bool) (string, []any) {
	from := ` FROM workflow_app_logs l`
	if joined {
		from += join
	}
	if p.Keyword != "" || p.SessionID != "" {
		return `SELECT count(*)` + from + ` WHERE ` + joinAnd(where), args
	}
	args = slices.Clone(args)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	hi := `h.day`
	if !p.CreatedBefore.IsZero() {
		hi = `least(h.day, ` + arg(dayString(p.CreatedBefore, -2)) + `::date)`
	}
	sealed := []string{`c.app_id = $1`, `c.day <= ` + hi}
	live := `l.day > (SELECT coalesce(` + hi + `, '-infinity') FROM workflow_log_counts_sealed h)`
	if !p.CreatedAfter.IsZero() {
		lo := arg(dayString(p.CreatedAfter, 2)) + `::date`
		sealed = append(sealed, `c.day >= `+lo)
		live = `(` + live + ` OR l.day < ` + lo + `)`
	}
	if p.Status != "" {
		sealed = append(sealed, `c.status = `+arg(string(p.Status)))
	}
	return `SELECT (SELECT coalesce(sum(c.n), 0) FROM workflow_log_counts c, workflow_log_counts_sealed h WHERE ` + joinAnd(sealed) +
		`)::bigint + (SELECT count(*)` + from + ` WHERE ` + joinAnd(append(slices.Clone(where), live)) + `)`, args
}

func joinAnd(conds []string) string { return strings.Join(conds, " AND ") }
