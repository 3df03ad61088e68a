package main

import (
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// A replica that is SIGKILLed cannot release its APP_MAX_ACTIVE_REQUESTS
// slots: they come back once their lease runs out, within
// CLUSTER_SLOT_LEASE. With the limit full (one run on the live replica,
// the rest on a replica in a process of its own, whose runs never end),
// that process is killed; the live replica then admits as many runs as
// the dead one held, and no more: its own run, older than the lease by
// then, still counts. Every run of the live replica ends as usual.
func TestClusterSlotsAfterKill(t *testing.T) {
	const limit, lease = 3, 3 * time.Second
	for _, mode := range []string{"sync", "async"} {
		t.Run(mode, func(t *testing.T) {
			replicaEnv(t, mode, strconv.Itoa(limit))
			t.Setenv("CLUSTER_SLOT_LEASE", lease.String())
			live := startMain(t, holdNode)
			doomed := startProcess(t)

			_, own := heldStream(t, live.addr, "app-cluster-hold", "/v1/workflows/run", holdRun)
			for range limit - 1 {
				heldStream(t, doomed.addr, "app-cluster-hold", "/v1/workflows/run", holdRun)
			}
			if _, ok := tryHeld(t, live.addr, limit); ok {
				t.Fatal("a run past the limit started")
			}

			killed := time.Now()
			if err := doomed.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-doomed.done
			var (
				admitted []func() string
				first    time.Duration
			)
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			deadline := time.After(lease + 10*time.Second)
			for len(admitted) < limit-1 {
				select {
				case <-tick.C:
				case <-deadline:
					t.Fatalf("%d of the killed replica's %d slots came back in %s", len(admitted), limit-1, time.Since(killed))
				}
				if finish, ok := tryHeld(t, live.addr, limit); ok {
					if admitted = append(admitted, finish); len(admitted) == 1 {
						first = time.Since(killed)
					}
				}
			}
			back := time.Since(killed)
			t.Logf("the killed replica's slots came back %s (the first) and %s (all) after SIGKILL, CLUSTER_SLOT_LEASE %s",
				first.Round(time.Millisecond), back.Round(time.Millisecond), lease)
			// The lease bounds it; the slack is for the poll and a loaded machine.
			if back > lease+time.Second {
				t.Errorf("the killed replica's slots came back %s after SIGKILL, over CLUSTER_SLOT_LEASE %s", back, lease)
			}
			if _, ok := tryHeld(t, live.addr, limit); ok {
				t.Fatal("the live replica's own run no longer counts against the limit")
			}

			releaseHolds()
			for i, finish := range append(admitted, own) {
				if status := finish(); status != "succeeded" {
					t.Errorf("run %d of the live replica ended %q, want succeeded", i, status)
				}
			}
			live.stop(t)
		})
	}
}

// holdRun is the body of a streaming run of the hold app.
const holdRun = `{"inputs": {}, "user": "u", "response_mode": "streaming"}`

// tryHeld starts a streaming run of the hold app on addr and, if it was
// admitted, returns once its hold node runs, with heldStream's finish. A
// run refused as past the limit returns ok false.
func tryHeld(t *testing.T, addr string, limit int) (finish func() string, ok bool) {
	t.Helper()
	resp := post(t, addr, "app-cluster-hold", "/v1/workflows/run", holdRun)
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !tooMany(resp.StatusCode, string(body), limit) {
			t.Fatalf("a run: %d %s", resp.StatusCode, body)
		}
		return nil, false
	}
	_, finish = held(t, resp)
	return finish, true
}
