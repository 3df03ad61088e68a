package sharedtest

import "sync"

// Recorder keeps every value it is given, in order; it is safe for
// concurrent use. Its OnEvent method makes a Recorder[*run.Event] a
// run.Listener. The zero value is ready to use.
type Recorder[E any] struct {
	mu   sync.Mutex
	list []E
}

// OnEvent records e.
func (r *Recorder[E]) OnEvent(e E) {
	r.mu.Lock()
	r.list = append(r.list, e)
	r.mu.Unlock()
}

// All returns a copy of what has been recorded so far.
func (r *Recorder[E]) All() []E {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]E(nil), r.list...)
}
