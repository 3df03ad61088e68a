package run

import (
	"context"
	"os"
	"testing"
)

func TestSmokeChain3(t *testing.T) {
	e := New(Config{}, nil)
	for _, name := range []string{"echo", "chain3", "diamond", "branch"} {
		data, _ := os.ReadFile("../../examples/" + name + ".yml")
		wf, err := e.Compile(data)
		if err != nil {
			t.Fatal(name, err)
		}
		in, err := wf.PrepareInputs(map[string]any{"query": "hello world"})
		if err != nil {
			t.Fatal(err)
		}
		var evs []*Event
		info := e.Run(context.Background(), wf, Params{RunID: "r", UserID: "u", Inputs: in}, ListenerFunc(func(e *Event) { evs = append(evs, e) }))
		t.Logf("%s: %s %v %q", name, info.Status, info.Outputs, info.Error)
		for _, ev := range evs {
			if ev.Node != nil {
				t.Logf("  %s %s %s %v", ev.Type, ev.Node.NodeID, ev.Node.Status, ev.Node.Outputs)
			} else if ev.Chunk != nil {
				t.Logf("  %s %q", ev.Type, ev.Chunk.Text)
			} else {
				t.Logf("  %s", ev.Type)
			}
		}
	}
}
