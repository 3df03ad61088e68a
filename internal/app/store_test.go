package app_test

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/app"
	"github.com/flowrun/flowrun/internal/run"
)

// newStoreFunc returns an empty store whose timestamps come from now.
type newStoreFunc func(t *testing.T, now func() time.Time) app.Store

// tickClock returns a clock that advances one second per reading, from a
// whole second, so every stamp is distinct and survives PostgreSQL's
// microsecond precision.
func tickClock() func() time.Time {
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	var n atomic.Int64
	return func() time.Time { return base.Add(time.Duration(n.Add(1)) * time.Second) }
}

var testEngine = run.New(run.Config{}, nil)

func mustNew(t *testing.T, id, wf string) *app.App {
	t.Helper()
	a, err := app.New(testEngine, id, wf, echoDSL(t))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

const (
	otherAppID = "0d3d7671-51cc-4263-94c9-97645780c4cb"
	otherWfID  = "5b2e0f3c-3a7e-4d0b-9a55-0c2f1f7e8d11"
)

// testStore is the behaviour every app.Store shares.
func testStore(t *testing.T, newStore newStoreFunc) {
	t.Run("KeysAndApps", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s := newStore(t, nil)
		a := mustNew(t, appID, wfID)
		if a.Name != "echo" || a.Mode != "workflow" {
			t.Fatalf("name/mode = %q/%q", a.Name, a.Mode)
		}
		if created, err := s.Put(ctx, a); err != nil || !created {
			t.Fatalf("Put = %v, %v", created, err)
		}
		if created, err := s.Put(ctx, a); err != nil || created {
			t.Fatalf("second Put = %v, %v", created, err)
		}
		if _, err := s.Authenticate(ctx, "app-nothing-here"); !errors.Is(err, app.ErrNotFound) {
			t.Fatalf("Authenticate unknown = %v", err)
		}
		k, err := s.AddKey(ctx, appID, "app-secret-key-1")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Authenticate(ctx, "app-secret-key-1"); err != nil || got.ID != appID {
			t.Fatalf("Authenticate = %v, %v", got, err)
		}
		if _, err := s.AddKey(ctx, appID, "app-secret-key-1"); !errors.Is(err, app.ErrConflict) {
			t.Fatalf("duplicate key = %v", err)
		}
		if _, err := s.AddKey(ctx, appID, "nope"); !errors.Is(err, app.ErrInvalid) {
			t.Fatalf("bad key = %v", err)
		}
		if _, err := s.AddKey(ctx, otherAppID, "app-secret-key-2"); !errors.Is(err, app.ErrNotFound) {
			t.Fatalf("key for unknown app = %v", err)
		}
		keys, err := s.Keys(ctx, appID)
		if err != nil || len(keys) != 1 || keys[0].ID != k.ID || len(k.ID) != 16 {
			t.Fatalf("Keys = %v, %v", keys, err)
		}
		if err := s.RemoveKey(ctx, appID, "0000000000000000"); !errors.Is(err, app.ErrNotFound) {
			t.Fatalf("RemoveKey unknown = %v", err)
		}
		if err := s.RemoveKey(ctx, appID, "not hex"); !errors.Is(err, app.ErrNotFound) {
			t.Fatalf("RemoveKey malformed id = %v", err)
		}
		if err := s.RemoveKey(ctx, appID, k.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, "app-secret-key-1"); !errors.Is(err, app.ErrNotFound) {
			t.Fatalf("Authenticate removed = %v", err)
		}
		if _, err := s.AddKey(ctx, appID, "app-secret-key-3"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, appID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, "app-secret-key-3"); !errors.Is(err, app.ErrNotFound) {
			t.Fatalf("key of deleted app = %v", err)
		}
		if err := s.Delete(ctx, appID); !errors.Is(err, app.ErrNotFound) {
			t.Fatalf("Delete twice = %v", err)
		}
		if list, _ := s.List(ctx); len(list) != 0 {
			t.Fatalf("List = %v", list)
		}
	})

	t.Run("PutRejects", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s := newStore(t, nil)
		good := mustNew(t, appID, wfID)
		for name, mutate := range map[string]func(a *app.App){
			"bad app id":      func(a *app.App) { a.ID = "x" },
			"bad workflow id": func(a *app.App) { a.WorkflowID = "not-a-uuid" },
			"no workflow":     func(a *app.App) { a.Workflow = nil },
		} {
			a := *good
			mutate(&a)
			if _, err := s.Put(ctx, &a); !errors.Is(err, app.ErrInvalid) {
				t.Errorf("%s: Put = %v, want ErrInvalid", name, err)
			}
		}
		if list, _ := s.List(ctx); len(list) != 0 {
			t.Fatalf("List after rejected Puts = %v", list)
		}
	})

	t.Run("GetReplaceAndList", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s := newStore(t, tickClock())
		if _, err := s.Get(ctx, appID); !errors.Is(err, app.ErrNotFound) {
			t.Fatalf("Get unknown = %v", err)
		}
		a := mustNew(t, appID, wfID)
		a.Name, a.Tags, a.AuthorName = "zeta", []string{"x", "y"}, "ann"
		if _, err := s.Put(ctx, a); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, appID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != appID || got.WorkflowID != wfID || got.Name != "zeta" || got.Mode != "workflow" ||
			!slices.Equal(got.Tags, []string{"x", "y"}) || got.AuthorName != "ann" ||
			string(got.DSL) != string(a.DSL) || got.Workflow == nil || got.UpdatedAt.IsZero() {
			t.Fatalf("Get = %+v", got)
		}
		first := got.UpdatedAt
		if _, err := s.AddKey(ctx, appID, "app-kept-across-put"); err != nil {
			t.Fatal(err)
		}

		// Replacing keeps the keys and restamps the app.
		b := mustNew(t, appID, otherWfID)
		b.Name = "alpha"
		if created, err := s.Put(ctx, b); err != nil || created {
			t.Fatalf("replacing Put = %v, %v", created, err)
		}
		got, err = s.Authenticate(ctx, "app-kept-across-put")
		if err != nil || got.WorkflowID != otherWfID || got.Name != "alpha" || len(got.Tags) != 0 || !got.UpdatedAt.After(first) {
			t.Fatalf("after replace: %+v, %v", got, err)
		}

		// List: by name, then id.
		c := mustNew(t, otherAppID, otherWfID)
		c.Name = "alpha"
		d := mustNew(t, "f1d1e6a4-5f0e-4c59-b0a4-2a6f5d1c3b77", wfID)
		d.Name = "beta"
		for _, x := range []*app.App{d, c} {
			if _, err := s.Put(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		list, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range list {
			ids = append(ids, x.ID)
		}
		if want := []string{otherAppID, appID, d.ID}; !slices.Equal(ids, want) {
			t.Fatalf("List ids = %v, want %v", ids, want)
		}
	})

	t.Run("KeysAcrossApps", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s := newStore(t, tickClock())
		for _, a := range []*app.App{mustNew(t, appID, wfID), mustNew(t, otherAppID, otherWfID)} {
			if _, err := s.Put(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Keys(ctx, "1e0c7a1a-6a43-4c1c-8a8e-0b8a2c6e9f00"); !errors.Is(err, app.ErrNotFound) {
			t.Fatalf("Keys of unknown app = %v", err)
		}
		var infos []app.KeyInfo
		for _, k := range []string{"app-first-key-a", "app-second-key-a", "app-third-key-a"} {
			info, err := s.AddKey(ctx, appID, k)
			if err != nil {
				t.Fatal(err)
			}
			infos = append(infos, info)
		}
		other, err := s.AddKey(ctx, otherAppID, "app-only-key-b")
		if err != nil {
			t.Fatal(err)
		}
		// A key belongs to one app only.
		if _, err := s.AddKey(ctx, otherAppID, "app-first-key-a"); !errors.Is(err, app.ErrConflict) {
			t.Fatalf("key of another app = %v, want ErrConflict", err)
		}
		if got, err := s.Authenticate(ctx, "app-first-key-a"); err != nil || got.ID != appID {
			t.Fatalf("Authenticate after conflict = %v, %v", got, err)
		}
		keys, err := s.Keys(ctx, appID)
		if err != nil || !sameKeys(keys, infos) {
			t.Fatalf("Keys = %v, %v; want oldest first %v", keys, err, infos)
		}
		// A key id names a key of one app only.
		if err := s.RemoveKey(ctx, otherAppID, infos[0].ID); !errors.Is(err, app.ErrNotFound) {
			t.Fatalf("RemoveKey of another app's key = %v", err)
		}
		// Deleting an app leaves the other's keys alone.
		if err := s.Delete(ctx, appID); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Authenticate(ctx, "app-only-key-b"); err != nil || got.ID != otherAppID {
			t.Fatalf("other app's key after Delete = %v, %v", got, err)
		}
		if keys, err := s.Keys(ctx, otherAppID); err != nil || !sameKeys(keys, []app.KeyInfo{other}) {
			t.Fatalf("other app's Keys = %v, %v", keys, err)
		}
		// The key of the deleted app is free again.
		if _, err := s.AddKey(ctx, otherAppID, "app-first-key-a"); err != nil {
			t.Fatalf("reusing a deleted app's key = %v", err)
		}
	})
}

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	testStore(t, func(_ *testing.T, now func() time.Time) app.Store { return app.NewMemory(now) })
}

func TestPostgresStore(t *testing.T) {
	t.Parallel()
	testStore(t, func(t *testing.T, now func() time.Time) app.Store {
		return startPostgres(t, newPool(t), app.PostgresConfig{Now: now})
	})
}

// sameKeys compares key lists; times are compared with Equal, since a
// time read back from PostgreSQL has another location.
func sameKeys(a, b []app.KeyInfo) bool {
	return slices.EqualFunc(a, b, func(x, y app.KeyInfo) bool { return x.ID == y.ID && x.CreatedAt.Equal(y.CreatedAt) })
}
