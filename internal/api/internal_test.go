package api

import (
	"errors"
	"math"
	"strings"
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
	ev := &run.Event{Type: run.EventTextChunk, Chunk: &run.Chunk{Text: "x"}}
	q := newQueue(3, 1<<20, nil)
	for range 3 {
		q.OnEvent(ev)
	}
	evs, size, overflow := q.take(nil)
	if len(evs) != 3 || overflow || size <= 0 {
		t.Fatalf("take = %d events, %d bytes, %v", len(evs), size, overflow)
	}
	q.sent(size)
	for range 10 { // never blocks, even with nobody taking
		q.OnEvent(ev)
	}
	if evs, _, overflow := q.take(nil); len(evs) != 0 || !overflow {
		t.Fatalf("after overflow take = %d, %v", len(evs), overflow)
	}

	q = newQueue(100, 1<<20, nil)
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

// TestQueueBoundsBytes: a queue holds at most maxBytes of events not yet
// written (queued or being written), takes a first event of any size,
// counts a value that several events share once, and gives its bytes back
// to the shared pool when they are written or dropped.
func TestQueueBoundsBytes(t *testing.T) {
	t.Parallel()
	chunk := func(s string) *run.Event { return &run.Event{Type: run.EventTextChunk, Chunk: &run.Chunk{Text: s}} }
	big := strings.Repeat("b", 3<<20)
	pool := newBudget(64 << 20)

	q := newQueue(1000, 4<<20, pool)
	q.OnEvent(chunk(big))
	q.OnEvent(chunk(big)) // the same string: counted once
	evs, size, overflow := q.take(nil)
	if len(evs) != 2 || overflow || size < 3<<20 || size > 3<<20+4096 || pool.inUse() != size {
		t.Fatalf("take = %d events, %d bytes, %v; pool %d", len(evs), size, overflow, pool.inUse())
	}
	// While those are being written, another 2 MiB would pass 4 MiB.
	q.OnEvent(chunk(strings.Repeat("c", 2<<20)))
	if _, _, overflow := q.take(nil); !overflow {
		t.Fatal("a writer 3 MiB behind took 2 MiB more over a 4 MiB limit")
	}
	q.sent(size)
	if pool.inUse() != 0 {
		t.Fatalf("pool holds %d after everything was written or dropped", pool.inUse())
	}

	// A first event is taken whatever its size.
	q = newQueue(1000, 1<<20, pool)
	q.OnEvent(chunk(big))
	evs, size, overflow = q.take(nil)
	if len(evs) != 1 || overflow {
		t.Fatalf("3 MiB first event over a 1 MiB limit: take = %d, %v", len(evs), overflow)
	}
	q.sent(size)

	// Within maxBytes, a client that keeps up gets everything.
	q = newQueue(1000, 1<<20, pool)
	for i := range 100 {
		q.OnEvent(chunk(strings.Repeat("k", 5000)))
		evs, size, overflow := q.take(nil)
		if len(evs) != 1 || overflow {
			t.Fatalf("event %d: take = %d, %v", i, len(evs), overflow)
		}
		q.sent(size)
	}

	// The pool bounds all queues together: a queue whose event would pass
	// it overflows, even when it is not behind itself.
	small := newBudget(100 << 10)
	a, b := newQueue(1000, 1<<20, small), newQueue(1000, 1<<20, small)
	a.OnEvent(chunk(strings.Repeat("a", 80<<10)))
	b.OnEvent(chunk(strings.Repeat("b", 80<<10)))
	if _, _, overflow := a.take(nil); overflow {
		t.Fatal("first queue overflowed")
	}
	if _, _, overflow := b.take(nil); !overflow {
		t.Fatal("second queue passed the shared pool")
	}
}

// TestEncoderSpills: with out set, the encoder hands its output over in
// pieces of about spillSize, never holding a large value whole, and the
// pieces put together are exactly the output of an encoder without out,
// whatever UTF-8 (valid or not) straddles the piece boundaries.
func TestEncoderSpills(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é😀a\\\xff\x01\"", spillSize/3) + "\xe2\x82"
	list := make([]any, 5000)
	for i := range list {
		list[i] = map[string]any{"k": strings.Repeat("v", 40), "n": int64(i)}
	}
	v := run.Vars{{Name: "long", Value: long}, {Name: "list", Value: list}, {Name: "tail", Value: "t"}}
	for _, py := range []bool{false, true} {
		whole := enc{py: py}
		whole.value(v)
		var out []byte
		maxPiece := 0
		e := enc{py: py, out: func(b []byte) error {
			out = append(out, b...)
			maxPiece = max(maxPiece, len(b))
			return nil
		}}
		e.value(v)
		e.flush()
		if string(out) != string(whole.b) {
			t.Fatalf("py=%v: spilled output differs from whole output (%d vs %d bytes)", py, len(out), len(whole.b))
		}
		if maxPiece > 2*spillSize || maxPiece < spillSize {
			t.Fatalf("py=%v: a piece of %d bytes", py, maxPiece)
		}
		if cap(e.b) > 3*spillSize {
			t.Fatalf("py=%v: encoder buffer grew to %d bytes", py, cap(e.b))
		}
	}
	// After a write error, output is dropped, and the error kept.
	boom := errors.New("boom")
	calls := 0
	e := enc{out: func([]byte) error { calls++; return boom }}
	e.value(v)
	e.flush()
	if !errors.Is(e.err, boom) || calls != 1 {
		t.Fatalf("err %v after %d calls", e.err, calls)
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
