package code

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"
)

// BenchmarkJavaScript measures back-to-back calls of a trivial main:
// the round trip to a worker process, a fresh runtime, JSON in and out.
func BenchmarkJavaScript(b *testing.B) {
	rn := startRunner(b, Config{JSPoolSize: 1})
	benchCalls(b, rn, LangJavaScript, "function main({a}) { return {result: a + 1} }", nil)
}

// BenchmarkPythonWarm measures the latency of a call that finds a warm
// child (the common case below saturation): the request and reply over
// the child's socket, compile, exec, main, json.dumps and the Go-side
// decode. Before each call it waits, off the clock, until the pool is
// full again. Target: p50 at most 1ms.
func BenchmarkPythonWarm(b *testing.B) {
	rn := startRunner(b, Config{PythonWorkers: 2, PythonBinary: benchPython()})
	tick := time.NewTicker(100 * time.Microsecond)
	defer tick.Stop()
	benchCalls(b, rn, LangPython, "def main(a: int) -> dict:\n    return {'result': a + 1}\n", func() {
		for len(rn.py.warm) < cap(rn.py.warm) { // the pool refills in the background
			<-tick.C
		}
	})
}

// BenchmarkPythonThroughput measures back-to-back calls: each one pays
// for a child's fork and set-up, so this is the CPU cost of a call.
func BenchmarkPythonThroughput(b *testing.B) {
	rn := startRunner(b, Config{PythonWorkers: 2, PythonBinary: benchPython()})
	benchCalls(b, rn, LangPython, "def main(a: int) -> dict:\n    return {'result': a + 1}\n", nil)
}

// benchCalls runs code b.N times, calling pace (off the clock) before
// each call, and reports the p50 and p90 of the calls.
func benchCalls(b *testing.B, rn *Runner, lang, code string, pace func()) {
	in := map[string]any{"a": int64(1)}
	ctx := context.Background()
	if _, _, err := rn.Run(ctx, lang, code, in); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if pace != nil {
			b.StopTimer()
			pace()
			b.StartTimer()
		}
		t := time.Now()
		if _, _, err := rn.Run(ctx, lang, code, in); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds()), "p90-µs")
}

// benchPython is the interpreter the service uses by default
// (cmd/api: /usr/bin/python3 when present), else python3 from PATH.
func benchPython() string {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}
