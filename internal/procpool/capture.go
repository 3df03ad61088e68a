package procpool

import (
	"strings"
	"sync"
)

// Capture keeps Max bytes of what is written to it: the first ones (a Go
// worker's fatal error comes first, its long goroutine dump after), or
// the last ones when Tail is set. It is safe for concurrent use.
type Capture struct {
	Max  int
	Tail bool
	mu   sync.Mutex
	b    []byte
}

// Write keeps what fits and reports all of p written.
func (c *Capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.Tail:
		c.b = append(c.b, p...)
		if len(c.b) > c.Max {
			c.b = append(c.b[:0], c.b[len(c.b)-c.Max:]...)
		}
	case len(c.b) < c.Max:
		c.b = append(c.b, p[:min(c.Max-len(c.b), len(p))]...)
	}
	return len(p), nil
}

// String returns what was kept, without surrounding space.
func (c *Capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimSpace(string(c.b))
}
