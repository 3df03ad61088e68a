// Package apptest serves apps in tests: Put compiles test apps and puts
// them, with their API keys, into a store.
//
// Only _test.go files import it.
package apptest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowrun/flowrun/internal/app"
)

// App is an app a test serves, with its ids and API key. Its DSL is DSL,
// or the file named File in the repository's examples/ directory.
type App struct{ ID, WF, Key, File, DSL string }

// Store is where Put puts apps; app.Memory is one.
type Store interface {
	Put(ctx context.Context, a *app.App) (bool, error)
	AddKey(ctx context.Context, appID, key string) (app.KeyInfo, error)
}

// Put compiles each app with c and puts it and its key into s, failing
// the test on any error. Files are read from ../../examples, which is the
// repository's examples/ directory when the test's package is two levels
// below the root (internal/x).
func Put(t testing.TB, s Store, c app.Compiler, apps ...App) {
	t.Helper()
	ctx := context.Background()
	for _, a := range apps {
		dsl := []byte(a.DSL)
		if a.File != "" {
			var err error
			if dsl, err = os.ReadFile(filepath.Join("..", "..", "examples", a.File)); err != nil {
				t.Fatal(err)
			}
		}
		ap, err := app.New(c, a.ID, a.WF, dsl)
		if err != nil {
			t.Fatalf("app %s: %v", a.ID, err)
		}
		if _, err := s.Put(ctx, ap); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddKey(ctx, a.ID, a.Key); err != nil {
			t.Fatal(err)
		}
	}
}
