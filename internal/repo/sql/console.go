package sql

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/flowrun/flowrun/internal/repo"
)

var (
	_ repo.SummaryReader         = (*Store)(nil)
	_ repo.AppConversationReader = (*Store)(nil)
)

// AppSummary implements repo.SummaryReader in one statement: counts per
// status and the percentiles of the finished runs' elapsed time.
func (s *Store) AppSummary(ctx context.Context, p *repo.SummaryParams) (*repo.AppSummary, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	// The day bounds let PostgreSQL read only the window's partitions (a
	// run's day is its id's, within a day of its created_at).
	var until, lastDay any
	if !p.Until.IsZero() {
		until, lastDay = p.Until, Day("", p.Until).AddDate(0, 0, 1)
	}
	firstDay := Day("", p.Since).AddDate(0, 0, -1)
	rows, err := s.db.Query(ctx, `SELECT status, count(*),
	percentile_cont(0.5) WITHIN GROUP (ORDER BY elapsed_time) FILTER (WHERE finished_at IS NOT NULL),
	percentile_cont(0.95) WITHIN GROUP (ORDER BY elapsed_time) FILTER (WHERE finished_at IS NOT NULL)
FROM workflow_runs
WHERE app_id = $1 AND created_at >= $2 AND ($3::timestamptz IS NULL OR created_at < $3)
	AND day >= $4::date AND ($5::date IS NULL OR day <= $5::date)
GROUP BY GROUPING SETS ((status), ())`, p.AppID, p.Since, until, firstDay, lastDay)
	if err != nil {
		return nil, fmt.Errorf("summarise app %s: %w", p.AppID, interpretError(err))
	}
	sum := &repo.AppSummary{ByStatus: map[repo.Status]int64{}}
	var (
		status   *string
		n        int64
		p50, p95 *float64
	)
	_, err = pgx.ForEachRow(rows, []any{&status, &n, &p50, &p95}, func() error {
		if status != nil {
			sum.ByStatus[repo.Status(*status)] = n
			return nil
		}
		// The grand total row (every status).
		sum.Runs = n
		if p50 != nil && p95 != nil {
			sum.P50, sum.P95 = *p50, *p95
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("summarise app %s: %w", p.AppID, interpretError(err))
	}
	return sum, nil
}

// AppConversationList implements repo.AppConversationReader: one
// statement, a row more than the page to tell whether more follow.
func (s *Store) AppConversationList(ctx context.Context, p *repo.AppConversationListParams) (*repo.AppConversationListResult, error) {
	limit, err := repo.PageLimit(p.Limit)
	if err != nil {
		return nil, err
	}
	page, err := repo.PageNumber(p.Page)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+convColumns+` FROM conversations
WHERE app_id = $1 AND NOT is_deleted AND NOT pending
ORDER BY updated_at DESC, id DESC LIMIT $2 OFFSET $3`, p.AppID, limit+1, int64(page-1)*int64(limit))
	if err != nil {
		return nil, fmt.Errorf("list conversations of app %s: %w", p.AppID, interpretError(err))
	}
	items, err := pgx.CollectRows(rows, scanConv)
	if err != nil {
		return nil, fmt.Errorf("list conversations of app %s: %w", p.AppID, interpretError(err))
	}
	res := &repo.AppConversationListResult{Items: items, HasMore: len(items) > limit}
	if res.HasMore {
		res.Items = items[:limit]
	}
	if res.Items == nil {
		res.Items = []*repo.Conversation{}
	}
	return res, nil
}
