package api

import (
	"context"
	"slices"
	"time"

	"github.com/flowrun/flowrun/internal/run"
)

// Stopper carries a stop request to the other replicas of a deployment
// (package cluster; nil in memory mode, which is one process).
type Stopper interface {
	// StopTask asks the replica that runs taskID to stop it if it is a run
	// of appID started by user, and waits, bounded, until that run has
	// ended. held reports that some replica held the task (whatever its
	// app and user: those are checked by the holder, which then does
	// nothing). err is non-nil when the request could not be delivered
	// (held false) or the holder's run had not ended in time (held true).
	StopTask(ctx context.Context, taskID, appID, user string) (held bool, err error)
}

// Limiter counts the active runs of each app across the replicas of a
// deployment (APP_MAX_ACTIVE_REQUESTS; package cluster's Redis and
// PostgreSQL limiters). nil counts this process's runs only.
type Limiter interface {
	// Acquire takes one of appID's limit slots, named slot, and reports
	// false if all limit are taken. A taken slot is held until Release,
	// or until the replica that took it is gone (a bound of the
	// implementation).
	Acquire(ctx context.Context, appID, slot string, limit int) (bool, error)
	// Release frees slot.
	Release(ctx context.Context, appID, slot string) error
}

// limiterTimeout bounds one call of the Limiter: a run never waits on it
// for longer.
const limiterTimeout = 2 * time.Second

// acquireCluster takes slot of appID's cluster-wide slots. When the
// Limiter cannot answer, the run is admitted (logged): a Redis or
// PostgreSQL outage must not refuse every run, and this replica's own
// count still caps it at MaxActiveRequests.
func (s *Server) acquireCluster(ctx context.Context, appID, slot string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limiterTimeout)
	defer cancel()
	ok, err := s.cfg.Limiter.Acquire(ctx, appID, slot, s.cfg.MaxActiveRequests)
	switch {
	case err != nil:
		s.log.Warn("cluster-wide active-request limit unavailable; admitting the run", "app_id", appID, "err", err)
	case !ok:
		return &TooManyRequestsError{AppID: appID, Limit: s.cfg.MaxActiveRequests}
	}
	return nil
}

// releaseCluster frees slot of appID's cluster-wide slots.
func (s *Server) releaseCluster(appID, slot string) {
	ctx, cancel := context.WithTimeout(s.runCtx, limiterTimeout)
	defer cancel()
	if err := s.cfg.Limiter.Release(ctx, appID, slot); err != nil {
		s.log.Warn("releasing a cluster-wide active-request slot", "app_id", appID, "slot", slot, "err", err)
	}
}

// CancelTask is the holder's side of a stop request from another replica
// (package cluster): if this server runs taskID as a run of appID started
// by user, it stops it and returns ok and a function that waits, at most
// StopWait or until its ctx is done, for the run to end (nil once it has,
// *StopTimeoutError if it has not). Otherwise it does nothing and returns
// ok false.
func (s *Server) CancelTask(taskID, appID, user string) (wait func(context.Context) error, ok bool) {
	s.mu.Lock()
	t, ok := s.tasks[taskID]
	if !ok || t.appID != appID || t.user != user {
		s.mu.Unlock()
		return nil, false
	}
	if t.done == nil {
		t.done = make(chan struct{})
	}
	done := t.done
	s.mu.Unlock()
	t.cancel(run.ErrStopped)
	return func(ctx context.Context) error { return s.waitStopped(ctx, appID, taskID, done) }, true
}

// Tasks returns the ids of the tasks this server runs now, sorted.
func (s *Server) Tasks() []string {
	s.mu.Lock()
	ids := make([]string, 0, len(s.tasks))
	for id := range s.tasks {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	slices.Sort(ids)
	return ids
}

// waitStopped waits until done is closed (the stopped run has ended), at
// most StopWait or until ctx is done.
func (s *Server) waitStopped(ctx context.Context, appID, taskID string, done <-chan struct{}) error {
	wait := time.NewTimer(s.cfg.StopWait)
	defer wait.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-wait.C:
		s.log.Error("stopped run did not end in time", "app_id", appID, "task_id", taskID, "wait", s.cfg.StopWait)
		return &StopTimeoutError{Wait: s.cfg.StopWait}
	}
}
