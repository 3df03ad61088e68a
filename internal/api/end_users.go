package api

import (
	"sync"
	"time"
)

// DefaultEndUsers is how many end users a server remembers for GET
// /end-users/{id} (Config.EndUsers).
const DefaultEndUsers = 10000

// endUser is what Dify's end_users row holds of an API caller: flowrun
// derives its id from (app id, user) and keeps no table.
type endUser struct {
	id, appID, session string
	createdAt          time.Time
}

// endUsers remembers the end users whose runs this server started, the
// most recent max of them, so that an id a response handed out (created_by
// of workflow_finished, of a feedback) can be looked up. A known user costs
// one map read per run; only a new one takes the lock.
type endUsers struct {
	max  int
	byID sync.Map // id -> *endUser

	mu    sync.Mutex
	order []string // ids in the order they were first seen, a ring of max
	next  int      // where the next id goes in order
}

func newEndUsers(max int) *endUsers { return &endUsers{max: max} }

// seen records that session of appID made a request at now (the first
// time only: Dify's row keeps its created_at).
func (u *endUsers) seen(appID, session string, now time.Time) {
	id := endUserID(appID, session)
	if _, ok := u.byID.Load(id); ok {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.byID.Load(id); ok {
		return
	}
	if len(u.order) < u.max {
		u.order = append(u.order, id)
	} else {
		u.byID.Delete(u.order[u.next])
		u.order[u.next] = id
		u.next = (u.next + 1) % u.max
	}
	u.byID.Store(id, &endUser{id: id, appID: appID, session: session, createdAt: now.UTC().Truncate(time.Second)})
}

// get returns the end user with id if it belongs to appID (Dify scopes the
// lookup to the key's app).
func (u *endUsers) get(appID, id string) (*endUser, bool) {
	v, ok := u.byID.Load(id)
	if !ok {
		return nil, false
	}
	eu := v.(*endUser)
	return eu, eu.appID == appID
}
