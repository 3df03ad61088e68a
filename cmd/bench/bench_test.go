package main

import (
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(101-i)*time.Microsecond)
	}
	p := percentiles(d)
	if p.P50 != 50 || p.P95 != 95 || p.P99 != 99 || p.Max != 100 || p.N != 100 || p.Mean != 50.5 {
		t.Fatalf("percentiles = %+v", p)
	}
	if percentiles(nil) != nil {
		t.Fatal("percentiles of nothing should be nil")
	}
}

func TestListeningAddr(t *testing.T) {
	line := `time=2026-01-01T00:00:00Z level=INFO msg=listening addr=127.0.0.1:43121 apps=6 apps_dir=examples repo_mode=memory admin_api=false`
	if got, ok := listeningAddr(line); !ok || got != "127.0.0.1:43121" {
		t.Fatalf("listeningAddr = %q, %v", got, ok)
	}
	if _, ok := listeningAddr(`level=INFO msg=request addr=x`); ok {
		t.Fatal("matched a line that is not the listening line")
	}
}

func TestProcSelf(t *testing.T) {
	end := time.Now().Add(30 * time.Millisecond)
	for time.Now().Before(end) {
	}
	cpu, err := procCPU(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Fatalf("procCPU = %v, %v", cpu, err)
	}
	rss, hwm, err := procMem(os.Getpid())
	if err != nil || rss <= 0 || hwm < rss {
		t.Fatalf("procMem = %d, %d, %v", rss, hwm, err)
	}
}

// TestTreeCPU: a process tree's CPU includes children that have exited
// (PostgreSQL's backends come and go).
func TestTreeCPU(t *testing.T) {
	before, err := treeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	busy := exec.Command("sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done")
	if err := busy.Run(); err != nil {
		t.Fatal(err)
	}
	child := busy.ProcessState.UserTime() + busy.ProcessState.SystemTime()
	after, err := treeCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got := after - before; got < child-20*time.Millisecond {
		t.Fatalf("tree CPU grew by %v, want at least the child's %v", got, child)
	}
}

func TestJSONBody(t *testing.T) {
	for _, n := range []int{12, 100, 457} {
		if b := jsonBody(n); len(b) != n || !strings.HasPrefix(string(b), "{") {
			t.Fatalf("jsonBody(%d) = %q", n, b)
		}
	}
}

func TestRSSTrend(t *testing.T) {
	flat := []RSSSample{{0, 30}, {250, 40}, {500, 40}, {750, 40}, {1000, 40}}
	if got := rssTrend(flat, 1000); got != 0 {
		t.Fatalf("flat trend = %v", got)
	}
	growing := []RSSSample{{0, 30}, {300, 40}, {450, 45}, {800, 80}, {1000, 90}}
	if got := rssTrend(growing, 1000); got < 50 {
		t.Fatalf("growing trend = %v", got)
	}
}

func TestValidateReportsMissingFigures(t *testing.T) {
	c, err := profile("smoke")
	if err != nil {
		t.Fatal(err)
	}
	err = validate(&Report{Settings: c.settings()})
	if err == nil || !strings.Contains(err.Error(), "memory/chain3/blocking/c16: no cell") || !strings.Contains(err.Error(), "ceiling (c)") {
		t.Fatalf("validate = %v", err)
	}
}

func TestCommandLine(t *testing.T) {
	got := commandLine([]string{"-duration", "1s", "-note", "a long note", "-modes=memory", "-note=x", "-out", "my dir"})
	if want := "go run ./cmd/bench -duration 1s -modes=memory -out 'my dir'"; got != want {
		t.Fatalf("commandLine = %q, want %q", got, want)
	}
}

func TestAPIEnvFlag(t *testing.T) {
	c, err := parseFlags([]string{"-repo", ".", "-api-env", "ASYNC_MAX_BUFFERED=10000, GOMEMLIMIT=256MiB"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ASYNC_MAX_BUFFERED=10000", "GOMEMLIMIT=256MiB"}; !slices.Equal(c.APIEnv, want) {
		t.Fatalf("APIEnv = %q, want %q", c.APIEnv, want)
	}
	if _, err := parseFlags([]string{"-repo", ".", "-api-env", "NOEQUALS"}, io.Discard); err == nil {
		t.Fatal("-api-env NOEQUALS: no error")
	}
	c, err = parseFlags([]string{"-repo", ".", "-persister-env", "PERSISTER_CHECK_INTERVAL=2ms"}, io.Discard)
	if err != nil || !slices.Equal(c.PersisterEnv, []string{"PERSISTER_CHECK_INTERVAL=2ms"}) {
		t.Fatalf("-persister-env: %q, %v", c.PersisterEnv, err)
	}
}

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	before := histogram{le: []float64{.001, .01, .1, inf}, counts: []float64{5, 5, 5, 5}}
	// Since before: 10 observations ≤ 1 ms, 80 in (1, 10] ms, 10 in (10, 100] ms.
	after := histogram{le: before.le, counts: []float64{15, 95, 105, 105}}
	for _, c := range []struct {
		q    float64
		want float64
	}{
		{0.05, 500},    // halfway through the first bucket
		{0.5, 5_500},   // 40 of the 80 in (1, 10] ms: 1 + 9 × 40/80
		{0.95, 55_000}, // 5 of the 10 in (10, 100] ms
	} {
		got, ok := quantile(before, after, c.q)
		if !ok || math.Abs(got-c.want) > 1e-6 {
			t.Errorf("quantile(%v) = %v, %v; want %v", c.q, got, ok, c.want)
		}
	}
	if _, ok := quantile(before, before, 0.5); ok {
		t.Error("quantile of no observations reported ok")
	}
	tail := histogram{le: before.le, counts: []float64{5, 5, 5, 10}}
	if _, ok := quantile(before, tail, 0.5); ok {
		t.Error("quantile in the +Inf bucket reported ok")
	}
}
