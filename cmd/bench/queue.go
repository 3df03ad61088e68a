package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// queueDepth runs an open-loop rate and samples the queue.
func (b *bench) queueDepth(ctx context.Context, mp *modeProcs) (*QueueResult, error) {
	every := max(100*time.Millisecond, b.cfg.QueueDuration/60)
	var samples []QueueSample
	var sampleErr error
	stop := make(chan struct{})
	done := make(chan struct{})
	begin := time.Now()
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			tasks, _, err := b.queueLen()
			buffered, err2 := b.apiBuffered(mp)
			if err = errors.Join(err, err2); err != nil {
				sampleErr = err
				continue
			}
			samples = append(samples, QueueSample{T: round3(time.Since(begin).Seconds()), Tasks: tasks, Buffered: buffered})
		}
	}()
	res := openLoop(ctx, b.client, runTarget(mp.base, "chain3", false), b.cfg.QueueRate, b.cfg.QueueDuration, 2048, nil)
	close(stop)
	<-done
	if len(samples) < 2 && sampleErr != nil {
		return nil, sampleErr
	}
	after, err := b.waitDrained(ctx, mp, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	q := &QueueResult{Rate: b.cfg.QueueRate, DurationS: round3(b.cfg.QueueDuration.Seconds()), Sent: res.sent, Missed: res.missed,
		Errors: res.errors, Request: percentiles(res.lat), Samples: samples, DrainAfterS: round3(after.Seconds())}
	if res.elapsed > 0 {
		q.AchievedPS = round3(float64(res.runs) / res.elapsed.Seconds())
	}
	var q2, q4, b2, b4 []float64
	for _, s := range samples {
		q.MaxTasks = max(q.MaxTasks, s.Tasks)
		q.MaxBuffered = max(q.MaxBuffered, s.Buffered)
		f := s.T / b.cfg.QueueDuration.Seconds()
		switch {
		case f >= 0.25 && f < 0.5:
			q2, b2 = append(q2, float64(s.Tasks)), append(b2, float64(s.Buffered))
		case f >= 0.75:
			q4, b4 = append(q4, float64(s.Tasks)), append(b4, float64(s.Buffered))
		}
	}
	if len(samples) > 0 {
		q.FinalTasks, q.FinalBuffered = samples[len(samples)-1].Tasks, samples[len(samples)-1].Buffered
	}
	q.Q2Mean, q.Q4Mean = round3(meanOf(q2)), round3(meanOf(q4))
	q.Q2Buffered, q.Q4Buffered = round3(meanOf(b2)), round3(meanOf(b4))
	// Bounded: neither the queue nor the api's buffer grows from the
	// second quarter to the last (a stage that falls behind grows its
	// backlog linearly).
	q.Bounded = q.Q4Mean <= 1.5*q.Q2Mean+5 && q.Q4Buffered <= 1.5*q.Q2Buffered+1000
	b.log.Info("queue depth", "rate", q.Rate, "achieved", q.AchievedPS, "max_tasks", q.MaxTasks, "max_buffered", q.MaxBuffered,
		"q2", q.Q2Mean, "q4", q.Q4Mean, "q2_buffered", q.Q2Buffered, "q4_buffered", q.Q4Buffered)
	return q, nil
}

func meanOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// drain stops the persister, fills the queue with DrainRuns chain3 runs,
// restarts the persister and times how fast it empties the queue.
func (b *bench) drain(ctx context.Context, mp *modeProcs) (*DrainResult, error) {
	if err := mp.persister.stop(30 * time.Second); err != nil {
		return nil, err
	}
	if err := b.truncate(ctx); err != nil {
		return nil, err
	}
	fill := countLoop(ctx, b.client, runTarget(mp.base, "chain3", false), 16, b.cfg.DrainRuns, nil)
	if fill.errors > 0 {
		return nil, fmt.Errorf("pre-fill: %d errors: %s", fill.errors, fill.firstEr)
	}
	// Wait until the api has enqueued everything and the queue is stable.
	var tasks, last int
	for stable := 0; stable < 3; {
		buffered, err := b.apiBuffered(mp)
		if err != nil {
			return nil, err
		}
		if tasks, _, err = b.queueLen(); err != nil {
			return nil, err
		}
		if buffered == 0 && tasks == last {
			stable++
		} else {
			stable = 0
		}
		last = tasks
		sleepCtx(ctx, 20*time.Millisecond)
	}
	// A poller watches the queue from before the persister starts: the
	// clock runs from the last reading with the queue still full to the
	// first reading with it empty (every 5 ms), so it overstates the drain
	// by at most two polls.
	type reading struct {
		full, empty time.Time
		err         error
	}
	polled := make(chan reading, 1)
	go func() {
		var rd reading
		defer func() { polled <- rd }()
		deadline := time.Now().Add(10 * time.Minute)
		for {
			n, retry, err := b.queueLen()
			now := time.Now()
			switch {
			case err != nil:
				rd.err = err
				return
			case retry > 0:
				rd.err = fmt.Errorf("%d batches failed during the drain", retry)
				return
			case n >= tasks:
				rd.full = now
			case n == 0:
				rd.empty = now
				return
			}
			if now.After(deadline) {
				rd.err = fmt.Errorf("queue not drained after 10 minutes (%d tasks left)", n)
				return
			}
			if !sleepCtx(ctx, 5*time.Millisecond) {
				rd.err = ctx.Err()
				return
			}
		}
	}()
	p, err := b.startPersister(ctx, mp)
	if err != nil {
		<-polled
		return nil, err
	}
	mp.persister = p
	// Its CPU from its start (start-up included).
	cpu0, pg0 := cpuSnap{pid: p.pid()}, snapPG(b.pgPID)
	rd := <-polled
	pg1 := snapPG(b.pgPID)
	if rd.err != nil {
		return nil, fmt.Errorf("%w; persister log:\n%s", rd.err, p.tail(10))
	}
	t0, t1 := rd.full, rd.empty
	rows, err := b.countRows(ctx)
	if err != nil {
		return nil, err
	}
	d := &DrainResult{Runs: fill.runs, Tasks: tasks, Rows: rows, Seconds: round3(t1.Sub(t0).Seconds())}
	if secs := t1.Sub(t0).Seconds(); secs > 0 {
		d.RowsPerS = round3(float64(rows) / secs)
		d.RunsPerS = round3(float64(fill.runs) / secs)
	}
	if v := cpu0.perRun(int(rows)); v != nil {
		d.CPUusPerRw = ptr(round3(*v))
	}
	d.PGCPUusPerRow = pg0.perUnit(pg1, rows)
	b.log.Info("drain", "runs", d.Runs, "tasks", d.Tasks, "rows", d.Rows, "seconds", d.Seconds, "rows_per_s", d.RowsPerS)
	return d, nil
}

func (b *bench) countRows(ctx context.Context) (int64, error) {
	var total int64
	for _, t := range recordTables {
		var n int64
		if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// copyCeiling copies the rows the persister just wrote out of the record
// tables (COPY TO, text format, into memory) and times COPY FROM of those
// bytes into scratch tables with the same columns, defaults and indexes
// (LIKE … INCLUDING ALL), one table after the other on one connection.
func (b *bench) copyCeiling(ctx context.Context) (*CopyResult, error) {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	pg := conn.Conn().PgConn()
	data := map[string]*bytes.Buffer{}
	for _, t := range recordTables {
		buf := &bytes.Buffer{}
		// A partitioned table copies out through a query only.
		if _, err := pg.CopyTo(ctx, buf, "COPY (SELECT * FROM "+t+") TO STDOUT"); err != nil {
			return nil, err
		}
		data[t] = buf
		if _, err := conn.Exec(ctx, fmt.Sprintf("DROP TABLE IF EXISTS bench_copy_%[1]s; CREATE TABLE bench_copy_%[1]s (LIKE %[1]s INCLUDING ALL)", t)); err != nil {
			return nil, err
		}
	}
	defer func() {
		for _, t := range recordTables {
			b.pool.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS bench_copy_"+t)
		}
	}()
	res := &CopyResult{}
	start, pg0 := time.Now(), snapPG(b.pgPID)
	for _, t := range recordTables {
		res.Bytes += int64(data[t].Len())
		tag, err := pg.CopyFrom(ctx, data[t], "COPY bench_copy_"+t+" FROM STDIN")
		if err != nil {
			return nil, err
		}
		res.Rows += tag.RowsAffected()
	}
	secs := time.Since(start).Seconds()
	res.PGCPUusPerRow = pg0.perUnit(snapPG(b.pgPID), res.Rows)
	res.Seconds = round3(secs)
	if secs > 0 {
		res.RowsPerS = round3(float64(res.Rows) / secs)
	}
	b.log.Info("COPY ceiling", "rows", res.Rows, "seconds", res.Seconds, "rows_per_s", res.RowsPerS)
	return res, nil
}
