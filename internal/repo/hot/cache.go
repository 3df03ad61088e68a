package hot

import (
	"sync"

	"github.com/flowrun/flowrun/internal/repo"
)

// decoded caches the decoded form of log entries by their text: a turn
// reads its conversation's whole log, and all but the last entry are
// usually ones this process decoded for the turn before. It holds two
// generations: a hit in the old one moves the entry to the new one, and
// when the new one holds maxBytes of entry text the old one is dropped.
// Decoded batches are shared and must not be changed.
type decoded struct {
	mu       sync.Mutex
	cur, old map[string]*repo.Batch
	bytes    int
	maxBytes int
}

// cacheBytes is the entry text the cache holds per generation.
const cacheBytes = 16 << 20

func newDecoded(maxBytes int) *decoded {
	return &decoded{cur: map[string]*repo.Batch{}, maxBytes: maxBytes}
}

func (d *decoded) get(raw string) *repo.Batch {
	d.mu.Lock()
	defer d.mu.Unlock()
	if b, ok := d.cur[raw]; ok {
		return b
	}
	b, ok := d.old[raw]
	if ok {
		d.putLocked(raw, b)
	}
	return b
}

func (d *decoded) put(raw string, b *repo.Batch) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.putLocked(raw, b)
}

func (d *decoded) putLocked(raw string, b *repo.Batch) {
	if d.bytes+len(raw) > d.maxBytes {
		d.old, d.cur, d.bytes = d.cur, map[string]*repo.Batch{}, 0
	}
	d.cur[raw] = b
	d.bytes += len(raw)
}
