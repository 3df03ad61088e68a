// Package procpool keeps a pool of worker processes: the service's own
// binary started again with an environment that makes its main turn into
// a worker (code.WorkerMain, docextract.WorkerMain). A worker serves one
// call at a time over its stdin and stdout. Work that could take the
// service down (a runaway JavaScript allocation, a hostile document that
// makes a parser recurse without bound: a Go stack overflow is fatal, not
// recoverable) ends only its worker: the call fails with a *Failure and
// the pool starts a replacement.
package procpool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flowrun/flowrun/internal/startstop"
)

// ErrStopped is returned by calls made while or after the pool stops
// (or before it starts).
var ErrStopped = errors.New("worker pool stopped")

// ReadyLine is what a worker writes, with a newline, when it is ready.
const ReadyLine = `{"ready":true}`

// Config configures a Pool.
type Config struct {
	// Name names the workers in errors ("JavaScript worker").
	Name string
	// Env is a worker's whole environment: it marks the process as a
	// worker and carries its configuration.
	Env []string
	// Size is the number of workers.
	Size int
	// Hint ends the error of a worker that did not start.
	Hint string
}

// Pool is a pool of worker processes.
type Pool struct {
	cfg    Config
	exe    string
	base   context.Context
	idle   chan *Proc
	starts atomic.Int64
	// life counts the calls in flight and the replacements being
	// started: Stop waits for them.
	life startstop.Base

	mu   sync.Mutex
	busy int
}

// New returns a pool of cfg.Size workers, not started. Cancelling base
// kills the workers of the calls in flight, as Stop does; Stop must still
// be called.
func New(base context.Context, cfg Config) (*Pool, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this binary for the %ss: %w", cfg.Name, err)
	}
	p := &Pool{cfg: cfg, exe: exe, base: base, idle: make(chan *Proc, cfg.Size)}
	p.life.Name = cfg.Name + " pool"
	return p, nil
}

// Start starts the workers; it fails if one cannot start (ctx bounds the
// start-up). Starting twice is an error.
func (p *Pool) Start(ctx context.Context) error {
	return p.life.Start(p.base, func(context.Context) error {
		for range p.cfg.Size {
			w, err := p.spawn(ctx)
			if err != nil {
				p.killIdle()
				return err
			}
			p.idle <- w
		}
		return nil
	})
}

// Stop kills the workers of the calls in flight, waits for the calls and
// the replacements under way to end, then kills the idle workers, all at
// most until ctx is done. Calls made meanwhile or later fail with
// ErrStopped. Stopping twice, or a pool never started, is a no-op.
func (p *Pool) Stop(ctx context.Context) error {
	return p.life.StopThen(ctx, func(context.Context) error {
		p.killIdle()
		return nil
	})
}

// killIdle kills the idle workers and waits for them to exit (a second at
// most: exec.Cmd.WaitDelay).
func (p *Pool) killIdle() {
	for {
		select {
		case w := <-p.idle:
			w.kill()
			<-w.exited
		default:
			return
		}
	}
}

// Starts reports how many workers have started, replacements included.
func (p *Pool) Starts() int64 { return p.starts.Load() }

// Active reports calls in flight, those waiting for a worker included.
func (p *Pool) Active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.busy
}

// Failure is a call whose worker failed, died or was killed. The worker
// has been replaced.
type Failure struct {
	// Err is the exchange's error (nil when the worker was killed first).
	Err error
	// Killed is set when ctx ended or the pool stopped during the call.
	Killed bool
	proc   *Proc
}

func (f *Failure) Error() string {
	if f.Err != nil {
		return fmt.Sprintf("%s: %v", f.proc.describeExit(), f.Err)
	}
	return f.proc.describeExit()
}

func (f *Failure) Unwrap() error { return f.Err }

// Exit explains how the worker ended ("the worker killed by signal
// killed: fatal error: …").
func (f *Failure) Exit() string { return f.proc.describeExit() }

// OutOfMemory reports whether the worker ran out of memory.
func (f *Failure) OutOfMemory() bool {
	// What the worker wrote is all in only once it has exited.
	f.proc.awaitExit()
	s := f.proc.stderr.String()
	// The last form is the race detector's (test binaries).
	return strings.Contains(s, "out of memory") || strings.Contains(s, "cannot allocate memory") ||
		strings.Contains(s, "failed to allocate")
}

// Do runs exchange with an idle worker, waiting for one while ctx
// allows. The worker is killed when ctx ends or the pool stops during the
// call. A worker whose exchange returned ErrRetire is replaced and Do
// returns nil. A worker whose exchange failed or that was killed is
// replaced, and Do returns a *Failure; it returns ErrStopped when the
// pool stopped and ctx's cause when ctx ended before a worker was free.
func (p *Pool) Do(ctx context.Context, exchange func(*Proc) error) error {
	run, err := p.life.Enter()
	if err != nil {
		return ErrStopped
	}
	defer p.life.Leave()
	w, err := p.acquire(ctx, run)
	if err != nil {
		return err
	}
	defer p.setBusy(-1)
	stop := context.AfterFunc(ctx, w.kill)
	stopRun := context.AfterFunc(run, w.kill)
	err = exchange(w)
	notKilled := stop()
	notKilled = stopRun() && notKilled
	switch {
	case err == nil && notKilled:
		p.idle <- w
		return nil
	case errors.Is(err, ErrRetire) && notKilled:
		p.replace(w)
		return nil
	}
	p.replace(w)
	if run.Err() != nil {
		return ErrStopped
	}
	return &Failure{Err: err, Killed: !notKilled, proc: w}
}

// acquire waits for an idle worker while ctx and run, the pool's
// context, allow.
func (p *Pool) acquire(ctx, run context.Context) (*Proc, error) {
	p.setBusy(1)
	select {
	case w := <-p.idle:
		return w, nil
	case <-ctx.Done():
		p.setBusy(-1)
		return nil, context.Cause(ctx)
	case <-run.Done():
		p.setBusy(-1)
		return nil, ErrStopped
	}
}

func (p *Pool) setBusy(delta int) {
	p.mu.Lock()
	p.busy += delta
	p.mu.Unlock()
}

// replace kills w and starts a worker in its place in the background
// (not once the pool stops).
func (p *Pool) replace(w *Proc) {
	w.kill()
	started := p.life.Go(func(run context.Context) {
		<-w.exited
		Retry(run, func() error {
			nw, err := p.spawn(run)
			if err != nil {
				return err
			}
			if run.Err() != nil {
				nw.kill()
				<-nw.exited
				return nil
			}
			p.idle <- nw
			return nil
		})
	})
	if !started {
		<-w.exited
	}
}

// Proc is a running worker: write a request to In, read the reply from
// Out.
type Proc struct {
	In     *os.File
	Out    *bufio.Reader
	cmd    *exec.Cmd
	outF   *os.File
	stderr *Capture
	exited chan struct{}
	name   string
}

// spawn starts a worker and waits for its ready line.
func (p *Pool) spawn(ctx context.Context) (*Proc, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	// -test.run keeps a test binary that forgot its WorkerMain from
	// running its tests again; the service's binary ignores it.
	cmd := exec.Command(p.exe, "-test.run=^$")
	cmd.Env = p.cfg.Env
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout = inR, outW
	head := &Capture{Max: 4 << 10}
	cmd.Stderr = head
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start %s: %w", p.cfg.Name, err)
	}
	w := &Proc{cmd: cmd, In: inW, outF: outR, Out: bufio.NewReaderSize(outR, 64<<10), stderr: head,
		exited: make(chan struct{}), name: p.cfg.Name}
	go func() {
		_ = cmd.Wait()
		close(w.exited)
	}()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, w.kill)
	line, err := ReadLine(w.Out, 1<<10)
	stop()
	if err != nil || string(line) != ReadyLine {
		w.kill()
		<-w.exited
		return nil, fmt.Errorf("%s did not start%s: %s", p.cfg.Name, p.cfg.Hint, w.describeExit())
	}
	p.starts.Add(1)
	return w, nil
}

func (w *Proc) kill() {
	if w.cmd.Process != nil {
		_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		_ = w.cmd.Process.Kill()
	}
	_ = w.In.Close()
	_ = w.outF.Close()
}

// awaitExit waits, two seconds at most, for the worker to exit and
// reports whether it did.
func (w *Proc) awaitExit() bool {
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-w.exited:
		return true
	case <-t.C:
		return false
	}
}

// describeExit explains why a worker died.
func (w *Proc) describeExit() string {
	if !w.awaitExit() {
		return "the " + w.name + " did not exit"
	}
	s := "the " + w.name + " exited"
	if ps := w.cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
			s = "the " + w.name + " " + DescribeStatus(ws)
		}
	}
	if t := w.stderr.String(); t != "" {
		t, _, _ = strings.Cut(t, "\n")
		s += ": " + t
	}
	return s
}
