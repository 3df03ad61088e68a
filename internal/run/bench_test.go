package run

import (
	"context"
	"testing"
)

// BenchmarkRun runs the reference workflows, each compiled once, with no
// listener: the engine's own cost per run.
func BenchmarkRun(b *testing.B) {
	for _, name := range []string{"echo", "chain3", "diamond", "branch"} {
		b.Run(name, func(b *testing.B) {
			e := New(Config{}, nil)
			wf, err := e.Compile([]byte(readFile(b, "../../examples/"+name+".yml")))
			if err != nil {
				b.Skipf("%s does not compile yet: %v", name, err)
			}
			in, err := wf.PrepareInputs(map[string]any{"query": "hello world"})
			if err != nil {
				b.Fatal(err)
			}
			p := Params{RunID: "r", TaskID: "t", WorkflowID: "w", AppID: "a", UserID: "u", Inputs: in}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if info := e.Run(ctx, wf, p, nil); info.Status != StatusSucceeded {
					b.Fatal(info.Status, info.Error)
				}
			}
		})
	}
}
