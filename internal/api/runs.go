package api

import (
	"context"
	"sync"

	"github.com/flowrun/flowrun/internal/run"
)

// RunStore records the runs GET /workflows/run/{id} answers from. The
// server saves a run when it starts and again when it ends.
type RunStore interface {
	// Save records the latest state of a run of app appID, replacing any
	// earlier state of the same run. info must not be modified afterwards.
	Save(ctx context.Context, appID string, info *run.RunInfo) error
	// Get returns a run of app appID. Returns ErrRunNotFound if the store
	// does not hold it (runs of other apps included).
	Get(ctx context.Context, appID, runID string) (*run.RunInfo, error)
	// DeleteApp forgets every run of an app.
	DeleteApp(ctx context.Context, appID string) error
}

// RecentRuns is a RunStore that keeps the most recent runs of each app in
// memory, evicting the oldest started run once an app has more than its
// size. It is what memory mode uses.
type RecentRuns struct {
	size int

	mu   sync.Mutex
	apps map[string]*ring
}

type ring struct {
	ids  []string // insertion order, circular once full
	next int
	byID map[string]*run.RunInfo
}

var _ RunStore = (*RecentRuns)(nil)

// NewRecentRuns returns a store keeping up to size runs per app (size < 1
// means 1).
func NewRecentRuns(size int) *RecentRuns {
	return &RecentRuns{size: max(size, 1), apps: map[string]*ring{}}
}

// Save implements RunStore.
func (s *RecentRuns) Save(_ context.Context, appID string, info *run.RunInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rg := s.apps[appID]
	if rg == nil {
		rg = &ring{byID: map[string]*run.RunInfo{}}
		s.apps[appID] = rg
	}
	if _, ok := rg.byID[info.ID]; ok {
		rg.byID[info.ID] = info
		return nil
	}
	if len(rg.ids) < s.size {
		rg.ids = append(rg.ids, info.ID)
	} else {
		delete(rg.byID, rg.ids[rg.next])
		rg.ids[rg.next] = info.ID
		rg.next = (rg.next + 1) % s.size
	}
	rg.byID[info.ID] = info
	return nil
}

// Get implements RunStore.
func (s *RecentRuns) Get(_ context.Context, appID, runID string) (*run.RunInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rg := s.apps[appID]; rg != nil {
		if info, ok := rg.byID[runID]; ok {
			return info, nil
		}
	}
	return nil, ErrRunNotFound
}

// DeleteApp implements RunStore.
func (s *RecentRuns) DeleteApp(_ context.Context, appID string) error {
	s.mu.Lock()
	delete(s.apps, appID)
	s.mu.Unlock()
	return nil
}
