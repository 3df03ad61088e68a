// Package slowtest runs the fault-injection suite (internal/chaos) at CI
// scale. It is slow (about two minutes: it builds the binaries, starts a
// PostgreSQL and a Redis per scenario and waits out asynq's task-lease
// recovery), so it lives apart from the fast tests. It needs PostgreSQL
// and Redis installed (scripts/test.sh installs them) but starts its own
// servers on free ports: it never touches TEST_DATABASE_URL or
// TEST_REDIS_URL, so it runs beside the rest of the suite. It fails,
// never skips, when something is missing.
package slowtest

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/chaos"
)

func TestChaosCIScale(t *testing.T) {
	root, err := chaos.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// PostgreSQL runs as the postgres user when we are root: it must reach
	// the work directory, which t.TempDir (under a 0700 parent) is not.
	work, err := os.MkdirTemp("/tmp", "flowrun-chaos-ci-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	api, persister, err := chaos.Build(bctx, root, work)
	if err != nil {
		t.Fatal(err)
	}
	h := &chaos.Harness{
		Bin:   chaos.Binaries{API: api, Persister: persister, Root: root},
		Dir:   work,
		Scale: chaos.CIScale,
		Logf:  t.Logf,
	}
	// Scenarios own their servers and ports, so they run at once (up to
	// four): the minute or more asynq takes to recover a task lost with a
	// killed persister or a restarted Redis then overlaps the others. The
	// go test -parallel limit (GOMAXPROCS) would allow only two.
	results := make([]*chaos.Result, len(chaos.Scenarios))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, s := range chaos.Scenarios {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = h.Run(ctx, s)
		}()
	}
	wg.Wait()
	for i, s := range chaos.Scenarios {
		t.Run(s.Name, func(t *testing.T) {
			r := results[i]
			if r.Err != nil {
				t.Fatalf("%v (logs in %s)", r.Err, r.Dir)
			}
			for _, p := range r.Check.Problems {
				t.Error(p)
			}
			for _, n := range r.Notes {
				t.Log(n)
			}
			if !r.OK() {
				t.Logf("logs in %s", r.Dir)
			}
		})
	}
	var done []*chaos.Result
	for _, r := range results {
		if r != nil {
			done = append(done, r)
		}
	}
	t.Logf("\n%s", chaos.Table(chaos.CIScale, done))
	if !t.Failed() {
		os.RemoveAll(work)
	}
}
