package sql

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowrun/flowrun/internal/repo"
)

// upsertEndUsers keeps the first row of each end user: later runs of the
// user find it there and change nothing.
const upsertEndUsers = `INSERT INTO end_users (id, app_id, session_id, created_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])
ON CONFLICT (id) DO NOTHING`

// queueEndUsers queues the upsert of us, in id order (so two batches of
// the same users lock them in the same order).
func queueEndUsers(batch *pgx.Batch, us []*repo.EndUser) {
	if len(us) == 0 {
		return
	}
	slices.SortFunc(us, func(x, y *repo.EndUser) int { return strings.Compare(x.ID, y.ID) })
	ids, apps, sessions, times := make([]string, len(us)), make([]string, len(us)), make([]string, len(us)), make([]time.Time, len(us))
	for i, u := range us {
		ids[i], apps[i], sessions[i], times[i] = u.ID, u.AppID, u.SessionID, u.CreatedAt
	}
	batch.Queue(upsertEndUsers, ids, apps, sessions, times)
}

// maxKnownUsers bounds the end users a Store remembers having written
// (about 100 bytes each); past it, it forgets them all and starts again.
const maxKnownUsers = 1 << 16

// userSet is the end users a Store has written, so that a user's later
// runs skip the upsert: rows are never changed once written.
type userSet struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

// unknown returns those of us not known to be written.
func (u *userSet) unknown(us []*repo.EndUser) []*repo.EndUser {
	if len(us) == 0 {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.DeleteFunc(us, func(e *repo.EndUser) bool {
		_, ok := u.ids[e.ID]
		return ok
	})
}

// add remembers us as written.
func (u *userSet) add(us []*repo.EndUser) {
	if len(us) == 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ids == nil || len(u.ids)+len(us) > maxKnownUsers {
		u.ids = make(map[string]struct{}, len(us))
	}
	for _, e := range us {
		u.ids[e.ID] = struct{}{}
	}
}

// EndUserGet implements repo.EndUserReader.
func (s *Store) EndUserGet(ctx context.Context, appID, id string) (*repo.EndUser, error) {
	if !repo.ValidUUID(id) {
		return nil, fmt.Errorf("end user %q: %w", id, repo.ErrNotFound)
	}
	rows, err := s.db.Query(ctx, `SELECT id::text, app_id, session_id, created_at FROM end_users WHERE id = $1 AND app_id = $2`, id, appID)
	if err != nil {
		return nil, fmt.Errorf("get end user %s: %w", id, interpretError(err))
	}
	u, err := pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (*repo.EndUser, error) {
		var u repo.EndUser
		return &u, row.Scan(&u.ID, &u.AppID, &u.SessionID, &u.CreatedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("get end user %s: %w", id, interpretError(err))
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}
