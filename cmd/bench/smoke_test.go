package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain runs the tests, which fail if any goroutine outlives them.
func TestMain(m *testing.M) {
	// Ceiling (a) re-executes the bench binary, here the test binary.
	if os.Getenv(roleEnv) == roleCeiling {
		os.Exit(ceilingServerMain())
	}
	goleak.VerifyTestMain(m,
		// dbtest's admin pool lives as long as the test binary.
		goleak.IgnoreAnyFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
	)
}

// TestSmoke runs the whole benchmark with the smoke profile (tiny counts)
// against the real api and persister binaries and the PostgreSQL and Redis
// of scripts/test.sh, in a database and a queue of its own. It asserts that
// every figure was produced, in the report and in the files written; it
// never asserts a speed.
func TestSmoke(t *testing.T) {
	dbURL, redisURL := os.Getenv("TEST_DATABASE_URL"), os.Getenv("TEST_REDIS_URL")
	if dbURL == "" || redisURL == "" {
		t.Fatal("TEST_DATABASE_URL and TEST_REDIS_URL must be set: run the tests with scripts/test.sh")
	}
	out := t.TempDir()
	args := []string{"-profile", "smoke", "-out", out, "-database-url", dbURL, "-redis-url", redisURL}
	if raceEnabled {
		args = append(args, "-build-flags", "-race")
	}
	cfg, err := parseFlags(args, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := runBench(ctx, cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatalf("bench: %v", err)
	}
	t.Logf("smoke run took %s", time.Since(start).Round(time.Millisecond))
	if err := validate(rep); err != nil {
		t.Fatalf("figures missing from the report:\n%v", err)
	}

	raw, err := os.ReadFile(filepath.Join(out, "benchmarks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got Report
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("benchmarks.json: %v", err)
	}
	if err := validate(&got); err != nil {
		t.Fatalf("figures missing from benchmarks.json:\n%v", err)
	}
	// PostgreSQL runs on this machine: its CPU is read from /proc.
	if got.Drain.PGCPUusPerRow == nil || got.Ceilings.Copy.PGCPUusPerRow == nil {
		t.Errorf("PostgreSQL CPU per row missing: drain %v, COPY %v", got.Drain.PGCPUusPerRow, got.Ceilings.Copy.PGCPUusPerRow)
	}
	for _, c := range got.Cells {
		if c.Mode != "memory" && c.PGCPUus == nil {
			t.Errorf("%s/%s/%s/c%d: PostgreSQL CPU per run missing", c.Mode, c.Workflow, c.ResponseMode, c.Clients)
		}
	}
	// Ceiling (a) brackets each memory chain3 blocking cell.
	for _, h := range got.Ceilings.HTTP {
		if h.Windows != 2 {
			t.Errorf("ceiling (a) at %d clients: %d windows, want 2 (around the memory cell)", h.Clients, h.Windows)
		}
	}
	if n := len(got.Cells); n != 3*4*2*3 {
		t.Fatalf("benchmarks.json has %d cells, want 72", n)
	}
	md, err := os.ReadFile(filepath.Join(out, "benchmarks.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Generated", "## Targets", "benchmarks-latency.svg", "### async", "(a) HTTP ceiling", "just before and just after", "(b) Naive sync baseline", "(c) COPY ceiling", "### Persistence lag", "### Drain rate", "## Memory"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("benchmarks.md lacks %q", want)
		}
	}
	svg, err := os.ReadFile(filepath.Join(out, "benchmarks-latency.svg"))
	if err != nil {
		t.Fatal(err)
	}
	if s := string(svg); !strings.HasPrefix(s, "<svg") || !strings.Contains(s, "<polyline") || !strings.HasSuffix(s, "</svg>\n") {
		t.Errorf("benchmarks-latency.svg is not a plot: %.200s", s)
	}
}

// testWriter sends the bench's log to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
