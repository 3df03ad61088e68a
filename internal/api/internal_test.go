package api

import (
	"errors"
	"math"
	"testing"

	"github.com/flowrun/flowrun/internal/run"
)

func TestEncoderStyles(t *testing.T) {
	t.Parallel()
	v := run.Vars{
		{Name: "s", Value: "é <&> \"q\" \\ \n\t\x01\x7f 😀 \xff"},
		{Name: "i", Value: int64(-3)},
		{Name: "f", Value: 1.0},
		{Name: "small", Value: 0.00001},
		{Name: "big", Value: 1e16},
		{Name: "frac", Value: 0.875},
		{Name: "nan", Value: math.NaN()},
		{Name: "l", Value: []any{true, nil, map[string]any{"b": int64(1), "a": []string{"x"}}}},
		{Name: "sel", Value: run.Selector{"n", "v"}},
		{Name: "empty", Value: []any{}},
		{Name: "vars", Value: run.Vars{}},
	}
	tests := []struct {
		py   bool
		want string
	}{
		{false, `{"s":"é <&> \"q\" \\ \n\t\u0001` + "\x7f" + ` 😀 ` + "\uFFFD" + `","i":-3,"f":1.0,"small":1e-05,"big":1e+16,"frac":0.875,"nan":null,"l":[true,null,{"a":["x"],"b":1}],"sel":["n","v"],"empty":[],"vars":{}}`},
		{true, `{"s": "\u00e9 <&> \"q\" \\ \n\t\u0001\u007f \ud83d\ude00 \ufffd", "i": -3, "f": 1.0, "small": 1e-05, "big": 1e+16, "frac": 0.875, "nan": null, "l": [true, null, {"a": ["x"], "b": 1}], "sel": ["n", "v"], "empty": [], "vars": {}}`},
	}
	for _, tt := range tests {
		e := enc{py: tt.py}
		e.value(v)
		if string(e.b) != tt.want {
			t.Errorf("py=%v:\ngot  %s\nwant %s", tt.py, e.b, tt.want)
		}
	}
}

// TestQueueBoundsDeadAndSlowClients: the engine never blocks on the queue;
// a killed queue keeps nothing, and one that overflows drops everything.
func TestQueueBoundsDeadAndSlowClients(t *testing.T) {
	t.Parallel()
	ev := &run.Event{Type: run.EventTextChunk}
	q := newQueue(3)
	for range 3 {
		q.OnEvent(ev)
	}
	if evs, overflow := q.take(nil); len(evs) != 3 || overflow {
		t.Fatalf("take = %d, %v", len(evs), overflow)
	}
	for range 10 { // never blocks, even with nobody taking
		q.OnEvent(ev)
	}
	if evs, overflow := q.take(nil); len(evs) != 0 || !overflow {
		t.Fatalf("after overflow take = %d, %v", len(evs), overflow)
	}

	q = newQueue(100)
	q.OnEvent(ev)
	q.kill()
	for range 1000 {
		q.OnEvent(ev)
	}
	q.mu.Lock()
	n := len(q.events)
	q.mu.Unlock()
	if n != 0 {
		t.Fatalf("dead queue holds %d events", n)
	}
}

func TestErrorTableDefaultsToInternal(t *testing.T) {
	t.Parallel()
	h, internal := httpError(errors.New("surprise"))
	if !internal || h.Status != 500 || h.Code != "internal_server_error" || h.Message != internalMessage {
		t.Fatalf("got %+v, %v", h, internal)
	}
	// Wrapping context never leaks into messages of typed rows.
	h, _ = httpError(errors.Join(errors.New("ctx"), &WorkflowNotFoundError{ID: "x"}))
	if h.Message != "Workflow not found with id: x" || h.Status != 404 {
		t.Fatalf("got %+v", h)
	}
}
