package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Outcome is what one client saw of one run request.
type Outcome struct {
	Seq       int64
	App       App
	Streaming bool
	// Target is the api base URL the request went to.
	Target     string
	Start, End time.Time
	// HTTPStatus is 0 when no response came (connection refused, reset).
	HTTPStatus int
	// Err is the transport error, if any (including a stream cut short).
	Err string
	// Code is the error code of an error body, or of a stream's error
	// event.
	Code string
	// EventStatus is the HTTP-like status of a stream's error event.
	EventStatus int
	// RunID is known once the blocking body or workflow_started arrived.
	RunID string
	// Started: a stream delivered workflow_started.
	Started bool
	// Finished: the client received the run's end (the blocking body or
	// workflow_finished) and no error after it.
	Finished bool
	Status   string
	Outputs  map[string]any
	Steps    int64
	Error    string
}

// Answered reports whether the client was told how the run ended.
func (o *Outcome) Answered() bool { return o.Finished && o.RunID != "" }

// Mix is what the load generator sends.
type Mix struct {
	// Apps are picked uniformly (default echo, chain3, diamond, branch).
	Apps []App
	// StreamingShare is the share of streaming requests (default 0.5).
	StreamingShare float64
	// SlowClients of the clients run only the slow app, with SlowRounds
	// rounds of SlowWork template iterations each (they burn CPU: keep
	// them few).
	SlowClients int
	SlowRounds  int
	SlowWork    int
	// SlowTargets, when set, chooses the api URLs of slow requests.
	SlowTargets func() []string
}

// Load is a running load generator: Clients goroutines, each sending one
// request at a time to the targets in turn.
type Load struct {
	mix     Mix
	targets func() []string
	client  *http.Client
	seq     atomic.Int64
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu       sync.Mutex
	outcomes []*Outcome
}

// StartLoad starts clients goroutines sending requests to the api URLs
// that targets returns (asked before every request, so a scenario can
// take an api out of rotation) until Stop.
func StartLoad(ctx context.Context, clients int, targets func() []string, mix Mix) *Load {
	if len(mix.Apps) == 0 {
		mix.Apps = []App{AppEcho, AppChain3, AppDiamond, AppBranch}
	}
	if mix.StreamingShare == 0 {
		mix.StreamingShare = 0.5
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &Load{mix: mix, targets: targets, cancel: cancel, client: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: 0, DisableCompression: true},
		// A run request is answered in milliseconds; slow runs in seconds.
		Timeout: 5 * time.Minute,
	}}
	for i := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))
			for ctx.Err() == nil {
				o := l.one(ctx, rng, i < mix.SlowClients)
				if o == nil {
					continue
				}
				l.mu.Lock()
				l.outcomes = append(l.outcomes, o)
				l.mu.Unlock()
				if o.HTTPStatus == 0 && !o.Started {
					// Nobody listens (a restart): do not spin.
					select {
					case <-ctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		}()
	}
	return l
}

// Stop stops sending new requests and waits for the ones in flight.
func (l *Load) Stop() []*Outcome {
	l.cancel()
	l.wg.Wait()
	return l.Outcomes()
}

// Outcomes returns the outcomes recorded so far.
func (l *Load) Outcomes() []*Outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Outcome(nil), l.outcomes...)
}

// Issued is how many requests were sent so far.
func (l *Load) Issued() int64 { return l.seq.Load() }

func (l *Load) one(ctx context.Context, rng *rand.Rand, slow bool) *Outcome {
	targets := l.targets()
	if slow && l.mix.SlowTargets != nil {
		targets = l.mix.SlowTargets()
	}
	if len(targets) == 0 {
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
		return nil
	}
	seq := l.seq.Add(1)
	o := &Outcome{Seq: seq, Target: targets[int(seq)%len(targets)], Streaming: rng.Float64() < l.mix.StreamingShare}
	var inputs string
	if slow {
		o.App = AppSlow
		inputs = fmt.Sprintf(`{"rounds": %d, "work": %d}`, l.mix.SlowRounds, l.mix.SlowWork)
	} else {
		o.App = l.mix.Apps[rng.IntN(len(l.mix.Apps))]
		q := fmt.Sprintf("q%d", seq)
		if rng.IntN(2) == 0 {
			q = fmt.Sprintf("hello %d", seq)
		}
		inputs = fmt.Sprintf(`{"query": %q}`, q)
	}
	mode := "blocking"
	if o.Streaming {
		mode = "streaming"
	}
	body := fmt.Sprintf(`{"inputs": %s, "response_mode": %q, "user": "chaos-%d"}`, inputs, mode, seq%97)
	// Requests in flight finish even after Stop: their outcome matters.
	req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, o.Target+"/v1/workflows/run", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+o.App.Key)
	req.Header.Set("Content-Type", "application/json")
	o.Start = time.Now()
	defer func() { o.End = time.Now() }()
	resp, err := l.client.Do(req)
	if err != nil {
		o.Err = err.Error()
		return o
	}
	defer resp.Body.Close()
	o.HTTPStatus = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		var e struct {
			Code string `json:"code"`
		}
		json.Unmarshal(raw, &e)
		o.Code = e.Code
		return o
	}
	if o.Streaming {
		readStream(resp.Body, o)
		return o
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		o.Err = err.Error()
		return o
	}
	var b struct {
		RunID string      `json:"workflow_run_id"`
		Data  finishedRun `json:"data"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		o.Err = "blocking body: " + err.Error()
		return o
	}
	o.RunID = b.RunID
	b.Data.fill(o)
	return o
}

type finishedRun struct {
	ID      string         `json:"id"`
	Status  string         `json:"status"`
	Outputs map[string]any `json:"outputs"`
	Steps   int64          `json:"total_steps"`
	Error   *string        `json:"error"`
}

func (f *finishedRun) fill(o *Outcome) {
	o.Finished = true
	o.Status, o.Outputs, o.Steps = f.Status, f.Outputs, f.Steps
	if f.Error != nil {
		o.Error = *f.Error
	}
}

// readStream reads Server-Sent Events until the stream ends.
func readStream(body io.Reader, o *Outcome) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("data: ")) {
			continue
		}
		var ev struct {
			Event  string          `json:"event"`
			RunID  string          `json:"workflow_run_id"`
			Code   string          `json:"code"`
			Status int             `json:"status"`
			Data   json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(line[len("data: "):], &ev); err != nil {
			o.Err = "bad event: " + err.Error()
			return
		}
		switch ev.Event {
		case "workflow_started":
			o.Started, o.RunID = true, ev.RunID
		case "workflow_finished":
			var f finishedRun
			if err := json.Unmarshal(ev.Data, &f); err != nil {
				o.Err = "workflow_finished: " + err.Error()
				return
			}
			f.fill(o)
		case "error":
			// After workflow_finished it says the records are not
			// durable: the run was not answered as a success.
			o.Code, o.EventStatus, o.Finished = ev.Code, ev.Status, false
		}
	}
	if err := sc.Err(); err != nil {
		o.Err = err.Error()
	} else if !o.Finished && o.Code == "" {
		o.Err = "stream ended without workflow_finished"
	}
}
