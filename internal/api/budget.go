package api

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"
)

// budget is a number of bytes that many holders share, up to max: what
// the streams of all slow clients may hold together, what the bodies of
// the requests in flight may. It is safe for concurrent use; a nil budget
// has no limit.
type budget struct {
	max  int64
	used atomic.Int64
}

func newBudget(max int64) *budget { return &budget{max: max} }

// take reserves n bytes. It reserves nothing and reports false if that
// would pass max.
func (b *budget) take(n int64) bool {
	if b == nil {
		return true
	}
	for {
		u := b.used.Load()
		if u+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// give returns n bytes taken before.
func (b *budget) give(n int64) {
	if b != nil && n != 0 {
		b.used.Add(-n)
	}
}

// inUse returns the bytes taken and not given back.
func (b *budget) inUse() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// add takes n bytes even if that passes max.
func (b *budget) add(n int64) {
	if b != nil {
		b.used.Add(n)
	}
}

// smallBody is the body size up to which a request is admitted whatever
// the bodies in flight hold: ordinary requests are never refused because
// of large ones (they still count against the budget).
const smallBody = 64 << 10

// ErrServerBusy refuses a request with a large body while the bodies of
// the requests in flight hold MaxBodyBytesInFlight.
var ErrServerBusy = errors.New("The server is holding too many large requests. Please try again shortly.") //nolint:staticcheck // message in Dify's style

// admit reserves the memory of r's body (its Content-Length, or
// MaxBodyBytes when unknown) until release is called: when the request's
// run is done (what the run keeps afterwards is bounded by the history and
// the stream buffers) or, if it fails before, when the handler returns.
// release may be called more than once. A body over smallBody that would
// pass MaxBodyBytesInFlight is refused with ErrServerBusy; it is read and
// dropped (up to MaxBodyBytes, a few kilobytes at a time) so that the
// client, still sending it, gets the answer rather than a broken pipe.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (release func(), err error) {
	n := r.ContentLength
	if n < 0 || n > s.cfg.MaxBodyBytes {
		n = s.cfg.MaxBodyBytes
	}
	if n <= smallBody {
		s.bodies.add(n)
	} else if !s.bodies.take(n) {
		_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
		return nil, ErrServerBusy
	}
	res := &reservation{b: s.bodies, n: n}
	return res.release, nil
}

// reservation is bytes taken from a budget, given back once.
type reservation struct {
	b    *budget
	n    int64
	done atomic.Bool
}

func (r *reservation) release() {
	if !r.done.Swap(true) {
		r.b.give(r.n)
	}
}
