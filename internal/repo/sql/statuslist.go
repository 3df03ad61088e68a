package sql

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowrun/flowrun/internal/repo"
)

// A runs list filtered by status over the whole history joins each log to
// its run. Over every partition that join is slow to plan (about 75 ms at
// 37 days) and to run (every log of the app): byStatus answers it from
// the counts of each day instead (migration 007), reading only the
// partitions its page lies in.

// byStatus reports whether RunList serves p with statusList: a status
// filter and nothing else.
func byStatus(p *repo.RunListParams) bool {
	return p.Status != "" && p.Keyword == "" && p.SessionID == "" && p.CreatedAfter.IsZero() && p.CreatedBefore.IsZero()
}

// dayCount is the number of matching logs of a day.
type dayCount struct {
	day time.Time
	n   int64
}

// statusList fills res (Page and Limit set) with the page of logs of
// p.AppID whose run has p.Status:
//
//  1. the counts of the sealed days, and the horizon;
//  2. a count per day of the days after the horizon (a few partitions);
//  3. the page, from the days it lies in and one day either side (a log's
//     created_at may cross midnight by milliseconds after its day's).
func (s *Store) statusList(ctx context.Context, p *repo.RunListParams, res *repo.RunListResult) error {
	var horizon *time.Time
	var days []dayCount
	rows, err := s.db.Query(ctx, `SELECT h.day, c.day, c.n FROM workflow_log_counts_sealed h
		LEFT JOIN workflow_log_counts c ON c.app_id = $1 AND c.status = $2 AND c.day <= h.day AND c.n > 0
		ORDER BY c.day DESC`, p.AppID, string(p.Status))
	if err != nil {
		return err
	}
	for rows.Next() {
		var day *time.Time
		var n *int64
		if err := rows.Scan(&horizon, &day, &n); err != nil {
			rows.Close()
			return err
		}
		if day != nil && n != nil {
			days = append(days, dayCount{*day, *n})
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	after := "-infinity"
	if horizon != nil {
		after = horizon.Format(time.DateOnly)
	}
	rows, err = s.db.Query(ctx, `SELECT l.day, count(*) FROM workflow_app_logs l
		JOIN workflow_runs r ON r.id = l.workflow_run_id AND r.day = l.day AND r.app_id = l.app_id
		WHERE l.app_id = $1 AND r.status = $2 AND l.day > $3::date AND r.day > $3::date
		GROUP BY l.day ORDER BY l.day DESC`, p.AppID, string(p.Status), after)
	if err != nil {
		return err
	}
	live, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (dayCount, error) {
		var c dayCount
		return c, row.Scan(&c.day, &c.n)
	})
	if err != nil {
		return err
	}
	days = append(live, days...) // newest first: live days are after the horizon

	skip := (int64(res.Page) - 1) * int64(res.Limit)
	first, last := -1, -1 // the days the page lies in
	var before, seen int64
	for i, d := range days {
		res.Total += d.n
		if first < 0 && seen+d.n > skip {
			first, before = i, seen
		}
		if first >= 0 && last < 0 && seen+d.n >= skip+int64(res.Limit) {
			last = i
		}
		seen += d.n
	}
	res.Items = []*repo.RunListItem{}
	if first < 0 {
		return nil
	}
	if last < 0 {
		last = len(days) - 1
	}
	// One day either side: the page's order is created_at's, which may
	// put a log of a neighbouring day among its own.
	lo, hi := days[last].day.AddDate(0, 0, -1), days[first].day.AddDate(0, 0, 1)
	if first > 0 {
		before -= days[first-1].n
		hi = days[first-1].day
		if hi.After(days[first].day.AddDate(0, 0, 1)) {
			hi, before = days[first].day.AddDate(0, 0, 1), before+days[first-1].n
		}
	}
	rows, err = s.db.Query(ctx, `SELECT `+logColumns+`, r.id IS NOT NULL, `+joinedRunColumns+` FROM workflow_app_logs l
		JOIN workflow_runs r ON r.id = l.workflow_run_id AND r.day = l.day AND r.app_id = l.app_id
		WHERE l.app_id = $1 AND r.status = $2 AND l.day BETWEEN $3::date AND $4::date AND r.day BETWEEN $3::date AND $4::date
		ORDER BY l.created_at DESC, l.id DESC LIMIT $5 OFFSET $6`,
		p.AppID, string(p.Status), lo.Format(time.DateOnly), hi.Format(time.DateOnly), res.Limit, skip-before)
	if err != nil {
		return err
	}
	if res.Items, err = pgx.CollectRows(rows, scanItem); err != nil {
		return fmt.Errorf("page: %w", err)
	}
	return nil
}
