package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// lagPollEvery is how often the poll watcher looks for committed runs: the
// lag it reports is at most this much (plus a query) above the true one.
const lagPollEvery = 5 * time.Millisecond

// lagWatcher sees runs become committed in PostgreSQL. wait hands it a
// finished run; done returns the lag of every run seen, and how many were
// not seen within the deadline.
type lagWatcher interface {
	wait(r result)
	done(ctx context.Context, deadline time.Duration) (lags []time.Duration, unseen int, err error)
}

// lag measures persistence lag at a fixed open-loop rate: the time from a
// run's blocking response, as the bench received it, to the moment its
// terminal workflow_runs row is seen committed, both on the bench's clock.
func (b *bench) lag(ctx context.Context, mp *modeProcs) (*LagResult, error) {
	// The lag is a steady-state figure: the soak before it leaves a
	// backlog (the api outruns the persister on shared cores), which would
	// be measured instead.
	if err := b.settle(ctx, mp, 3*time.Minute); err != nil {
		return nil, err
	}
	var (
		w      lagWatcher
		method string
		err    error
	)
	switch b.cfg.LagMethod {
	case "notify":
		w, err = b.notifyWatcher(ctx)
		method = "trigger on workflow_runs NOTIFYs terminal run ids to a LISTENing connection; lag = notification received − blocking response received (NOTIFY serialises the notifying commits, fsync included, so this overstates the lag)"
	default:
		w, err = b.pollWatcher(ctx)
		method = fmt.Sprintf("primary-key lookups of the answered runs every %v until each is seen committed and terminal; lag = lookup answered − blocking response received (an upper bound, at most one interval plus a query high)", lagPollEvery)
	}
	if err != nil {
		return nil, err
	}
	act0, actErr := b.pgActivity(ctx)
	begin := time.Now()
	// The persister's view of the same window, from its histograms.
	lr := &LagResult{}
	stages := []struct {
		name   string
		dst    **Quantiles
		before histogram
		err    error
	}{
		{name: "flowrun_persist_lag_seconds", dst: &lr.PersisterLag},
		{name: "flowrun_persist_queue_seconds", dst: &lr.PersisterQueue},
		{name: "flowrun_persist_write_seconds", dst: &lr.PersisterWrite},
	}
	for i := range stages {
		stages[i].before, stages[i].err = readHistogram(mp.persisterMetrics, stages[i].name)
	}
	res := openLoop(ctx, b.client, runTarget(mp.base, "chain3", false), b.cfg.LagRate, b.cfg.LagDuration, 1024, w.wait)
	lags, unseen, err := w.done(ctx, 30*time.Second)
	if err != nil {
		return nil, err
	}
	act1, err := b.pgActivity(ctx)
	lr.Rate, lr.DurationS, lr.Sent, lr.Missed = b.cfg.LagRate, round3(b.cfg.LagDuration.Seconds()), res.sent, res.missed
	lr.Errors, lr.Request, lr.Method = res.errors, percentiles(res.lat), method
	lr.Observed, lr.NotObserved, lr.Lag = len(lags), unseen, percentiles(lags)
	if err == nil && actErr == nil {
		lr.Postgres = pgActivityResult(act0, act1, time.Since(begin))
	}
	for _, st := range stages {
		if st.err == nil {
			*st.dst = persisterQuantiles(st.before, mp.persisterMetrics, st.name)
		}
	}
	if res.elapsed > 0 {
		lr.AchievedPS = round3(float64(res.runs) / res.elapsed.Seconds())
	}
	if _, err := b.waitDrained(ctx, mp, 2*time.Minute); err != nil {
		return nil, err
	}
	b.log.Info("persistence lag", "method", b.cfg.LagMethod, "rate", lr.Rate, "achieved", lr.AchievedPS, "observed", lr.Observed,
		"lag", lr.Lag, "persister_lag", lr.PersisterLag, "persister_queue", lr.PersisterQueue, "persister_write", lr.PersisterWrite,
		"postgres", lr.Postgres)
	return lr, nil
}

// pgActivity is PostgreSQL's cumulative background and WAL activity: what
// competes with the persister's commits for the disk and the cores.
type pgActivity struct {
	checkpointBuffers int     // buffers written by checkpoints
	autovacuums       int     // autovacuum and autoanalyze runs on the record tables
	walBytes          float64 // WAL generated
	walSyncs          int     // WAL flushes (fsync/fdatasync)
	walSyncMS         float64 // time in them (track_wal_io_timing; 0 when off)
}

func (b *bench) pgActivity(ctx context.Context) (a pgActivity, err error) {
	err = b.pool.QueryRow(ctx, `
SELECT (SELECT buffers_checkpoint FROM pg_stat_bgwriter)::int,
       (SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0) FROM pg_stat_user_tables WHERE relname = ANY($1))::int,
       wal_bytes::float8, wal_sync::int, wal_sync_time
FROM pg_stat_wal`, recordTables).Scan(&a.checkpointBuffers, &a.autovacuums, &a.walBytes, &a.walSyncs, &a.walSyncMS)
	return a, err
}

// pgActivityResult is what PostgreSQL did between two reads.
func pgActivityResult(before, after pgActivity, d time.Duration) *PGActivity {
	r := &PGActivity{
		CheckpointBuffers: after.checkpointBuffers - before.checkpointBuffers,
		Autovacuums:       after.autovacuums - before.autovacuums,
		WALMBPerS:         round3((after.walBytes - before.walBytes) / (1 << 20) / d.Seconds()),
		WALSyncs:          after.walSyncs - before.walSyncs,
	}
	if r.WALSyncs > 0 && after.walSyncMS > before.walSyncMS {
		r.WALSyncMeanUS = round3((after.walSyncMS - before.walSyncMS) * 1000 / float64(r.WALSyncs))
	}
	return r
}

// pollWatcher looks the pending runs up by primary key every lagPollEvery
// on its own connection. It adds no work to the persister's commits.
type pollWatcher struct {
	mu      sync.Mutex
	pending map[string]time.Time // run id → response received
	lags    []time.Duration
	err     error // the lookup that failed, if one did
	stop    chan struct{}
	stopped chan struct{}
}

func (b *bench) pollWatcher(ctx context.Context) (*pollWatcher, error) {
	conn, err := pgx.Connect(ctx, b.dbURL)
	if err != nil {
		return nil, err
	}
	w := &pollWatcher{pending: map[string]time.Time{}, stop: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(w.stopped)
		defer conn.Close(context.WithoutCancel(ctx))
		tick := time.NewTicker(lagPollEvery)
		defer tick.Stop()
		var ids, seen []string
		for {
			select {
			case <-tick.C:
			case <-w.stop:
				return
			case <-ctx.Done():
				return
			}
			ids = ids[:0]
			w.mu.Lock()
			for id := range w.pending {
				ids = append(ids, id)
			}
			w.mu.Unlock()
			if len(ids) == 0 {
				continue
			}
			rows, err := conn.Query(ctx, `SELECT id::text FROM workflow_runs WHERE id = ANY($1::uuid[]) AND flowrun_terminal(status)`, ids)
			if err == nil {
				seen, err = pgx.AppendRows(seen[:0], rows, pgx.RowTo[string])
			}
			at := time.Now()
			w.mu.Lock()
			if err != nil {
				w.err = err
				w.mu.Unlock()
				return
			}
			for _, id := range seen {
				if end, ok := w.pending[id]; ok {
					w.lags = append(w.lags, at.Sub(end))
					delete(w.pending, id)
				}
			}
			w.mu.Unlock()
		}
	}()
	return w, nil
}

func (w *pollWatcher) wait(r result) {
	w.mu.Lock()
	w.pending[r.runID] = r.end
	w.mu.Unlock()
}

func (w *pollWatcher) done(ctx context.Context, deadline time.Duration) ([]time.Duration, int, error) {
	until := time.Now().Add(deadline)
	for time.Now().Before(until) {
		w.mu.Lock()
		n, err := len(w.pending), w.err
		w.mu.Unlock()
		if n == 0 || err != nil || !sleepCtx(ctx, 20*time.Millisecond) {
			break
		}
	}
	close(w.stop)
	<-w.stopped
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return nil, 0, fmt.Errorf("looking up committed runs: %w", w.err)
	}
	return w.lags, len(w.pending), nil
}

// notifyWatcher installs a trigger on workflow_runs (in the bench's own
// database) that NOTIFYs each terminal run id, and LISTENs on its own
// connection. PostgreSQL delivers a notification when its transaction
// commits. It costs the writers: a notifying commit holds a database-wide
// lock until it is flushed, so the persister's commits queue behind each
// other's fsync.
type notifyWatcher struct {
	b      *bench
	mu     sync.Mutex
	seen   map[string]time.Time
	ended  []result
	cancel context.CancelFunc
	closed chan struct{}
}

func (b *bench) notifyWatcher(ctx context.Context) (*notifyWatcher, error) {
	if _, err := b.pool.Exec(ctx, `
CREATE OR REPLACE FUNCTION bench_notify_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('flowrun_bench_runs', NEW.id::text); RETURN NULL; END $$;
DROP TRIGGER IF EXISTS bench_notify_run ON workflow_runs;
CREATE TRIGGER bench_notify_run AFTER INSERT OR UPDATE ON workflow_runs
FOR EACH ROW WHEN (flowrun_terminal(NEW.status)) EXECUTE FUNCTION bench_notify_run();`); err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, b.dbURL)
	if err == nil {
		_, err = conn.Exec(ctx, "LISTEN flowrun_bench_runs")
	}
	if err != nil {
		b.dropNotify(ctx)
		return nil, err
	}
	lctx, cancel := context.WithCancel(ctx)
	w := &notifyWatcher{b: b, seen: map[string]time.Time{}, cancel: cancel, closed: make(chan struct{})}
	go func() {
		defer close(w.closed)
		defer conn.Close(context.WithoutCancel(ctx))
		for {
			n, err := conn.WaitForNotification(lctx)
			if err != nil {
				return
			}
			at := time.Now()
			w.mu.Lock()
			if _, ok := w.seen[n.Payload]; !ok {
				w.seen[n.Payload] = at
			}
			w.mu.Unlock()
		}
	}()
	return w, nil
}

func (b *bench) dropNotify(ctx context.Context) {
	b.pool.Exec(context.WithoutCancel(ctx), `DROP TRIGGER IF EXISTS bench_notify_run ON workflow_runs`)
}

func (w *notifyWatcher) wait(r result) {
	w.mu.Lock()
	w.ended = append(w.ended, r)
	w.mu.Unlock()
}

func (w *notifyWatcher) done(ctx context.Context, deadline time.Duration) ([]time.Duration, int, error) {
	defer w.b.dropNotify(ctx)
	until := time.Now().Add(deadline)
	for time.Now().Before(until) {
		w.mu.Lock()
		got := 0
		for _, r := range w.ended {
			if _, ok := w.seen[r.runID]; ok {
				got++
			}
		}
		all := got == len(w.ended)
		w.mu.Unlock()
		if all || !sleepCtx(ctx, 20*time.Millisecond) {
			break
		}
	}
	w.cancel()
	<-w.closed
	var lags []time.Duration
	unseen := 0
	for _, r := range w.ended {
		if at, ok := w.seen[r.runID]; ok {
			lags = append(lags, at.Sub(r.end))
		} else {
			unseen++
		}
	}
	return lags, unseen, nil
}

// histogram is a Prometheus histogram read from /metrics: cumulative
// counts by upper bound (le), in increasing order.
type histogram struct {
	le     []float64
	counts []float64
}

// readHistogram reads the histogram name from the metrics at addr.
func readHistogram(addr, name string) (histogram, error) {
	var h histogram
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return h, err
	}
	defer resp.Body.Close()
	prefix := name + `_bucket{le="`
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		le, count, ok := strings.Cut(rest, `"} `)
		if !ok {
			return h, fmt.Errorf("metric %s: malformed line %q", name, sc.Text())
		}
		bound, err1 := strconv.ParseFloat(le, 64) // "+Inf" parses as +Inf
		n, err2 := strconv.ParseFloat(strings.TrimSpace(count), 64)
		if err := errors.Join(err1, err2); err != nil {
			return h, fmt.Errorf("metric %s: %w", name, err)
		}
		h.le, h.counts = append(h.le, bound), append(h.counts, n)
	}
	if err := sc.Err(); err != nil {
		return h, err
	}
	if len(h.le) == 0 {
		return h, fmt.Errorf("metric %s not found", name)
	}
	return h, nil
}

// persisterQuantiles reads the histogram name again and returns the p50 and
// p99 of what it observed since before (nil if that cannot be told).
func persisterQuantiles(before histogram, addr, name string) *Quantiles {
	after, err := readHistogram(addr, name)
	if err != nil {
		return nil
	}
	p50, ok50 := quantile(before, after, 0.5)
	p99, ok99 := quantile(before, after, 0.99)
	if !ok50 || !ok99 {
		return nil
	}
	return &Quantiles{P50: p50, P99: p99}
}

// quantile estimates the q-quantile, in microseconds, of the observations
// made between before and after (two reads of one histogram), by linear
// interpolation within the bucket as Prometheus's histogram_quantile does.
// ok is false when nothing was observed, or the quantile lies in +Inf.
func quantile(before, after histogram, q float64) (us float64, ok bool) {
	if len(before.le) != len(after.le) {
		return 0, false
	}
	n := len(after.le)
	delta := func(i int) float64 { return after.counts[i] - before.counts[i] }
	total := delta(n - 1)
	if total <= 0 {
		return 0, false
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for i := range n {
		c := delta(i)
		if c >= rank {
			if math.IsInf(after.le[i], 1) {
				return 0, false
			}
			frac := 0.0
			if c > below {
				frac = (rank - below) / (c - below)
			}
			return round3((lower + (after.le[i]-lower)*frac) * 1e6), true
		}
		lower, below = after.le[i], c
	}
	return 0, false
}
