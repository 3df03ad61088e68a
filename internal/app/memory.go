package app

import (
	"cmp"
	"context"
	"crypto/subtle"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Memory is a Store kept in process memory. Keys are held only as SHA-256
// hashes. The zero value is not usable; call NewMemory.
type Memory struct {
	now func() time.Time

	mu   sync.RWMutex
	apps map[string]*App
	keys map[[32]byte]*keyEntry
}

type keyEntry struct {
	hash    [32]byte
	appID   string
	created time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store. now stamps UpdatedAt and key creation
// times (nil: time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, apps: map[string]*App{}, keys: map[[32]byte]*keyEntry{}}
}

// Authenticate implements Store. The key is hashed and looked up by hash;
// the stored hash is compared in constant time.
func (m *Memory) Authenticate(_ context.Context, key string) (*App, error) {
	h := hashKey(key)
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.keys[h]
	if !ok || subtle.ConstantTimeCompare(e.hash[:], h[:]) != 1 {
		return nil, ErrNotFound
	}
	a, ok := m.apps[e.appID]
	if !ok {
		return nil, ErrNotFound
	}
	return a, nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, id string) (*App, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	a, ok := m.apps[id]
	if !ok {
		return nil, fmt.Errorf("app %s: %w", id, ErrNotFound)
	}
	return a, nil
}

// List implements Store.
func (m *Memory) List(context.Context) ([]*App, error) {
	m.mu.RLock()
	out := make([]*App, 0, len(m.apps))
	for _, a := range m.apps {
		out = append(out, a)
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b *App) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// Put implements Store. The stored app is a copy of a with UpdatedAt set.
func (m *Memory) Put(_ context.Context, a *App) (bool, error) {
	if err := CheckID("app id", a.ID); err != nil {
		return false, err
	}
	if err := CheckID("workflow id", a.WorkflowID); err != nil {
		return false, err
	}
	if a.Workflow == nil {
		return false, fmt.Errorf("%w: app %s has no workflow", ErrInvalid, a.ID)
	}
	c := *a
	c.UpdatedAt = m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	_, existed := m.apps[a.ID]
	m.apps[a.ID] = &c
	return !existed, nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.apps[id]; !ok {
		return fmt.Errorf("app %s: %w", id, ErrNotFound)
	}
	delete(m.apps, id)
	for h, e := range m.keys {
		if e.appID == id {
			delete(m.keys, h)
		}
	}
	return nil
}

// AddKey implements Store.
func (m *Memory) AddKey(_ context.Context, appID, key string) (KeyInfo, error) {
	if err := CheckKey(key); err != nil {
		return KeyInfo{}, err
	}
	h := hashKey(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.apps[appID]; !ok {
		return KeyInfo{}, fmt.Errorf("app %s: %w", appID, ErrNotFound)
	}
	if _, ok := m.keys[h]; ok {
		return KeyInfo{}, fmt.Errorf("key %s: %w", keyID(h), ErrConflict)
	}
	e := &keyEntry{hash: h, appID: appID, created: m.now()}
	m.keys[h] = e
	return KeyInfo{ID: keyID(h), CreatedAt: e.created}, nil
}

// RemoveKey implements Store.
func (m *Memory) RemoveKey(_ context.Context, appID, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, e := range m.keys {
		if e.appID == appID && keyID(h) == id {
			delete(m.keys, h)
			return nil
		}
	}
	return fmt.Errorf("key %s of app %s: %w", id, appID, ErrNotFound)
}

// Keys implements Store.
func (m *Memory) Keys(_ context.Context, appID string) ([]KeyInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if _, ok := m.apps[appID]; !ok {
		return nil, fmt.Errorf("app %s: %w", appID, ErrNotFound)
	}
	out := []KeyInfo{}
	for h, e := range m.keys {
		if e.appID == appID {
			out = append(out, KeyInfo{ID: keyID(h), CreatedAt: e.created})
		}
	}
	slices.SortFunc(out, func(a, b KeyInfo) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// The methods below let Postgres use a Memory as its cache: they store
// values as given (timestamps included) rather than stamping them.

// setKey stores e, replacing whichever app held e.hash.
func (m *Memory) setKey(e keyEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[e.hash] = &e
}

// removeKeyHash forgets the key with hash h.
func (m *Memory) removeKeyHash(h [32]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, h)
}

// replaceApp replaces app id and all its keys in one step: a nil a removes
// the app and its keys.
func (m *Memory) replaceApp(id string, a *App, keys []keyEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, e := range m.keys {
		if e.appID == id {
			delete(m.keys, h)
		}
	}
	if a == nil {
		delete(m.apps, id)
		return
	}
	m.apps[id] = a
	for _, e := range keys {
		m.keys[e.hash] = &e
	}
}

// replaceAll replaces every app and key.
func (m *Memory) replaceAll(apps []*App, keys []keyEntry) {
	am := make(map[string]*App, len(apps))
	for _, a := range apps {
		am[a.ID] = a
	}
	km := make(map[[32]byte]*keyEntry, len(keys))
	for _, e := range keys {
		km[e.hash] = &e
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.apps, m.keys = am, km
}

// snapshot returns every app and key entry.
func (m *Memory) snapshot() ([]*App, []keyEntry) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	apps := make([]*App, 0, len(m.apps))
	for _, a := range m.apps {
		apps = append(apps, a)
	}
	keys := make([]keyEntry, 0, len(m.keys))
	for _, e := range m.keys {
		keys = append(keys, *e)
	}
	return apps, keys
}
