package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// soak sends SoakRuns chain3 blocking runs and samples the api's RSS.
func (b *bench) soak(ctx context.Context, mp *modeProcs) (*Soak, error) {
	t := runTarget(mp.base, "chain3", false)
	var progress atomic.Int64
	var mu sync.Mutex
	var samples []RSSSample
	maxBuffered := -1
	if rss, _, err := procMem(mp.api.pid()); err == nil {
		samples = append(samples, RSSSample{Runs: 0, RSSMB: round3(float64(rss) / (1 << 20))})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if rss, _, err := procMem(mp.api.pid()); err == nil {
				mu.Lock()
				samples = append(samples, RSSSample{Runs: int(progress.Load()), RSSMB: round3(float64(rss) / (1 << 20))})
				mu.Unlock()
			}
			if mp.persister != nil {
				if n, err := b.apiBuffered(mp); err == nil {
					maxBuffered = max(maxBuffered, n)
				}
			}
		}
	}()
	res := countLoop(ctx, b.client, t, b.cfg.SoakClients, b.cfg.SoakRuns, &progress)
	close(stop)
	wg.Wait()
	if rss, _, err := procMem(mp.api.pid()); err == nil {
		samples = append(samples, RSSSample{Runs: res.runs + res.errors, RSSMB: round3(float64(rss) / (1 << 20))})
	}
	s := &Soak{Runs: res.runs, Errors: res.errors, Clients: b.cfg.SoakClients, Latency: percentiles(res.lat)}
	if maxBuffered >= 0 {
		s.MaxBuffered = &maxBuffered
	}
	if res.window > 0 {
		s.RunsPerS = round3(float64(res.runs) / res.window.Seconds())
	}
	s.TrendPct = round3(rssTrend(samples, b.cfg.SoakRuns))
	// Keep at most ~60 points in the report.
	if step := len(samples) / 60; step > 1 {
		var thin []RSSSample
		for i := 0; i < len(samples); i += step {
			thin = append(thin, samples[i])
		}
		if thin[len(thin)-1] != samples[len(samples)-1] {
			thin = append(thin, samples[len(samples)-1])
		}
		samples = thin
	}
	s.Samples = samples
	if mp.persister != nil {
		if _, err := b.waitDrained(ctx, mp, 5*time.Minute); err != nil {
			return nil, err
		}
	}
	b.log.Info("soak", "runs", s.Runs, "runs_per_s", s.RunsPerS, "trend_pct", s.TrendPct)
	return s, nil
}

// rssTrend is the growth in percent of mean RSS over the last quarter of
// the soak against the second quarter (the first is warm-up); with too few
// samples, last against first.
func rssTrend(samples []RSSSample, n int) float64 {
	mean := func(lo, hi float64) (float64, int) {
		var sum float64
		var k int
		for _, s := range samples {
			f := float64(s.Runs) / float64(max(n, 1))
			if f >= lo && f <= hi {
				sum += s.RSSMB
				k++
			}
		}
		if k == 0 {
			return 0, 0
		}
		return sum / float64(k), k
	}
	q2, k2 := mean(0.25, 0.5)
	q4, k4 := mean(0.75, 1.0)
	if k2 == 0 || k4 == 0 {
		if len(samples) < 2 || samples[0].RSSMB == 0 {
			return 0
		}
		q2, q4 = samples[0].RSSMB, samples[len(samples)-1].RSSMB
	}
	return (q4 - q2) / q2 * 100
}
