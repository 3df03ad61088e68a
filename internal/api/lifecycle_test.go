package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/api"
)

// TestGracefulShutdown: when Serve's context ends, a run that finishes
// within ShutdownTimeout completes normally, a run still blocked at the
// deadline ends "stopped", both streams end with workflow_finished, new
// connections are refused and Serve returns nil.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *api.Config) { c.ShutdownTimeout = 300 * time.Millisecond }})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- b.srv.Serve(ctx, ln) }()

	_, finishing := startStream(context.Background(), t, base, blockKey, streamBody("finishes"))
	b.waitStarted(t)
	_, stuck := startStream(context.Background(), t, base, blockKey, streamBody("stuck"))
	b.waitStarted(t)

	cancel()
	b.blocker.release("finishes")

	_, fin := readUntilFinished(t, finishing)
	if fin.Status != "succeeded" || fin.Outputs["answer"] != "released finishes" {
		t.Errorf("in-flight run: %+v", fin)
	}
	_, fin = readUntilFinished(t, stuck)
	if fin.Status != "stopped" || fin.Error == nil || *fin.Error != "Stopped by user." {
		t.Errorf("blocked run: %+v", fin)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}

// TestGracefulShutdownBlocking: a blocking request in flight at shutdown
// gets its full response.
func TestGracefulShutdownBlocking(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *api.Config) { c.ShutdownTimeout = 5 * time.Second }})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- b.srv.Serve(ctx, ln) }()
	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/v1/workflows/run", strings.NewReader(blockingBody("late")))
		req.Header.Set("Authorization", "Bearer "+blockKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		res <- result{resp.StatusCode, string(body), err}
	}()
	b.waitStarted(t)
	cancel()
	b.blocker.release("late")
	r := <-res
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, `"status": "succeeded"`) || !strings.Contains(r.body, "released late") {
		t.Fatalf("blocking run at shutdown: %d %q %v", r.status, r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentRuns runs hundreds of streaming and blocking runs at once
// over real connections and checks every response is whole and belongs to
// its own run.
func TestConcurrentRuns(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ts := httptest.NewServer(b.srv)
	t.Cleanup(ts.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(client.CloseIdleConnections)

	const n = 400
	type app struct{ key, want string }
	apps := []app{{echoKey, "%s"}, {chain3Key, "%s-1-2-3"}, {diamondKey, "left:%s"}}
	errs := make(chan error, n)
	runIDs := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := apps[i%len(apps)]
			query := fmt.Sprintf("q%d", i)
			streaming := i%2 == 0
			body := blockingBody(query)
			if streaming {
				body = streamBody(query)
			}
			req, _ := http.NewRequest("POST", ts.URL+"/v1/workflows/run", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+a.key)
			resp, err := client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 {
				errs <- fmt.Errorf("run %d: %d %v %s", i, resp.StatusCode, err, raw)
				return
			}
			want := fmt.Sprintf(a.want, query)
			runID, err := checkRun(raw, streaming, want)
			if err != nil {
				errs <- fmt.Errorf("run %d (%s): %w", i, a.key, err)
				return
			}
			runIDs <- a.key + " " + runID
		}()
	}
	wg.Wait()
	close(errs)
	close(runIDs)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]bool{}
	for kr := range runIDs {
		if seen[kr] {
			t.Errorf("run id reused: %s", kr)
		}
		seen[kr] = true
	}
	if len(seen) != n {
		t.Fatalf("%d runs succeeded of %d", len(seen), n)
	}
	// Every run is recorded.
	for kr := range seen {
		key, runID, _ := strings.Cut(kr, " ")
		if rec := b.do("GET", "/v1/workflows/run/"+runID, key, ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"status": "succeeded"`) {
			t.Fatalf("get %s: %d %s", runID, rec.Code, rec.Body)
		}
	}
	b.drain(t)
}

// checkRun validates one response body and returns its run id.
func checkRun(raw []byte, streaming bool, wantPrefix string) (string, error) {
	if !streaming {
		var resp struct {
			TaskID        string   `json:"task_id"`
			WorkflowRunID string   `json:"workflow_run_id"`
			Data          finished `json:"data"`
		}
		if err := json.Unmarshal(raw, &resp); err != nil {
			return "", err
		}
		first := firstOutput(resp.Data.Outputs)
		if resp.Data.Status != "succeeded" || resp.Data.ID != resp.WorkflowRunID || !strings.HasPrefix(first, wantPrefix) {
			return "", fmt.Errorf("blocking body %s", raw)
		}
		return resp.WorkflowRunID, nil
	}
	frames := strings.Split(strings.TrimSuffix(string(raw), "\n\n"), "\n\n")
	var runID, taskID string
	for i, fr := range frames {
		js, ok := strings.CutPrefix(fr, "data: ")
		if !ok {
			if fr == "event: ping" {
				continue
			}
			return "", fmt.Errorf("bad frame %q", fr)
		}
		var ev event
		if err := json.Unmarshal([]byte(js), &ev); err != nil {
			return "", err
		}
		if i == 0 {
			runID, taskID = ev.WorkflowRunID, ev.TaskID
		}
		if ev.WorkflowRunID != runID || ev.TaskID != taskID {
			return "", fmt.Errorf("event of another run in stream: %s", js)
		}
		if i == len(frames)-1 {
			var f finished
			if ev.Event != "workflow_finished" || json.Unmarshal(ev.Data, &f) != nil || f.Status != "succeeded" || !strings.HasPrefix(firstOutput(f.Outputs), wantPrefix) {
				return "", fmt.Errorf("stream ends with %s", js)
			}
		}
	}
	return runID, nil
}

func firstOutput(m map[string]any) string {
	for _, k := range []string{"answer", "left"} {
		if s, ok := m[k].(string); ok {
			return s
		}
	}
	return ""
}
