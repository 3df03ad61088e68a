package repotest

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/repo"
)

// ConsoleStore is a store as the console reads it: records go in through
// Writer and come out summarised or listed per app.
type ConsoleStore interface {
	repo.Writer
	repo.SummaryReader
	repo.AppConversationReader
}

// ExerciseConsole runs the conformance suite of the console's reads
// (repo.SummaryReader, repo.AppConversationReader). newStore returns a
// fresh, empty store for one subtest (subtests run in parallel).
func ExerciseConsole(t *testing.T, newStore func(t *testing.T) ConsoleStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s ConsoleStore)
	}{
		{"Summary", testSummary},
		{"SummaryInvalid", testSummaryInvalid},
		{"AppConversations", testAppConversations},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// testSummary writes runs of two apps inside and outside a window and
// checks counts, the error rate and continuous percentiles.
func testSummary(t *testing.T, s ConsoleStore) {
	app, other := NewID(), NewID()
	b := &repo.Batch{}
	// Ten finished runs of app in the window, elapsed 1..10 s; two failed.
	for i := 1; i <= 10; i++ {
		r := finish(runFixture(app, sec(i)), repo.StatusSucceeded, 2)
		if i%5 == 0 {
			r = finish(runFixture(app, sec(i)), repo.StatusFailed, 2)
		}
		r.ElapsedTime = float64(i)
		b.Runs = append(b.Runs, r)
	}
	// One still running (counted, no latency), one before the window, one
	// at its end (excluded), and one of another app.
	b.Runs = append(b.Runs, runFixture(app, sec(11)))
	early := finish(runFixture(app, sec(-1)), repo.StatusSucceeded, 2)
	early.ElapsedTime = 1000
	late := finish(runFixture(app, sec(20)), repo.StatusSucceeded, 2)
	late.ElapsedTime = 1000
	b.Runs = append(b.Runs, early, late, finish(runFixture(other, sec(3)), repo.StatusFailed, 2))
	if err := s.Write(ctx(t), b); err != nil {
		t.Fatal(err)
	}
	got, err := s.AppSummary(ctx(t), &repo.SummaryParams{AppID: app, Since: sec(0), Until: sec(20)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Runs != 11 || got.ByStatus[repo.StatusSucceeded] != 8 || got.ByStatus[repo.StatusFailed] != 2 || got.ByStatus[repo.StatusRunning] != 1 {
		t.Fatalf("counts: runs %d, by status %v; want 11: 8 succeeded, 2 failed, 1 running", got.Runs, got.ByStatus)
	}
	if rate := got.ErrorRate(); math.Abs(rate-2.0/11) > 1e-9 {
		t.Fatalf("error rate %v, want 2/11", rate)
	}
	// percentile_cont over 1..10: 5.5 and 9.55.
	if math.Abs(got.P50-5.5) > 1e-9 || math.Abs(got.P95-9.55) > 1e-9 {
		t.Fatalf("p50 %v, p95 %v; want 5.5, 9.55", got.P50, got.P95)
	}
	open, err := s.AppSummary(ctx(t), &repo.SummaryParams{AppID: app, Since: sec(0)})
	if err != nil {
		t.Fatal(err)
	}
	if open.Runs != 12 {
		t.Fatalf("open-ended window: %d runs, want 12", open.Runs)
	}
	none, err := s.AppSummary(ctx(t), &repo.SummaryParams{AppID: NewID(), Since: sec(0)})
	if err != nil {
		t.Fatal(err)
	}
	if none.Runs != 0 || none.P50 != 0 || none.P95 != 0 || none.ErrorRate() != 0 {
		t.Fatalf("app without runs: %+v", none)
	}
}

func testSummaryInvalid(t *testing.T, s ConsoleStore) {
	for _, until := range []time.Time{sec(0), sec(-1)} {
		_, err := s.AppSummary(ctx(t), &repo.SummaryParams{AppID: NewID(), Since: sec(0), Until: until})
		if !errors.Is(err, repo.ErrInvalid) {
			t.Fatalf("until %v: err %v, want ErrInvalid", until, err)
		}
	}
}

// testAppConversations lists one app's conversations of several users,
// newest first, without deleted ones or another app's.
func testAppConversations(t *testing.T, s ConsoleStore) {
	app := NewID()
	var want []*repo.Conversation
	b := &repo.Batch{}
	for i := range 5 {
		c := convFixture(app, []string{"ann", "bob"}[i%2], sec(i))
		b.Conversations = append(b.Conversations, c)
		want = append([]*repo.Conversation{c}, want...)
	}
	gone := convFixture(app, "ann", sec(9))
	b.Conversations = append(b.Conversations, gone, deleted(gone, sec(10)), convFixture(NewID(), "ann", sec(8)))
	if err := s.Write(ctx(t), b); err != nil {
		t.Fatal(err)
	}
	var got []*repo.Conversation
	for page := 1; ; page++ {
		res, err := s.AppConversationList(ctx(t), &repo.AppConversationListParams{AppID: app, Page: page, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res.Items...)
		if !res.HasMore {
			break
		}
		if page > 5 {
			t.Fatal("HasMore never ends")
		}
	}
	requireConvs(t, want, got)
	for _, p := range []repo.AppConversationListParams{{AppID: app, Page: -1}, {AppID: app, Limit: -1}} {
		if _, err := s.AppConversationList(ctx(t), &p); !errors.Is(err, repo.ErrInvalid) {
			t.Fatalf("%+v: err %v, want ErrInvalid", p, err)
		}
	}
}
