package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptrace"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// workflows of the bench set: name → API key and inputs.
var benchApps = map[string]struct{ key string }{
	"echo":    {"app-flowrun-echo-local-only"},
	"chain3":  {"app-flowrun-chain3-local-only"},
	"diamond": {"app-flowrun-diamond-local-only"},
	"branch":  {"app-flowrun-branch-local-only"},
}

// newHTTPClient returns the load generator's client: keep-alive, enough
// idle connections for every client goroutine, no compression.
func newHTTPClient(maxConns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        maxConns * 2,
		MaxIdleConnsPerHost: maxConns * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}}
}

// target is one kind of request: a workflow run (blocking or streaming) or
// the ceiling server's bare handler.
type target struct {
	url       string
	key       string
	bodies    [][]byte // request i uses bodies[i%len]
	streaming bool
	// bare: any 200 counts (the ceiling server).
	bare bool
}

func runTarget(baseURL, workflow string, streaming bool) target {
	mode := "blocking"
	if streaming {
		mode = "streaming"
	}
	queries := []string{"hello"}
	if workflow == "branch" {
		// Both arms of the if-else.
		queries = []string{"hello there", "bye"}
	}
	var bodies [][]byte
	for _, q := range queries {
		bodies = append(bodies, fmt.Appendf(nil, `{"inputs": {"query": %q}, "response_mode": %q, "user": "bench"}`, q, mode))
	}
	return target{url: baseURL + "/v1/workflows/run", key: benchApps[workflow].key, bodies: bodies, streaming: streaming}
}

// result is one request's outcome.
type result struct {
	latency time.Duration
	ttfe    time.Duration // streaming: request written → first data: line
	end     time.Time
	runID   string
	err     error
}

var (
	succeededBlocking = []byte(`"status": "succeeded"`)
	finishedEvent     = []byte(`"event":"workflow_finished"`)
	succeededCompact  = []byte(`"status":"succeeded"`)
	runIDKey          = []byte(`"workflow_run_id": "`)
)

// do sends request i and reads the whole response; buf is reused.
func (t *target) do(ctx context.Context, c *http.Client, i int, buf *bytes.Buffer, wantRunID bool) result {
	body := t.bodies[i%len(t.bodies)]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if t.key != "" {
		req.Header.Set("Authorization", "Bearer "+t.key)
	}
	start := time.Now()
	// The transport calls WroteRequest on its own goroutine: keep the
	// offset from start in an atomic.
	var wrote atomic.Int64
	if t.streaming {
		req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(int64(time.Since(start))) },
		}))
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{err: err, end: time.Now()}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return result{err: fmt.Errorf("status %d: %s", resp.StatusCode, raw), end: time.Now()}
	}
	var r result
	if !t.streaming {
		buf.Reset()
		_, err = buf.ReadFrom(resp.Body)
		r.end = time.Now()
		switch {
		case err != nil:
			r.err = err
		case t.bare:
		case !bytes.Contains(buf.Bytes(), succeededBlocking):
			r.err = fmt.Errorf("run did not succeed: %.300s", buf.Bytes())
		case wantRunID:
			if j := bytes.Index(buf.Bytes(), runIDKey); j >= 0 && len(buf.Bytes()) >= j+len(runIDKey)+36 {
				r.runID = string(buf.Bytes()[j+len(runIDKey) : j+len(runIDKey)+36])
			}
		}
		r.latency = r.end.Sub(start)
		return r
	}
	br := bufio.NewReaderSize(resp.Body, 32<<10)
	finished := false
	for {
		line, err := br.ReadSlice('\n')
		if bytes.HasPrefix(line, []byte("data: ")) {
			if r.ttfe == 0 {
				r.ttfe = time.Since(start) - time.Duration(wrote.Load())
			}
			if bytes.Contains(line, finishedEvent) {
				finished = bytes.Contains(line, succeededCompact)
			}
		}
		if err == bufio.ErrBufferFull {
			// A frame longer than the buffer: skip the rest of it.
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			r.err = err
			break
		}
	}
	r.end = time.Now()
	r.latency = r.end.Sub(start)
	if r.err == nil && !finished {
		r.err = errors.New("stream ended without a succeeded workflow_finished")
	}
	return r
}

// sample collects latencies and counts for one measurement.
type sample struct {
	mu      sync.Mutex
	lat     []time.Duration
	ttfe    []time.Duration
	runs    int
	errors  int
	firstEr string
}

func (s *sample) add(r result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.err != nil {
		s.errors++
		if s.firstEr == "" {
			s.firstEr = r.err.Error()
		}
		return
	}
	s.runs++
	s.lat = append(s.lat, r.latency)
	if r.ttfe > 0 {
		s.ttfe = append(s.ttfe, r.ttfe)
	}
}

// Percentiles in microseconds.
type Percentiles struct {
	P50  float64 `json:"p50_us"`
	P95  float64 `json:"p95_us"`
	P99  float64 `json:"p99_us"`
	Max  float64 `json:"max_us"`
	Mean float64 `json:"mean_us"`
	N    int     `json:"n"`
}

func percentiles(d []time.Duration) *Percentiles {
	if len(d) == 0 {
		return nil
	}
	s := slices.Clone(d)
	slices.Sort(s)
	q := func(p float64) float64 {
		// Nearest rank.
		i := int(math.Ceil(p*float64(len(s)))) - 1
		i = max(0, min(i, len(s)-1))
		return us(s[i])
	}
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	return &Percentiles{P50: q(0.50), P95: q(0.95), P99: q(0.99), Max: us(s[len(s)-1]), Mean: us(sum / time.Duration(len(s))), N: len(s)}
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// closedLoopResult is what a closed-loop measurement saw.
type closedLoopResult struct {
	sample
	window time.Duration
	// total counts every completed request, warm-up included.
	total int
}

// closedLoop runs `clients` goroutines that each send a request as soon as
// the previous one is answered: warmup first (not recorded), then window
// (recorded: requests that complete inside it). onWindow is called at the
// start and end of the window (to read CPU counters).
func closedLoop(ctx context.Context, c *http.Client, t target, clients int, warmup, window time.Duration, onWindow func(start bool)) *closedLoopResult {
	return closedLoopFunc(ctx, clients, warmup, window, onWindow, func() func(i int) result {
		var buf bytes.Buffer
		return func(i int) result { return t.do(ctx, c, i, &buf, false) }
	})
}

// minWindowRuns is the fewest completed requests a window may hold: a
// window is extended (by up to a minute) until it has them, so that tiny
// windows still produce every figure.
const minWindowRuns = 5

// closedLoopFunc is closedLoop over any operation: newWorker is called once
// per client goroutine and returns that goroutine's operation.
func closedLoopFunc(ctx context.Context, clients int, warmup, window time.Duration, onWindow func(start bool), newWorker func() func(i int) result) *closedLoopResult {
	res := &closedLoopResult{}
	var phase atomic.Int32 // 0 warm-up, 1 measuring, 2 stopping
	var seq, total atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		do := newWorker()
		go func() {
			defer wg.Done()
			for phase.Load() < 2 && ctx.Err() == nil {
				r := do(int(seq.Add(1)))
				total.Add(1)
				// Only requests completed inside the window count.
				if phase.Load() == 1 {
					res.add(r)
				}
			}
		}()
	}
	sleepCtx(ctx, warmup)
	if onWindow != nil {
		onWindow(true)
	}
	begin := time.Now()
	phase.Store(1)
	sleepCtx(ctx, window)
	for limit := time.Now().Add(time.Minute); time.Now().Before(limit); {
		res.mu.Lock()
		n := res.runs + res.errors
		res.mu.Unlock()
		if n >= minWindowRuns || !sleepCtx(ctx, 5*time.Millisecond) {
			break
		}
	}
	phase.Store(2)
	res.window = time.Since(begin)
	if onWindow != nil {
		onWindow(false)
	}
	wg.Wait()
	res.total = int(total.Load())
	return res
}

// countLoop sends n requests from `clients` goroutines (closed loop);
// progress, if not nil, counts completed requests as they complete.
func countLoop(ctx context.Context, c *http.Client, t target, clients, n int, progress *atomic.Int64) *closedLoopResult {
	res := &closedLoopResult{}
	var next atomic.Int64
	var wg sync.WaitGroup
	begin := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for ctx.Err() == nil {
				i := int(next.Add(1))
				if i > n {
					return
				}
				res.add(t.do(ctx, c, i, &buf, false))
				if progress != nil {
					progress.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	res.window = time.Since(begin)
	res.total = res.runs + res.errors
	return res
}

// openLoopResult is what an open-loop measurement saw.
type openLoopResult struct {
	sample
	sent, missed int
	elapsed      time.Duration
}

// openLoop sends requests at a fixed rate for d, whatever the answers, each
// on its own goroutine, at most maxInFlight at once (a request due while
// that many are outstanding is counted as missed). done, when not nil, is
// called with each successful result (with its run id) as it arrives, from
// the request's goroutine.
func openLoop(ctx context.Context, c *http.Client, t target, rate int, d time.Duration, maxInFlight int, done func(result)) *openLoopResult {
	res := &openLoopResult{}
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	n := int(d / interval)
	begin := time.Now()
	bufs := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	for i := range n {
		due := begin.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			if !sleepCtx(ctx, w) {
				break
			}
		}
		select {
		case sem <- struct{}{}:
		default:
			res.missed++
			continue
		}
		res.sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			buf := bufs.Get().(*bytes.Buffer)
			r := t.do(ctx, c, i, buf, done != nil)
			bufs.Put(buf)
			res.add(r)
			if done != nil && r.err == nil {
				done(r)
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(begin)
	return res
}

// sleepCtx sleeps for d or until ctx is done; it reports whether it slept
// the whole time.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
