package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/api"
)

// A stop whose run does not end (its node ignores cancellation) does not
// answer success: after StopWait it is a 500 that says the run goes on.
func TestStopRunIgnoringCancellation(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *api.Config) { c.StopWait = 50 * time.Millisecond }})
	ts := httptest.NewServer(b.srv)
	t.Cleanup(ts.Close)
	_, sse := startStream(context.Background(), t, ts.URL, blockKey, streamBody("deaf-stop"))
	frame, err := sse.next()
	if err != nil {
		t.Fatal(err)
	}
	started := parseEvent(t, frame)
	b.waitStarted(t)
	rec := b.do("POST", "/v1/workflows/tasks/"+started.TaskID+"/stop", blockKey, `{"user": "abc-123"}`)
	var body errBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 500 || body.Code != "internal_server_error" ||
		body.Message != "The run was asked to stop but is still running after 50ms." {
		t.Fatalf("stop: %d %s", rec.Code, rec.Body)
	}
	// Once the node returns, the run ends stopped.
	b.blocker.release("deaf-stop")
	if _, fin := readUntilFinished(t, sse); fin.Status != "stopped" {
		t.Fatalf("finished %+v", fin)
	}
}

// Serve returns soon after StopWait when a stopped run does not end,
// naming the run in the log, instead of waiting for its request.
func TestShutdownWithRunIgnoringCancellation(t *testing.T) {
	t.Parallel()
	b := setup(t, options{mutate: func(c *api.Config) {
		c.ShutdownTimeout, c.StopWait = 50*time.Millisecond, 50*time.Millisecond
	}})
	t.Cleanup(func() { b.blocker.release("deaf-shutdown") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- b.srv.Serve(ctx, ln) }()
	_, sse := startStream(context.Background(), t, "http://"+ln.Addr().String(), blockKey, streamBody("deaf-shutdown"))
	frame, err := sse.next()
	if err != nil {
		t.Fatal(err)
	}
	started := parseEvent(t, frame)
	b.waitStarted(t)
	cancel()
	select {
	case err := <-served:
		if !errors.Is(err, api.ErrRunsStuck) {
			t.Fatalf("Serve = %v, want ErrRunsStuck", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve waited for a run that ignores cancellation")
	}
	if logs := b.logs.String(); !strings.Contains(logs, "run did not stop in time") || !strings.Contains(logs, started.TaskID) {
		t.Errorf("the stuck run is not named in the log:\n%s", logs)
	}
}
