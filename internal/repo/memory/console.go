package memory

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/flowrun/flowrun/internal/repo"
)

var (
	_ repo.SummaryReader         = (*Store)(nil)
	_ repo.AppConversationReader = (*Store)(nil)
)

// AppSummary implements repo.SummaryReader over the runs kept in memory.
func (s *Store) AppSummary(ctx context.Context, p *repo.SummaryParams) (*repo.AppSummary, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := s.settle(""); err != nil {
		return nil, err
	}
	sum := &repo.AppSummary{ByStatus: map[repo.Status]int64{}}
	var elapsed []float64
	s.mu.RLock()
	for _, e := range s.runs {
		r := e.run
		if r == nil || r.AppID != p.AppID || r.CreatedAt.Before(p.Since) || !p.Until.IsZero() && !r.CreatedAt.Before(p.Until) {
			continue
		}
		sum.Runs++
		sum.ByStatus[r.Status]++
		if r.Status.Terminal() {
			elapsed = append(elapsed, r.ElapsedTime)
		}
	}
	s.mu.RUnlock()
	slices.Sort(elapsed)
	sum.P50, sum.P95 = repo.Percentile(elapsed, 0.5), repo.Percentile(elapsed, 0.95)
	return sum, nil
}

// AppConversationList implements repo.AppConversationReader over the
// conversations kept in memory.
func (s *Store) AppConversationList(ctx context.Context, p *repo.AppConversationListParams) (*repo.AppConversationListResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit, err := repo.PageLimit(p.Limit)
	if err != nil {
		return nil, err
	}
	page, err := repo.PageNumber(p.Page)
	if err != nil {
		return nil, err
	}
	c := s.chat
	c.mu.RLock()
	var all []*repo.Conversation
	for _, cv := range c.convs {
		if cv.visible() && cv.rec.AppID == p.AppID {
			all = append(all, cv.rec)
		}
	}
	slices.SortFunc(all, func(a, b *repo.Conversation) int {
		return cmp.Or(b.UpdatedAt.Compare(a.UpdatedAt), strings.Compare(b.ID, a.ID))
	})
	start := min((page-1)*limit, len(all))
	end := min(start+limit, len(all))
	res := &repo.AppConversationListResult{Items: make([]*repo.Conversation, 0, end-start), HasMore: end < len(all)}
	for _, r := range all[start:end] {
		res.Items = append(res.Items, copyConv(r))
	}
	c.mu.RUnlock()
	return res, nil
}
