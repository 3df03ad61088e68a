package memory_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/repo"
	"github.com/flowrun/flowrun/internal/repo/memory"
	"github.com/flowrun/flowrun/internal/repo/repotest"
)

func newStore(t *testing.T, capacity int) *memory.Store {
	t.Helper()
	s, err := memory.New(memory.Config{Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	t.Parallel()
	repotest.Exercise(t, func(t *testing.T) repo.Store { return newStore(t, 0) })
}

func TestChat(t *testing.T) {
	t.Parallel()
	repotest.ExerciseChat(t, func(t *testing.T) repotest.ChatStore { return newStore(t, 0) })
}

func TestNewInvalid(t *testing.T) {
	t.Parallel()
	if _, err := memory.New(memory.Config{Capacity: -1}); err == nil {
		t.Fatal("negative capacity accepted")
	}
}

// TestEviction checks that a full store forgets the runs that finished
// first, then the oldest unfinished ones, with their records.
// Runs whose records are deferred (Defer) are evicted the same way.
func TestEviction(t *testing.T) {
	t.Parallel()
	for _, deferred := range []bool{false, true} {
		t.Run(fmt.Sprintf("deferred=%v", deferred), func(t *testing.T) {
			t.Parallel()
			testEviction(t, deferred)
		})
	}
}

func testEviction(t *testing.T, deferred bool) {
	s := newStore(t, 3)
	ctx := t.Context()
	all := map[string]*repo.Batch{} // per run, every record so far (for Defer)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(i int) (*repo.WorkflowRun, *repo.Batch) {
		r := &repo.WorkflowRun{ID: repotest.NewID(), AppID: "app", Status: repo.StatusRunning, Seq: 1, CreatedAt: base.Add(time.Duration(i) * time.Second)}
		n := &repo.NodeExecution{ID: repotest.NewID(), AppID: "app", WorkflowRunID: r.ID, Index: 1, Status: repo.StatusRunning, Seq: 2}
		l := &repo.AppLog{ID: repotest.NewID(), AppID: "app", WorkflowRunID: r.ID, CreatedAt: r.CreatedAt, Seq: 1}
		return r, &repo.Batch{Runs: []*repo.WorkflowRun{r}, NodeExecutions: []*repo.NodeExecution{n}, AppLogs: []*repo.AppLog{l}}
	}
	write := func(b *repo.Batch) {
		t.Helper()
		if !deferred {
			if err := s.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
			return
		}
		id := b.Runs[0].ID
		if all[id] == nil {
			all[id] = &repo.Batch{}
		}
		all[id].Append(b)
		snapshot := *all[id]
		s.Defer(id, b.Runs[0].Status.Terminal(), 0, func() *repo.Batch { return &snapshot })
	}
	finish := func(r *repo.WorkflowRun) {
		t.Helper()
		d := *r
		d.Status, d.Seq = repo.StatusSucceeded, 9
		write(&repo.Batch{Runs: []*repo.WorkflowRun{&d}})
	}
	has := func(r *repo.WorkflowRun) bool {
		t.Helper()
		_, err := s.RunGet(ctx, &repo.RunGetParams{AppID: "app", RunID: r.ID})
		if err != nil && !errors.Is(err, repo.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	var runs []*repo.WorkflowRun
	for i := range 3 {
		r, b := mk(i)
		runs = append(runs, r)
		write(b)
	}
	// Run 1 finishes before run 0; run 2 keeps running.
	finish(runs[1])
	finish(runs[0])

	r3, b3 := mk(3)
	write(b3)
	if has(runs[1]) || !has(runs[0]) || !has(runs[2]) || !has(r3) {
		t.Fatalf("after 4th run: kept %v %v %v %v; want run 1 evicted", has(runs[0]), has(runs[1]), has(runs[2]), has(r3))
	}
	r4, b4 := mk(4)
	write(b4)
	if has(runs[0]) || !has(runs[2]) || !has(r3) || !has(r4) {
		t.Fatalf("after 5th run: want run 0 evicted")
	}
	// No finished run left: the oldest unfinished one goes.
	r5, b5 := mk(5)
	write(b5)
	if has(runs[2]) || !has(r3) || !has(r4) || !has(r5) {
		t.Fatalf("after 6th run: want run 2 evicted")
	}
	if s.Len() != 3 {
		t.Fatalf("Len = %d, want 3", s.Len())
	}
	res, err := s.RunList(ctx, &repo.RunListParams{AppID: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 3 {
		t.Fatalf("RunList total %d after eviction, want 3", res.Total)
	}
}

// TestCapacityBound fills a small store with many runs: it never holds
// more than its capacity.
func TestCapacityBound(t *testing.T) {
	t.Parallel()
	s := newStore(t, 10)
	for i := range 100 {
		r := &repo.WorkflowRun{ID: repotest.NewID(), AppID: "app", Status: repo.StatusSucceeded, Seq: int64(i)}
		if err := s.Write(t.Context(), &repo.Batch{Runs: []*repo.WorkflowRun{r}}); err != nil {
			t.Fatal(err)
		}
		if s.Len() > 10 {
			t.Fatalf("Len = %d > capacity", s.Len())
		}
	}
}

// TestDeferInvalidIsReported checks that deferred records the store would
// refuse are reported to the reader, not dropped silently.
func TestDeferInvalidIsReported(t *testing.T) {
	t.Parallel()
	s := newStore(t, 0)
	id := repotest.NewID()
	s.Defer(id, true, 0, func() *repo.Batch {
		return &repo.Batch{Runs: []*repo.WorkflowRun{{ID: id, AppID: "app", Status: repo.StatusSucceeded, Inputs: []byte("{")}}}
	})
	if _, err := s.RunGet(t.Context(), &repo.RunGetParams{AppID: "app", RunID: id}); !errors.Is(err, repo.ErrInvalid) {
		t.Fatalf("RunGet = %v, want ErrInvalid", err)
	}
	if _, err := s.RunList(t.Context(), &repo.RunListParams{AppID: "app"}); !errors.Is(err, repo.ErrInvalid) {
		t.Fatalf("RunList = %v, want ErrInvalid", err)
	}
}

// TestDeferMixesWithWrite checks that deferred and written versions of one
// run rank as usual: a late deferred running version never hides a
// written final one.
func TestDeferMixesWithWrite(t *testing.T) {
	t.Parallel()
	s := newStore(t, 0)
	id := repotest.NewID()
	done := &repo.WorkflowRun{ID: id, AppID: "app", Status: repo.StatusSucceeded, Seq: 9}
	if err := s.Write(t.Context(), &repo.Batch{Runs: []*repo.WorkflowRun{done}}); err != nil {
		t.Fatal(err)
	}
	s.Defer(id, false, 0, func() *repo.Batch {
		return &repo.Batch{Runs: []*repo.WorkflowRun{{ID: id, AppID: "app", Status: repo.StatusRunning, Seq: 1}}}
	})
	r, err := s.RunGet(t.Context(), &repo.RunGetParams{AppID: "app", RunID: id})
	if err != nil || r.Status != repo.StatusSucceeded {
		t.Fatalf("RunGet = %+v, %v; want succeeded", r, err)
	}
}

// TestByteBound fills a store with runs of 100 KiB inputs: the memory it
// holds never passes MaxBytes, it keeps as many runs as fit, and the runs
// it keeps are the latest.
func TestByteBound(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	s, err := memory.New(memory.Config{MaxBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	inputs := []byte(`{"q": "` + strings.Repeat("x", 50<<10) + `"}`)
	var ids []string
	for i := range 40 {
		r := &repo.WorkflowRun{ID: repotest.NewID(), AppID: "app", Status: repo.StatusSucceeded, Seq: int64(i), Inputs: inputs}
		if err := s.Write(t.Context(), &repo.Batch{Runs: []*repo.WorkflowRun{r}}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
		if b := s.Bytes(); b > limit {
			t.Fatalf("after run %d the store holds %d bytes > %d", i, b, limit)
		}
	}
	// Each run counts its inputs twice (records, keyword search text).
	if n := s.Len(); n < 8 || n > 10 {
		t.Fatalf("Len = %d, want the 8-10 runs of ~100 KiB that fit in 1 MiB", n)
	}
	for i, id := range ids {
		_, err := s.RunGet(t.Context(), &repo.RunGetParams{AppID: "app", RunID: id})
		if kept := i >= len(ids)-s.Len(); kept != (err == nil) {
			t.Fatalf("run %d of %d: RunGet = %v (store keeps %d)", i, len(ids), err, s.Len())
		}
	}
}

// TestByteBoundDeferred: deferred runs count the size their caller
// estimates until their final records are built, then those records'
// size; a run over the whole limit is not kept, and evicts nobody else.
func TestByteBoundDeferred(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	s, err := memory.New(memory.Config{MaxBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	deferRun := func(size int64) string {
		id := repotest.NewID()
		s.Defer(id, true, size, func() *repo.Batch {
			return &repo.Batch{Runs: []*repo.WorkflowRun{{ID: id, AppID: "app", Status: repo.StatusSucceeded, Seq: 2}}}
		})
		return id
	}
	a, b := deferRun(300<<10), deferRun(300<<10)
	if got := s.Bytes(); got != 600<<10 {
		t.Fatalf("two deferred runs of 300 KiB: store holds %d", got)
	}
	// Reading a settles it: its events are dropped, its small records count.
	if _, err := s.RunGet(t.Context(), &repo.RunGetParams{AppID: "app", RunID: a}); err != nil {
		t.Fatal(err)
	}
	if got := s.Bytes(); got > 300<<10+4096 {
		t.Fatalf("after settling one run: store holds %d", got)
	}
	// b's 300 KiB + c + a's small record pass 1 MiB; without a they fit.
	c := deferRun(limit - 300<<10 - 100)
	if s.Len() != 2 || s.Bytes() > limit {
		t.Fatalf("Len %d, Bytes %d after a third run", s.Len(), s.Bytes())
	}
	for id, want := range map[string]bool{a: false, b: true, c: true} {
		if _, err := s.RunGet(t.Context(), &repo.RunGetParams{AppID: "app", RunID: id}); (err == nil) != want {
			t.Fatalf("run kept = %v, want %v", err == nil, want)
		}
	}
	huge := deferRun(2 << 20)
	if _, err := s.RunGet(t.Context(), &repo.RunGetParams{AppID: "app", RunID: huge}); !errors.Is(err, repo.ErrNotFound) {
		t.Fatalf("a run over the whole limit: RunGet = %v, want ErrNotFound", err)
	}
	if s.Bytes() > limit {
		t.Fatalf("Bytes %d > limit", s.Bytes())
	}
}

func TestConsole(t *testing.T) {
	t.Parallel()
	repotest.ExerciseConsole(t, func(t *testing.T) repotest.ConsoleStore { return newStore(t, 0) })
}
