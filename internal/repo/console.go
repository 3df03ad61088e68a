package repo

import (
	"context"
	"fmt"
	"time"
)

// SummaryParams selects the runs of one app created in a window.
type SummaryParams struct {
	AppID string
	// Since and Until bound the run's created_at: Since inclusive, Until
	// exclusive. A zero Until means no upper bound.
	Since time.Time
	Until time.Time
}

// AppSummary describes an app's runs in a window.
type AppSummary struct {
	// Runs counts every run created in the window; ByStatus splits it by
	// status (running runs included).
	Runs     int64
	ByStatus map[Status]int64
	// P50 and P95 are percentiles of the elapsed time, in seconds, of the
	// runs that finished (continuous, as PostgreSQL's percentile_cont); 0
	// when none did.
	P50, P95 float64
}

// ErrorRate is the share of runs that failed: failed over Runs, 0 when
// there are none.
func (s *AppSummary) ErrorRate() float64 {
	if s.Runs == 0 {
		return 0
	}
	return float64(s.ByStatus[StatusFailed]) / float64(s.Runs)
}

// SummaryReader summarises an app's runs, for the console.
type SummaryReader interface {
	// AppSummary returns the summary of p.AppID's runs in the window; an
	// app without runs gives a zero summary. Returns ErrInvalid if Until
	// is set and not after Since, ErrUnavailable if the store cannot be
	// reached.
	AppSummary(ctx context.Context, p *SummaryParams) (*AppSummary, error)
}

// AppConversationListParams pages all the conversations of an app,
// whoever owns them, most recently updated first.
type AppConversationListParams struct {
	AppID string
	// Page is 1-based; 0 means 1. Limit is the page size; see PageLimit.
	Page  int
	Limit int
}

// AppConversationListResult is one page of an app's conversations.
type AppConversationListResult struct {
	Items   []*Conversation
	HasMore bool
}

// AppConversationReader lists an app's conversations across users, for
// the console (ChatReader's lists are per user, as Dify's API).
type AppConversationReader interface {
	// AppConversationList returns a page of p.AppID's conversations that
	// are not deleted, by UpdatedAt then id, descending. Returns
	// ErrInvalid if Page or Limit is negative.
	AppConversationList(ctx context.Context, p *AppConversationListParams) (*AppConversationListResult, error)
}

// Validate reports ErrInvalid for a window whose Until is not after
// Since.
func (p *SummaryParams) Validate() error {
	if !p.Until.IsZero() && !p.Until.After(p.Since) {
		return fmt.Errorf("summary window %s..%s: until must be after since: %w", p.Since.Format(time.RFC3339), p.Until.Format(time.RFC3339), ErrInvalid)
	}
	return nil
}

// Percentile returns the q-quantile (0 ≤ q ≤ 1) of sorted, ascending
// values, interpolated linearly as PostgreSQL's percentile_cont; 0 for
// no values.
func Percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (pos-float64(i))*(sorted[i+1]-sorted[i])
}

// PageNumber returns the 1-based page for page: page itself, DefaultPage
// for 0, ErrInvalid when negative.
func PageNumber(page int) (int, error) {
	switch {
	case page < 0:
		return 0, fmt.Errorf("page %d: %w", page, ErrInvalid)
	case page == 0:
		return DefaultPage, nil
	}
	return page, nil
}
