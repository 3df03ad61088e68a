// Package logbuf batches log output. The API logs a line per request; one
// write system call per line costs more than the rest of a short run's
// logging. A Writer collects lines and writes them together, at most Delay
// after the first one or once Limit bytes are waiting, and Handler writes
// warnings and errors through at once, so what matters when things go wrong
// is never held back. (zap's BufferedWriteSyncer does the same job.)
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Defaults for New.
const (
	DefaultDelay = 50 * time.Millisecond
	DefaultLimit = 64 << 10
)

// Writer buffers writes to an io.Writer. It is safe for concurrent use.
// Each Write is kept whole: lines are never split between flushes.
type Writer struct {
	out   io.Writer
	delay time.Duration
	limit int

	mu     sync.Mutex
	buf    []byte
	armed  bool // the timer will flush
	timer  *time.Timer
	closed bool
}

// New returns a Writer that flushes to out at most delay after a write
// (DefaultDelay if 0) or once limit bytes are buffered (DefaultLimit if 0).
// Close it to flush the rest.
func New(out io.Writer, delay time.Duration, limit int) *Writer {
	if delay <= 0 {
		delay = DefaultDelay
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	w := &Writer{out: out, delay: delay, limit: limit}
	w.timer = time.AfterFunc(time.Hour, func() { _ = w.Flush() })
	w.timer.Stop()
	return w
}

// Write buffers p. It returns the error of a flush that p triggered; once
// the Writer is closed it writes p through.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.out.Write(p)
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= w.limit {
		return len(p), w.flushLocked()
	}
	if !w.armed {
		w.armed = true
		w.timer.Reset(w.delay)
	}
	return len(p), nil
}

// Flush writes what is buffered.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if w.armed {
		w.armed = false
		w.timer.Stop()
	}
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.out.Write(w.buf)
	if cap(w.buf) > 4*w.limit {
		w.buf = nil // do not keep a burst's buffer for ever
	} else {
		w.buf = w.buf[:0]
	}
	return err
}

// Close flushes and makes later writes unbuffered. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.flushLocked()
	w.closed = true
	return err
}

// Handler returns h, writing to w, with records at level Warn and above
// flushed at once (with the lines buffered before them, so order holds).
func Handler(h slog.Handler, w *Writer) slog.Handler { return &handler{h, w} }

type handler struct {
	slog.Handler
	w *Writer
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{h.Handler.WithAttrs(as), h.w}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{h.Handler.WithGroup(name), h.w}
}
