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

// upsertEndUsers keeps the first row of each end user: later runs of the
// user find it there and change nothing.
const upsertEndUsers = `INSERT INTO end_users (id, app_id, session_id, created_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])
ON CONFLICT (id) DO NOTHING`

// queueEndUsers queues the end users of b's app logs, in id order (so two
// batches of the same users lock them in the same order).
func queueEndUsers(batch *pgx.Batch, b *repo.Batch) {
	us := b.EndUsers()
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
