package run_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/internal/run"
)

// TestSizeCountsSharedValuesOnce: a large string or list that several
// events carry counts once per Sizer; small ones count every time.
func TestSizeCountsSharedValuesOnce(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	in := run.Vars{{Name: "query", Value: big}, {Name: "sys.user_id", Value: "u"}}
	started := &run.Event{Type: run.EventWorkflowStarted, Run: &run.RunInfo{Inputs: in}}
	node := &run.Event{Type: run.EventNodeFinished, Node: &run.NodeRun{Inputs: in, Outputs: in}}

	var s run.Sizer
	first := s.Event(started)
	if first < 1<<20 || first > 1<<20+4096 {
		t.Fatalf("first event with a 1 MiB input: %d bytes", first)
	}
	if again := s.Event(node); again > 4096 {
		t.Fatalf("a later event sharing the input counted it again: %d bytes", again)
	}
	// A fresh Sizer counts it anew; so does Size.
	if n := run.Size(in); n < 1<<20 {
		t.Fatalf("Size of the inputs alone: %d", n)
	}

	list := make([]any, 5000)
	for i := range list {
		list[i] = "item"
	}
	var l run.Sizer
	if a, b := l.Value(list), l.Value(list); b >= a/100 {
		t.Fatalf("a shared 5000-element list counted %d then %d bytes", a, b)
	}
	small := "abc"
	var m run.Sizer
	if a, b := m.Value(small), m.Value(small); a != b {
		t.Fatalf("a small string counted %d then %d", a, b)
	}
}

// TestSizeIsHonest compares the estimate with the live heap that the
// value holds once built: close to it, and not far over.
func TestSizeIsHonest(t *testing.T) {
	cases := map[string]func() any{
		"strings": func() any {
			l := make([]any, 20000)
			for i := range l {
				l[i] = strings.Repeat("s", 50+i%100)
			}
			return l
		},
		"objects": func() any {
			l := make([]any, 5000)
			for i := range l {
				l[i] = map[string]any{"id": int64(1000 + i), "name": fmt.Sprintf("name-%d", i), "score": float64(i) / 3}
			}
			return l
		},
		"one big map": func() any {
			m := make(map[string]any)
			for i := 0; i < 20000; i++ {
				m[fmt.Sprintf("key-%06d", i)] = int64(1000 + i)
			}
			return m
		},
		"vars": func() any {
			vs := make(run.Vars, 0, 3000)
			for i := 0; i < 3000; i++ {
				vs = append(vs, run.Var{Name: fmt.Sprintf("v%d", i), Value: []any{int64(i + 1000), strings.Repeat("z", 200)}})
			}
			return vs
		},
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			v := build()
			runtime.GC()
			runtime.ReadMemStats(&after)
			live := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			est := run.Size(v)
			runtime.KeepAlive(v)
			t.Logf("live %d, estimated %d (%.2fx)", live, est, float64(est)/float64(live))
			// The runtime rounds allocations up to size classes; the
			// estimate must stay within these bounds of the live heap.
			if est < live*8/10 || est > live*2 {
				t.Fatalf("estimate %d bytes for %d live", est, live)
			}
		})
	}
}
