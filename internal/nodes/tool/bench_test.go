package tool

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/tools"
	"github.com/flowrun/flowrun/internal/tools/builtin"
)

// BenchmarkToolNative measures what one native tool call costs through
// the tool node: each iteration runs start → tool → end and, for a
// baseline, start → end, and reports their difference as node-µs/op
// (lookup, settings and arguments, cast, the tool itself, mapping its
// messages, and the node's events and bookkeeping in the engine), in
// wall time and in process CPU time (node-cpu-µs/op, which other work on
// a shared machine does not inflate).
func BenchmarkToolNative(b *testing.B) {
	reg, err := tools.Build(context.Background(), nil, tools.Kinds{"builtin": builtin.Kind(builtin.Options{})}, builtin.Defaults())
	if err != nil {
		b.Fatal(err)
	}
	nodes := run.NewRegistry()
	Register(nodes, reg, Config{})
	eng := run.New(run.Config{}, nodes)
	for _, c := range []struct {
		name string
		data map[string]any
	}{
		{"current_time", map[string]any{"provider_id": "time", "tool_name": "current_time",
			"tool_configurations": map[string]any{
				"format":   map[string]any{"type": "constant", "value": "%Y-%m-%d %H:%M:%S"},
				"timezone": map[string]any{"type": "constant", "value": "Asia/Shanghai"},
			}}},
		{"json_parse", map[string]any{"provider_id": "langgenius/json_process/json_process", "tool_name": "parse",
			"tool_parameters": map[string]any{
				"content":     map[string]any{"type": "mixed", "value": "{{#start.a#}}"},
				"json_filter": map[string]any{"type": "constant", "value": "$.items[1].name"},
			}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			data := toolData("", c.data)
			with := compileBench(b, eng, doc(data, "text"))
			without := compileBench(b, eng, startEnd)
			in := map[string]any{"a": `{"items": [{"name": "a", "n": 1}, {"name": "b", "n": 2}], "total": 2}`}
			ctx := context.Background()
			var withT, withoutT, withCPU, withoutCPU time.Duration
			b.ReportAllocs()
			for b.Loop() {
				wall, cpu := timeRun(b, ctx, eng, with, in)
				withT, withCPU = withT+wall, withCPU+cpu
				wall, cpu = timeRun(b, ctx, eng, without, in)
				withoutT, withoutCPU = withoutT+wall, withoutCPU+cpu
			}
			perOp := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) / 1e3 }
			b.ReportMetric(perOp(withT-withoutT), "node-µs/op")
			b.ReportMetric(perOp(withCPU-withoutCPU), "node-cpu-µs/op")
		})
	}
}

// startEnd is the baseline: start (inputs a and b) → end.
var startEnd = []byte(`{"app": {"mode": "workflow", "name": "base"}, "kind": "app", "version": "0.3.1", "workflow": {"graph": {
  "nodes": [{"id": "start", "data": {"type": "start", "title": "Start", "variables": [
      {"variable": "a", "label": "a", "type": "text-input", "required": false, "max_length": 100000},
      {"variable": "b", "label": "b", "type": "text-input", "required": false, "max_length": 100000}]}},
    {"id": "end", "data": {"type": "end", "title": "End", "outputs": []}}],
  "edges": [{"id": "e", "source": "start", "target": "end", "sourceHandle": "source"}]}}}`)

func compileBench(b *testing.B, eng *run.Engine, d []byte) *run.Workflow {
	b.Helper()
	wf, err := eng.Compile(d)
	if err != nil {
		b.Fatal(err)
	}
	return wf
}

// timeRun runs wf once and returns the wall and process CPU time it took.
func timeRun(b *testing.B, ctx context.Context, eng *run.Engine, wf *run.Workflow, in map[string]any) (time.Duration, time.Duration) {
	vars, err := wf.PrepareInputs(in)
	if err != nil {
		b.Fatal(err)
	}
	cpu, start := cpuTime(), time.Now()
	info := eng.Run(ctx, wf, run.Params{RunID: "r", AppID: "a", WorkflowID: "w", UserID: "u", Inputs: vars}, nil)
	wall := time.Since(start)
	cpu = cpuTime() - cpu
	if info.Status != run.StatusSucceeded {
		b.Fatal(info.Status, info.Error)
	}
	return wall, cpu
}

// cpuTime is the CPU time the process has used so far (user and system,
// every thread).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
