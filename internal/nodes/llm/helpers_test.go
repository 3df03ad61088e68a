package llm

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/run/runtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// trace renders a run's events one per line: node events as "type node
// status", chunks as "chunk selector text".
func trace(rec *runtest.Recorder) []string {
	var out []string
	for _, e := range rec.All() {
		switch {
		case e.Chunk != nil:
			out = append(out, fmt.Sprintf("chunk %s %q", e.Chunk.Selector, e.Chunk.Text))
		case e.Node != nil:
			out = append(out, fmt.Sprintf("%s %s %s", e.Type, e.Node.NodeID, e.Node.Status))
		case e.Run != nil:
			out = append(out, fmt.Sprintf("%s %s", e.Type, e.Run.Status))
		}
	}
	return out
}

// engine registers the LLM node types, configured by cfg, into a fresh
// registry.
func engine(t testing.TB, cfg Config) *run.Engine {
	t.Helper()
	reg := run.NewRegistry()
	if err := Register(reg, cfg); err != nil {
		t.Fatal(err)
	}
	return run.New(run.Config{}, reg)
}

const startNode = `{id: start, data: {type: start, title: Start, variables: [{variable: q, type: paragraph, required: false}, {variable: n, type: number, required: false}]}}`

func endNode(sels ...string) string {
	var outs []string
	for i, s := range sels {
		outs = append(outs, fmt.Sprintf("{variable: o%d, value_selector: [%s]}", i, s))
	}
	return `{id: end, data: {type: end, title: End, outputs: [` + strings.Join(outs, ", ") + `]}}`
}

// runDoc compiles and runs src once.
func runDoc(t testing.TB, e *run.Engine, src string, inputs map[string]any) (*run.RunInfo, *runtest.Recorder) {
	t.Helper()
	return runtest.Run(t, context.Background(), e, runtest.Compile(t, e, src), run.Params{}, inputs, nil)
}

func wantStatus(t testing.TB, info *run.RunInfo, want run.Status) {
	t.Helper()
	if info.Status != want {
		t.Fatalf("run status %s (error %q), want %s", info.Status, info.Error, want)
	}
}

func waitChunk(t testing.TB, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a text_chunk")
		return ""
	}
}

func get(t testing.TB, vs run.Vars, name string) any {
	t.Helper()
	v, ok := vs.Get(name)
	if !ok {
		t.Fatalf("no %q in %v", name, vs)
	}
	return v
}
