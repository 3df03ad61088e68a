package llm

import (
	"context"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/run"
	"github.com/flowrun/flowrun/internal/run/runtest"
	"github.com/flowrun/flowrun/internal/sharedtest"
)

// BenchmarkTimeToFirstChunk runs Start -> LLM -> End against the fake
// server and reports how long the client waits for its first text_chunk
// beyond the server's own latency: ttfc is run start to first text_chunk
// event, server is request arrival to the first byte the server wrote,
// overhead their difference (engine, request building, HTTP both ways,
// SSE parsing, event emission).
func BenchmarkTimeToFirstChunk(b *testing.B) {
	fake := newFake(b, say("Hello", " world"))
	e := engine(b, fake.config())
	wf := runtest.Compile(b, e, sharedtest.Graph([]string{startNode,
		llmYAML("llm", chatModel+`, prompt_template: [{role: system, text: "Be brief."}, {role: user, text: "{{#start.q#}}"}]`),
		endNode("llm, text")}, "start->llm", "llm->end"))
	in, err := wf.PrepareInputs(map[string]any{"q": "hello"})
	if err != nil {
		b.Fatal(err)
	}
	p := run.Params{RunID: "r", TaskID: "t", WorkflowID: "w", AppID: "a", UserID: "u", Inputs: in}
	ctx := context.Background()
	var ttfc time.Duration
	b.ReportAllocs()
	for b.Loop() {
		var first time.Time
		l := run.ListenerFunc(func(ev *run.Event) {
			if ev.Type == run.EventTextChunk && first.IsZero() {
				first = time.Now()
			}
		})
		start := time.Now()
		if info := e.Run(ctx, wf, p, l); info.Status != run.StatusSucceeded {
			b.Fatal(info.Status, info.Error)
		}
		ttfc += first.Sub(start)
	}
	var server time.Duration
	reqs := fake.requests()
	for _, r := range reqs {
		server += r.FirstByte.Sub(r.Arrived)
	}
	n := float64(len(reqs))
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / n }
	b.ReportMetric(us(ttfc), "ttfc-µs/op")
	b.ReportMetric(us(server), "server-µs/op")
	b.ReportMetric(us(ttfc-server), "overhead-µs/op")
}
