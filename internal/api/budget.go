package api

import "sync/atomic"

// budget is a number of bytes that many holders share, up to max: what
// the streams of all slow clients may hold together. It is safe for
// concurrent use; a nil budget has no limit.
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
