package llm

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/run"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// events records a run's events; safe for concurrent use.
type events struct {
	mu   sync.Mutex
	list []*run.Event
	// onChunk, when set, receives each text_chunk as it is emitted.
	onChunk chan string
}

func (ev *events) OnEvent(e *run.Event) {
	ev.mu.Lock()
	ev.list = append(ev.list, e)
	ev.mu.Unlock()
	if e.Type == run.EventTextChunk && ev.onChunk != nil {
		ev.onChunk <- e.Chunk.Text
	}
}

func (ev *events) all() []*run.Event {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return append([]*run.Event(nil), ev.list...)
}

// trace renders the events one per line: node events as "type node
// status", chunks as "chunk selector text".
func (ev *events) trace() []string {
	var out []string
	for _, e := range ev.all() {
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

func (ev *events) chunks() string {
	var b strings.Builder
	for _, e := range ev.all() {
		if e.Chunk != nil {
			b.WriteString(e.Chunk.Text)
		}
	}
	return b.String()
}

// node returns the last node_finished (or node_retry with retry) record of id.
func (ev *events) node(t testing.TB, id string) *run.NodeRun {
	t.Helper()
	var last *run.NodeRun
	for _, e := range ev.all() {
		if e.Type == run.EventNodeFinished && e.Node.NodeID == id {
			last = e.Node
		}
	}
	if last == nil {
		t.Fatalf("node %s did not finish", id)
	}
	return last
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

// graph builds a workflow document from flow-style YAML node lines and
// edges "src->dst[:handle]".
func graph(nodes []string, edges ...string) string {
	var b strings.Builder
	b.WriteString("app: {mode: workflow, name: t}\nworkflow:\n  graph:\n    nodes:\n")
	for _, n := range nodes {
		b.WriteString("    - " + n + "\n")
	}
	b.WriteString("    edges:\n")
	for i, e := range edges {
		handle := "source"
		if j := strings.Index(e, ":"); j >= 0 {
			e, handle = e[:j], e[j+1:]
		}
		st := strings.SplitN(e, "->", 2)
		fmt.Fprintf(&b, "    - {id: e%d, source: '%s', target: '%s', sourceHandle: '%s'}\n", i, st[0], st[1], handle)
	}
	return b.String()
}

const startNode = `{id: start, data: {type: start, title: Start, variables: [{variable: q, type: paragraph, required: false}, {variable: n, type: number, required: false}]}}`

func endNode(sels ...string) string {
	var outs []string
	for i, s := range sels {
		outs = append(outs, fmt.Sprintf("{variable: o%d, value_selector: [%s]}", i, s))
	}
	return `{id: end, data: {type: end, title: End, outputs: [` + strings.Join(outs, ", ") + `]}}`
}

func compile(t testing.TB, e *run.Engine, src string) *run.Workflow {
	t.Helper()
	wf, err := e.Compile([]byte(src))
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, src)
	}
	return wf
}

func execute(t testing.TB, ctx context.Context, e *run.Engine, wf *run.Workflow, inputs map[string]any, ev *events) *run.RunInfo {
	t.Helper()
	in, err := wf.PrepareInputs(inputs)
	if err != nil {
		t.Fatalf("inputs: %v", err)
	}
	if ev == nil {
		ev = &events{}
	}
	return e.Run(ctx, wf, run.Params{RunID: "run-1", TaskID: "task-1", WorkflowID: "wf-1", AppID: "app-1", UserID: "user-1", Inputs: in}, ev)
}

// runDoc compiles and runs src once.
func runDoc(t testing.TB, e *run.Engine, src string, inputs map[string]any) (*run.RunInfo, *events) {
	t.Helper()
	ev := &events{}
	info := execute(t, context.Background(), e, compile(t, e, src), inputs, ev)
	return info, ev
}

func wantStatus(t testing.TB, info *run.RunInfo, want run.Status) {
	t.Helper()
	if info.Status != want {
		t.Fatalf("run status %s (error %q), want %s", info.Status, info.Error, want)
	}
}

func equalLines(t testing.TB, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("mismatch\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
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
