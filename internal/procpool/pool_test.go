package procpool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

const testWorkerEnv = "PROCPOOL_TEST_WORKER"

// TestMain makes this binary a test worker when the pool starts it: it
// echoes lines, dies on "crash" (a fatal stack overflow, the failure
// Go cannot recover from), never answers "hang", answers "pid" with its
// pid and whether it is Worn, on "grow" holds memory until it is Worn,
// and on "watch" until WatchMemory calls back. Otherwise it runs the
// tests, which fail if any goroutine outlives them.
func TestMain(m *testing.M) {
	if os.Getenv(testWorkerEnv) == "1" {
		if LimitMemory(testMemoryLimit) != nil {
			os.Exit(1)
		}
		r := bufio.NewReader(os.Stdin)
		if Ready(os.Stdout) != nil {
			os.Exit(1)
		}
		var held [][]byte
		for {
			line, err := ReadLine(r, 1<<10)
			if err != nil {
				os.Exit(0)
			}
			switch string(line) {
			case "crash":
				debug.SetMaxStack(1 << 20) // overflow quickly
				var f func(int) int
				f = func(n int) int { return f(n+1) + 1 }
				f(0)
			case "hang":
				select {}
			case "pid":
				line = fmt.Appendf(nil, "%d %t", os.Getpid(), Worn())
			case "watch":
				high := make(chan struct{})
				stop := WatchMemory(func() { close(high) })
				n := 0
			grow:
				for {
					select {
					case <-high:
						break grow
					default:
					}
					b := make([]byte, 1<<20)
					for i := range b {
						b[i] = 1
					}
					held = append(held, b)
					n++
				}
				stop()
				line = fmt.Appendf(nil, "stopped after %d MiB", n)
			case "grow":
				for !Worn() {
					b := make([]byte, 1<<20)
					for i := range b {
						b[i] = 1
					}
					held = append(held, b)
				}
				line = fmt.Appendf(nil, "worn after %d MiB", len(held))
			}
			os.Stdout.Write(append(line, '\n'))
		}
	}
	goleak.VerifyTestMain(m)
}

// testMemoryLimit is the test workers' memory limit.
const testMemoryLimit = 256 << 20

func newPool(t *testing.T, size int) (*Pool, context.CancelFunc) {
	t.Helper()
	base, cancel := context.WithCancel(context.Background())
	p, err := New(base, Config{Name: "test worker", Size: size, Env: []string{testWorkerEnv + "=1", "GOTRACEBACK=none"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := p.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return p, cancel
}

func call(ctx context.Context, p *Pool, msg string) (string, error) {
	var reply string
	err := p.Do(ctx, func(w *Proc) error {
		if _, err := w.In.WriteString(msg + "\n"); err != nil {
			return err
		}
		line, err := ReadLine(w.Out, 1<<10)
		reply = string(line)
		return err
	})
	return reply, err
}

// TestDeathAndReplacement: a worker that dies fails its call with a
// Failure describing its end; the pool replaces it and goes on.
func TestDeathAndReplacement(t *testing.T) {
	p, _ := newPool(t, 1)
	if got, err := call(context.Background(), p, "hello"); err != nil || got != "hello" {
		t.Fatalf("echo: %q, %v", got, err)
	}
	_, err := call(context.Background(), p, "crash")
	var f *Failure
	if !errors.As(err, &f) || f.Killed || !strings.Contains(f.Exit(), "stack") {
		t.Fatalf("crash: %v, want a Failure telling of the stack overflow", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if got, err := call(ctx, p, "again"); err != nil || got != "again" {
		t.Fatalf("after the crash: %q, %v", got, err)
	}
	if n := p.Starts(); n != 2 {
		t.Errorf("%d workers started, want 2", n)
	}
}

// TestKilledAtDeadline: a worker that never answers is killed when the
// call's context ends, and replaced.
func TestKilledAtDeadline(t *testing.T) {
	p, _ := newPool(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := call(ctx, p, "hang")
	var f *Failure
	if !errors.As(err, &f) || !f.Killed {
		t.Fatalf("hang: %v, want a killed Failure", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if got, err := call(ctx2, p, "next"); err != nil || got != "next" {
		t.Fatalf("after the kill: %q, %v", got, err)
	}
}

// TestStopped: calls after Stop fail with ErrStopped.
func TestStopped(t *testing.T) {
	p, cancel := newPool(t, 1)
	cancel()
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := call(context.Background(), p, "x"); !errors.Is(err, ErrStopped) {
		t.Fatalf("after Stop: %v, want ErrStopped", err)
	}
}

// TestRetire: a worker that grows past three quarters of its memory
// limit is Worn; its call still succeeds, and the exchange's ErrRetire
// has the pool replace it, so the next call meets a fresh worker.
func TestRetire(t *testing.T) {
	p, _ := newPool(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first, err := call(ctx, p, "pid")
	if err != nil || !strings.HasSuffix(first, " false") {
		t.Fatalf("a fresh worker: %q, %v; want it not worn", first, err)
	}
	var grown string
	err = p.Do(ctx, func(w *Proc) error {
		if _, err := w.In.WriteString("grow\n"); err != nil {
			return err
		}
		line, err := ReadLine(w.Out, 1<<10)
		if err != nil {
			return err
		}
		grown = string(line)
		return ErrRetire
	})
	if err != nil || !strings.HasPrefix(grown, "worn after") {
		t.Fatalf("grow: %q, %v; want a reply and a nil error", grown, err)
	}
	next, err := call(ctx, p, "pid")
	if err != nil || next == first || !strings.HasSuffix(next, " false") {
		t.Fatalf("after retiring: %q, %v; want a fresh worker (the first was %q)", next, err, first)
	}
	if n := p.Starts(); n != 2 {
		t.Errorf("%d workers started, want 2", n)
	}
}

// TestWatchMemory: a worker whose memory grows step by step hears from
// WatchMemory before the kernel refuses it memory, and answers.
func TestWatchMemory(t *testing.T) {
	p, _ := newPool(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := call(ctx, p, "watch")
	if err != nil || !strings.HasPrefix(got, "stopped after") {
		t.Fatalf("watch: %q, %v; want the worker to stop growing and answer", got, err)
	}
	if after, err := call(ctx, p, "pid"); err != nil || !strings.HasSuffix(after, " true") {
		t.Fatalf("after watching: %q, %v; want the same worker, worn", after, err)
	}
	if n := p.Starts(); n != 1 {
		t.Errorf("%d workers started, want 1: the worker died", n)
	}
}
