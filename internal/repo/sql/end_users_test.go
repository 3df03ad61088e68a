package sql_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/dbtest"
	"github.com/flowrun/flowrun/internal/repo"
	reposql "github.com/flowrun/flowrun/internal/repo/sql"
)

var _ repo.EndUserReader = (*reposql.Store)(nil)

// TestEndUsers: the app logs' end users are kept, once each with their
// first time, by both write paths, and read back only in their app.
func TestEndUsers(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]reposql.Option{"upsert": nil, "insert-first": {reposql.InsertFirst()}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := reposql.New(dbtest.Pool(t), opts...)
			first := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
			alice, bob := uuid.NewString(), uuid.NewString()
			log := func(user, session string, at time.Time) *repo.AppLog {
				return &repo.AppLog{ID: uuid.NewString(), AppID: "app-a", WorkflowRunID: uuid.NewString(), CreatedFrom: "service-api",
					CreatedByRole: repo.RoleEndUser, CreatedBy: user, SessionID: session, CreatedAt: at, Seq: 1}
			}
			for _, b := range []*repo.Batch{
				{AppLogs: []*repo.AppLog{log(alice, "alice", first.Add(time.Minute)), log(alice, "alice", first), log(bob, "bob", first)}},
				{AppLogs: []*repo.AppLog{log(alice, "alice", first.Add(time.Hour))}}, // a later run
			} {
				if err := s.Write(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			u, err := s.EndUserGet(ctx, "app-a", alice)
			if err != nil || u.ID != alice || u.AppID != "app-a" || u.SessionID != "alice" || !u.CreatedAt.Equal(first) {
				t.Fatalf("alice: %+v, %v", u, err)
			}
			if u, err := s.EndUserGet(ctx, "app-a", bob); err != nil || u.SessionID != "bob" {
				t.Fatalf("bob: %+v, %v", u, err)
			}
			for _, c := range []struct{ app, id string }{{"app-b", alice}, {"app-a", uuid.NewString()}, {"app-a", "not-a-uuid"}} {
				if _, err := s.EndUserGet(ctx, c.app, c.id); !errors.Is(err, repo.ErrNotFound) {
					t.Errorf("EndUserGet(%q, %q): %v, want ErrNotFound", c.app, c.id, err)
				}
			}
		})
	}
}
