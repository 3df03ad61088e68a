package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/api"
	"github.com/flowrun/flowrun/internal/run"
)

// HeapCeiling is the bound TestHostileBytes holds the Go heap to: the
// live heap (as each garbage collection measures it) above what it was
// before the attack. It is the sum of the bounded structures at their
// defaults — the run history (64 MiB), the events waiting for slow
// streams (64 MiB), the bodies of runs in flight and the values parsed
// from them (2 × 64 MiB) — which the attack fills. See the README's
// memory ceiling.
const HeapCeiling = 256 << 20

// countingEngine counts finished runs, so the test can wait for them.
type countingEngine struct {
	api.Engine
	finished chan struct{}
}

func (e *countingEngine) Run(ctx context.Context, wf *run.Workflow, p run.Params, l run.Listener) *run.RunInfo {
	info := e.Engine.Run(ctx, wf, p, l)
	e.finished <- struct{}{}
	return info
}

// heapSampler records the peak of the Go heap while the test runs.
type heapSampler struct {
	stop     chan struct{}
	done     chan struct{}
	peakLive atomic.Uint64 // /gc/heap/live:bytes, measured at each GC
	peakHeap atomic.Uint64 // /memory/classes/heap/objects:bytes
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(h.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(samples)
			if v := samples[0].Value.Uint64(); v > h.peakLive.Load() {
				h.peakLive.Store(v)
			}
			if v := samples[1].Value.Uint64(); v > h.peakHeap.Load() {
				h.peakHeap.Store(v)
			}
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) finish() (live, heap uint64) {
	close(h.stop)
	<-h.done
	return h.peakLive.Load(), h.peakHeap.Load()
}

func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// smallBuffers makes every accepted connection's send buffer small, so
// that a client that reads nothing stalls the server's writes after a
// few kilobytes instead of after the megabytes the kernel would buffer.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}

// slowClient posts a streaming run over a connection with a small receive
// buffer and then reads nothing until told to.
func slowClient(t *testing.T, addr, key, body string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	req := fmt.Sprintf("POST /v1/workflows/run HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, key, len(body), body)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestHostileBytes attacks one server with bytes: 200 streaming clients
// that read nothing, each after posting a 1 MB input that every event of
// its run carries, then rounds of eight runs with 8 MB inputs and eight
// requests with 9 MB users at once. Throughout, a canary app answers
// correctly, the Go heap stays under HeapCeiling, and every attacking
// request ends as it must: the slow streams end with client_too_slow or,
// once read, deliver their whole run; the large runs succeed, the large
// users get 400, or either is refused with 503 while the room for bodies
// in flight is taken.
func TestHostileBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("moves ~700 MB through loopback")
	}
	eng := &countingEngine{finished: make(chan struct{}, 1024)}
	b := setup(t, options{mutate: func(c *api.Config) {
		eng.Engine = c.Engine
		c.Engine = eng
		// The slow clients read nothing until the end, however long a
		// loaded machine takes to get there: no write may time out.
		// (Every byte limit stays at its default.)
		c.WriteTimeout = 10 * time.Minute
	}})
	b.addApp(t, bigApp, bigWF, bigKey, bigDSL)
	ts := httptest.NewUnstartedServer(b.srv)
	ts.Listener = smallBuffers{ts.Listener}
	ts.Start()
	defer ts.Close()
	addr := ts.Listener.Addr().String()
	waitRuns := func(n int) {
		t.Helper()
		deadline := time.After(2 * time.Minute)
		for range n {
			select {
			case <-eng.finished:
			case <-deadline:
				t.Fatalf("runs did not finish")
			}
		}
	}
	canaries := 0
	canary := func() {
		t.Helper()
		canaries++
		q := fmt.Sprintf("canary-%d", canaries)
		req, _ := http.NewRequest("POST", ts.URL+"/v1/workflows/run", strings.NewReader(
			fmt.Sprintf(`{"inputs": {"query": %q}, "user": "canary", "response_mode": "blocking"}`, q)))
		req.Header.Set("Authorization", "Bearer "+chain3Key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got struct {
			Data struct {
				Status  string         `json:"status"`
				Outputs map[string]any `json:"outputs"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got.Data.Status != "succeeded" || got.Data.Outputs["answer"] != q+"-1-2-3" {
			t.Fatalf("canary %d: %d %+v %v", canaries, resp.StatusCode, got, err)
		}
	}

	// The attack's payloads, made before the heap is measured.
	streamBody := fmt.Sprintf(`{"inputs": {"q": %q}, "user": "slow", "response_mode": "streaming"}`, strings.Repeat("s", 1_000_000))
	bigInput := strings.Repeat("b", 8_000_000)
	bigRun := fmt.Sprintf(`{"inputs": {"q": %q}, "user": "big", "response_mode": "blocking"}`, bigInput)
	bigUser := fmt.Sprintf(`{"inputs": {"q": "x"}, "user": %q, "response_mode": "blocking"}`, strings.Repeat("u", 9_000_000))

	base := liveHeap()
	sampler := startHeapSampler()

	// 200 streams that read nothing.
	conns := make([]net.Conn, 200)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conns[i] = slowClient(t, addr, bigKey, streamBody)
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	waitRuns(len(conns))
	canary()

	// Runs with 8 MB inputs and requests with 9 MB users, eight of each
	// at a time: more than the room for bodies in flight.
	// post returns the status, the first 300 bytes of the response and its
	// length (the client, in this process, keeps no more: the heap
	// measured is the server's).
	post := func(body string) (code int, head []byte, n int64) {
		req, _ := http.NewRequest("POST", ts.URL+"/v1/workflows/run", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+bigKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, nil, 0
		}
		defer resp.Body.Close()
		head = make([]byte, 300)
		m, _ := io.ReadFull(resp.Body, head)
		rest, _ := io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, head[:m], int64(m) + rest
	}
	var ran, refused, tooLong atomic.Int64
	for round := range 5 {
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				switch code, data, n := post(bigRun); {
				case code == http.StatusOK && n > int64(len(bigInput)) && strings.Contains(string(data), `"status": "succeeded"`):
					ran.Add(1)
				case code == http.StatusServiceUnavailable && strings.Contains(string(data), "too many large requests"):
					refused.Add(1)
				default:
					t.Errorf("8 MB run: %d %.300s", code, data)
				}
			}()
			go func() {
				defer wg.Done()
				switch code, data, _ := post(bigUser); {
				case code == http.StatusBadRequest && strings.Contains(string(data), "at most 1024 characters"):
					tooLong.Add(1)
				case code == http.StatusServiceUnavailable && strings.Contains(string(data), "too many large requests"):
					refused.Add(1)
				default:
					t.Errorf("9 MB user: %d %.300s", code, data)
				}
			}()
		}
		wg.Wait()
		canary()
		t.Logf("round %d: live heap peak %d MiB", round, (sampler.peakLive.Load()-base)>>20)
	}
	t.Logf("8 MB runs: %d ran; 9 MB users: %d refused with 400; %d large requests refused with 503 (room for bodies in flight)", ran.Load(), tooLong.Load(), refused.Load())
	if ran.Load() == 0 || tooLong.Load() == 0 {
		t.Error("no large request was admitted")
	}

	live, heap := sampler.finish()
	t.Logf("live heap peak %d MiB over %d MiB before the attack (heap objects peak %d MiB); %d canaries answered",
		(live-base)>>20, base>>20, heap>>20, canaries)
	if live-base > HeapCeiling {
		t.Errorf("live heap peaked %d MiB over its start, above the %d MiB ceiling", (live-base)>>20, HeapCeiling>>20)
	}
	if n := b.srv.StreamBytesInUse(); n > api.DefaultStreamBufferBytesTotal {
		t.Errorf("streams hold %d bytes > %d", n, api.DefaultStreamBufferBytesTotal)
	}

	// Every slow stream ends as it must once read: its whole run, or
	// Dify's error event for a client too slow.
	var cut, whole atomic.Int64
	var readers sync.WaitGroup
	next := make(chan int)
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := range next {
				switch end := readSlowStream(t, conns[i]); end {
				case "whole":
					whole.Add(1)
				case "cut":
					cut.Add(1)
				default:
					t.Errorf("slow stream %d ended badly: %s", i, end)
				}
			}
		}()
	}
	for i := range conns {
		next <- i
	}
	close(next)
	readers.Wait()
	t.Logf("slow streams: %d cut with client_too_slow, %d delivered whole once read", cut.Load(), whole.Load())
	if cut.Load() == 0 {
		t.Error("no slow stream was cut: the byte bounds were never reached")
	}
	canary()
}

// readSlowStream reads a slow client's response to its end and tells how
// it ended: "whole" (workflow_finished, succeeded), "cut" (Dify's error
// event, client_too_slow), or the unexpected last frame.
func readSlowStream(t *testing.T, c net.Conn) string {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	// The last data frame (a ping may follow it).
	last := ""
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "data: ") {
			last = line
		}
	}
	if err := sc.Err(); err != nil {
		return err.Error()
	}
	switch {
	case strings.HasPrefix(last, `data: {"event":"workflow_finished"`) && strings.Contains(last, `"status":"succeeded"`):
		return "whole"
	case strings.HasPrefix(last, `data: {"event":"error"`) && strings.Contains(last, `"code":"client_too_slow"`):
		return "cut"
	}
	return fmt.Sprintf("last frame %.200q", last)
}
