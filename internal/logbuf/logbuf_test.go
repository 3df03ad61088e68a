package logbuf

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink records writes and signals each one.
type sink struct {
	mu     sync.Mutex
	writes []string
	wrote  chan struct{}
}

func newSink() *sink { return &sink{wrote: make(chan struct{}, 1000)} }

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.writes = append(s.writes, string(p))
	s.mu.Unlock()
	s.wrote <- struct{}{}
	return len(p), nil
}

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.writes...)
}

func waitWrite(t *testing.T, s *sink) {
	t.Helper()
	select {
	case <-s.wrote:
	case <-time.After(5 * time.Second):
		t.Fatal("no flush within 5 s")
	}
}

func TestLinesAreWrittenTogetherAfterDelay(t *testing.T) {
	t.Parallel()
	s := newSink()
	w := New(s, 300*time.Millisecond, 0)
	defer w.Close()
	for i := range 3 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	if n := len(s.got()); n != 0 {
		t.Fatalf("%d writes before the delay, want 0", n)
	}
	waitWrite(t, s)
	if got := s.got(); len(got) != 1 || got[0] != "line 0\nline 1\nline 2\n" {
		t.Fatalf("writes %q, want one with the three lines", got)
	}
	// The next line arms the timer again.
	fmt.Fprintln(w, "later")
	waitWrite(t, s)
	if got := s.got(); len(got) != 2 || got[1] != "later\n" {
		t.Fatalf("writes %q", got)
	}
}

func TestLimitFlushesAtOnce(t *testing.T) {
	t.Parallel()
	s := newSink()
	w := New(s, time.Hour, 10)
	defer w.Close()
	fmt.Fprint(w, "12345")
	if len(s.got()) != 0 {
		t.Fatal("flushed below the limit")
	}
	fmt.Fprint(w, "67890")
	if got := s.got(); len(got) != 1 || got[0] != "1234567890" {
		t.Fatalf("writes %q, want one at the limit", got)
	}
}

func TestCloseFlushesAndWritesThrough(t *testing.T) {
	t.Parallel()
	s := newSink()
	w := New(s, time.Hour, 0)
	fmt.Fprint(w, "a")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, "b")
	if got := s.got(); strings.Join(got, "|") != "a|b" {
		t.Fatalf("writes %q, want a then b", got)
	}
}

func TestHandlerFlushesWarningsAtOnceInOrder(t *testing.T) {
	t.Parallel()
	s := newSink()
	w := New(s, time.Hour, 0)
	defer w.Close()
	log := slog.New(Handler(slog.NewTextHandler(w, &slog.HandlerOptions{ReplaceAttr: noTime}), w)).With("svc", "api")
	log.Info("request")
	if len(s.got()) != 0 {
		t.Fatal("info line written at once")
	}
	log.WithGroup("g").Error("boom", "k", 1)
	got := s.got()
	want := "level=INFO msg=request svc=api\nlevel=ERROR msg=boom svc=api g.k=1\n"
	if len(got) != 1 || got[0] != want {
		t.Fatalf("writes %q, want %q", got, want)
	}
}

func noTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

func TestConcurrentLinesStayWhole(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	var mu sync.Mutex
	w := New(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	}), time.Millisecond, 256)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				fmt.Fprintf(w, "g%d-%03d\n", g, i)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1600 {
		t.Fatalf("%d lines, want 1600", len(lines))
	}
	for _, l := range lines {
		if len(l) != 6 || l[0] != 'g' {
			t.Fatalf("torn line %q", l)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
