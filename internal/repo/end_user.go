package repo

import (
	"context"
	"time"
)

// EndUser is what Dify's end_users row holds of an API caller: flowrun
// derives its id from (app id, user), and stores keep the row the first
// app log of the user writes.
type EndUser struct {
	// ID is the end user's id, the created_by of its records.
	ID    string
	AppID string
	// SessionID is the API's `user`.
	SessionID string
	// CreatedAt is when the user's first run started.
	CreatedAt time.Time
}

// EndUserReader reads end users.
type EndUserReader interface {
	// EndUserGet returns the end user id of app appID. Returns ErrNotFound
	// if there is none (including when id is another app's user).
	EndUserGet(ctx context.Context, appID, id string) (*EndUser, error)
}

// EndUsers returns the end users of b's app logs, one per id, each with
// its earliest log's time.
func (b *Batch) EndUsers() []*EndUser {
	var out []*EndUser
	seen := map[string]*EndUser{}
	for _, l := range b.AppLogs {
		if l.CreatedByRole != RoleEndUser || !ValidUUID(l.CreatedBy) {
			continue
		}
		if u := seen[l.CreatedBy]; u != nil {
			if l.CreatedAt.Before(u.CreatedAt) {
				u.CreatedAt = l.CreatedAt
			}
			continue
		}
		u := &EndUser{ID: l.CreatedBy, AppID: l.AppID, SessionID: l.SessionID, CreatedAt: l.CreatedAt}
		seen[u.ID] = u
		out = append(out, u)
	}
	return out
}
