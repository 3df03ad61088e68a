package repotest

import (
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/repo"
)

// history is every version the engine produced for one run, and the final
// state a store must end in.
type history struct {
	versions   repo.Batch
	final      *repo.WorkflowRun
	finalNodes []*repo.NodeExecution
	log        *repo.AppLog
}

// genHistory simulates one run's event stream: the run starts, its nodes
// start, retry and finish, the run may pause, and it ends in a terminal state.
// Some records also get a stray non-terminal version with a Seq above the
// final one (a buggy or replayed producer), which must never win.
func genHistory(rng *rand.Rand, app string, created time.Time) *history {
	h := &history{}
	seq := int64(1)
	next := func() int64 { seq++; return seq }

	r := runFixture(app, created)
	h.log = logFixture(r)
	h.versions.Runs = append(h.versions.Runs, r)
	h.versions.AppLogs = append(h.versions.AppLogs, h.log)

	n := 1 + rng.IntN(6)
	for j := int64(1); j <= int64(n); j++ {
		node := nodeFixture(r, j)
		node.Seq = next()
		h.versions.NodeExecutions = append(h.versions.NodeExecutions, node)
		if rng.IntN(4) == 0 {
			retry := *node
			retry.Status, retry.Seq, retry.Error = repo.StatusRetry, next(), "retrying"
			h.versions.NodeExecutions = append(h.versions.NodeExecutions, &retry)
		}
		final := []repo.Status{repo.StatusSucceeded, repo.StatusSucceeded, repo.StatusFailed, repo.StatusException}[rng.IntN(4)]
		done := finishNode(node, final, next())
		h.versions.NodeExecutions = append(h.versions.NodeExecutions, done)
		h.finalNodes = append(h.finalNodes, done)
		if rng.IntN(5) == 0 {
			stray := *node
			stray.Seq = done.Seq + 1 + rng.Int64N(5)
			h.versions.NodeExecutions = append(h.versions.NodeExecutions, &stray)
		}
		if rng.IntN(6) == 0 {
			paused := *r
			paused.Status, paused.Seq = repo.StatusPaused, next()
			h.versions.Runs = append(h.versions.Runs, &paused)
		}
	}

	final := []repo.Status{repo.StatusSucceeded, repo.StatusFailed, repo.StatusStopped, repo.StatusPartialSucceeded}[rng.IntN(4)]
	h.final = finish(r, final, next())
	h.versions.Runs = append(h.versions.Runs, h.final)
	if rng.IntN(4) == 0 {
		stray := *r
		stray.Seq = h.final.Seq + 1 + rng.Int64N(5)
		h.versions.Runs = append(h.versions.Runs, &stray)
	}
	return h
}

// testSeed returns a random seed for a property test, or
// REPOTEST_SEED's, and logs it.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("REPOTEST_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("REPOTEST_SEED: %v", err)
		}
	}
	t.Logf("seed %d (replay with REPOTEST_SEED=%[1]d)", seed)
	return seed
}

// testConverge is the property test: the versions of many runs, shuffled,
// duplicated and split into random batches written by concurrent writers,
// always end in exactly each record's final state, with no duplicate rows.
func testConverge(t *testing.T, s repo.Store) {
	rng := rand.New(rand.NewPCG(testSeed(t), 0x5eed))

	const runs, writers = 30, 3
	var hs []*history
	type rec struct {
		run  *repo.WorkflowRun
		node *repo.NodeExecution
		log  *repo.AppLog
	}
	var pool []rec
	for i := range runs {
		h := genHistory(rng, "app-1", baseTime.Add(time.Duration(i)*time.Second))
		hs = append(hs, h)
		for _, r := range h.versions.Runs {
			pool = append(pool, rec{run: r})
		}
		for _, n := range h.versions.NodeExecutions {
			pool = append(pool, rec{node: n})
		}
		for _, l := range h.versions.AppLogs {
			pool = append(pool, rec{log: l})
		}
	}
	// Duplicate about half of the records, some several times.
	for _, r := range pool[:len(pool):len(pool)] {
		for range rng.IntN(3) {
			pool = append(pool, r)
		}
	}
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })

	var batches []*repo.Batch
	for len(pool) > 0 {
		k := min(1+rng.IntN(12), len(pool))
		b := &repo.Batch{}
		for _, r := range pool[:k] {
			switch {
			case r.run != nil:
				b.Runs = append(b.Runs, r.run)
			case r.node != nil:
				b.NodeExecutions = append(b.NodeExecutions, r.node)
			default:
				b.AppLogs = append(b.AppLogs, r.log)
			}
		}
		batches = append(batches, b)
		pool = pool[k:]
	}

	writeAll(t, s, batches, writers)

	for _, h := range hs {
		requireRun(t, h.final, getRun(t, s, h.final.AppID, h.final.ID))
		requireNodes(t, h.finalNodes, listNodes(t, s, h.final.AppID, h.final.ID))
	}
	res := list(t, s, &repo.RunListParams{AppID: "app-1", Limit: 100})
	if res.Total != runs || len(res.Items) != runs {
		t.Fatalf("RunList: total %d, %d items; want %d", res.Total, len(res.Items), runs)
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].log.CreatedAt.After(hs[j].log.CreatedAt) })
	for i, it := range res.Items {
		requireLog(t, hs[i].log, it.Log)
		requireRun(t, hs[i].final, it.Run)
	}
}
