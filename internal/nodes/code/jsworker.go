package code

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dop251/goja"

	"github.com/flowrun/flowrun/internal/run"
)

// JavaScript runs in worker processes: the service's own binary started
// again with workerEnvVar set, which WorkerMain turns into a worker. A
// worker runs one call at a time under RLIMIT_AS, so an allocation that
// would take down the service (new ArrayBuffer(2**40), a runaway array)
// ends only that worker: the call fails with ErrMemoryLimit and the pool
// starts a replacement. Each call gets a fresh runtime.

// workerEnvVar marks a process started as a code worker.
const workerEnvVar = "FLOWRUN_CODE_WORKER"

// jsWorkerConfig is what a worker needs; it travels in its environment.
type jsWorkerConfig struct {
	Timeout     time.Duration `json:"timeout"`
	MaxResult   int           `json:"max_result"`
	MaxString   int           `json:"max_string"`
	MaxStack    int           `json:"max_stack"`
	MemoryLimit int64         `json:"memory_limit"`
}

// WorkerMain turns this process into a code worker when the Runner
// started it as one, and never returns then; otherwise it returns at
// once. Call it first thing in main, and in TestMain of every package
// whose tests start a Runner: JavaScript workers are this binary.
func WorkerMain() {
	if os.Getenv(workerEnvVar) != "javascript" {
		return
	}
	var cfg jsWorkerConfig
	if err := json.Unmarshal([]byte(os.Getenv(workerEnvVar+"_CONFIG")), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "flowrun code worker: bad configuration:", err)
		os.Exit(2)
	}
	if err := confineJSWorker(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "flowrun code worker:", err)
		os.Exit(2)
	}
	os.Exit(serveJS(cfg, os.Stdin, os.Stdout))
}

type jsRequest struct {
	Code   string          `json:"code"`
	Inputs json.RawMessage `json:"inputs"`
}

type jsReply struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
	Kind   string          `json:"kind,omitempty"` // "timeout", "too_large"
}

// serveJS answers requests, one line each way, until in closes.
func serveJS(cfg jsWorkerConfig, in io.Reader, out io.Writer) int {
	progs := newProgramCache(256)
	r := bufio.NewReaderSize(in, 64<<10)
	w := bufio.NewWriterSize(out, 64<<10)
	enc := json.NewEncoder(w)
	if _, err := w.WriteString("{\"ready\":true}\n"); err != nil || w.Flush() != nil {
		return 1
	}
	// The next call's runtime is built while the worker waits for it.
	next, _ := newJSVM(cfg.MaxString, cfg.MaxStack)
	for {
		line, err := readLine(r, 1<<30)
		if err != nil {
			return 0
		}
		var req jsRequest
		var rep jsReply
		if err := json.Unmarshal(line, &req); err != nil {
			rep.Error = "invalid request: " + err.Error()
		} else {
			rep = runJS(cfg, progs, next, req)
		}
		if enc.Encode(rep) != nil || w.Flush() != nil {
			return 1
		}
		next, _ = newJSVM(cfg.MaxString, cfg.MaxStack)
	}
}

// runJS runs one call in vm, a fresh runtime (nil: build one),
// interrupted at cfg.Timeout.
func runJS(cfg jsWorkerConfig, progs *programCache, vm *jsVM, req jsRequest) jsReply {
	prog, err := progs.get(req.Code)
	if err != nil {
		return jsReply{Error: err.Error()}
	}
	if vm == nil {
		if vm, err = newJSVM(cfg.MaxString, cfg.MaxStack); err != nil {
			return jsReply{Error: err.Error()}
		}
	}
	var timedOut atomic.Bool
	t := time.AfterFunc(cfg.Timeout, func() {
		timedOut.Store(true)
		vm.rt.Interrupt(ErrTimeout)
	})
	inputs := string(req.Inputs)
	if inputs == "" || inputs == "null" {
		inputs = "{}"
	}
	out, callErr, _ := vm.call(prog, inputs)
	t.Stop()
	switch {
	case timedOut.Load():
		return jsReply{Error: "timeout", Kind: "timeout"}
	case callErr != nil:
		return jsReply{Error: callErr.Error()}
	case len(out) > cfg.MaxResult:
		return jsReply{Error: fmt.Sprintf("%d bytes, limit %d", len(out), cfg.MaxResult), Kind: "too_large"}
	}
	return jsReply{Result: json.RawMessage(out)}
}

// jsProc is a running worker process.
type jsProc struct {
	cmd    *exec.Cmd
	in     *os.File
	outF   *os.File
	out    *bufio.Reader
	stderr *headBuffer
	exited chan struct{}
}

// headBuffer keeps the first max bytes written to it: a Go worker's fatal
// error comes first, its long goroutine dump after.
type headBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (h *headBuffer) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := h.max - len(h.b); n > 0 {
		h.b = append(h.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

func (h *headBuffer) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.TrimSpace(string(h.b))
}

// jsRunner keeps a pool of worker processes.
type jsRunner struct {
	cfg    Config
	exe    string
	env    []string
	base   context.Context
	idle   chan *jsProc
	starts atomic.Int64

	mu     sync.Mutex
	closed bool
	busy   int
	wg     sync.WaitGroup
}

func newJSRunner(cfg Config, base context.Context) (*jsRunner, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this binary for JavaScript workers: %w", err)
	}
	wc, err := json.Marshal(jsWorkerConfig{Timeout: cfg.Timeout, MaxResult: cfg.MaxResultBytes,
		MaxString: cfg.JSMaxStringLength, MaxStack: cfg.JSMaxCallStackSize, MemoryLimit: cfg.JSMemoryLimit})
	if err != nil {
		return nil, err
	}
	return &jsRunner{
		cfg:  cfg,
		exe:  exe,
		env:  []string{workerEnvVar + "=javascript", workerEnvVar + "_CONFIG=" + string(wc), "GOMAXPROCS=1", "GOTRACEBACK=none"},
		base: base,
		idle: make(chan *jsProc, cfg.JSPoolSize),
	}, nil
}

// start starts the pool's workers; it fails if one cannot start.
func (j *jsRunner) start(ctx context.Context) error {
	for range j.cfg.JSPoolSize {
		p, err := j.spawn(ctx)
		if err != nil {
			j.stop()
			return err
		}
		j.idle <- p
	}
	return nil
}

// stop kills every worker and waits for calls and replacements to end
// (base is cancelled by the Runner first, so calls kill their workers).
func (j *jsRunner) stop() {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	j.wg.Wait()
	for {
		select {
		case p := <-j.idle:
			p.kill()
			<-p.exited
		default:
			return
		}
	}
}

// spawn starts a worker and waits for its ready line.
func (j *jsRunner) spawn(ctx context.Context) (*jsProc, error) {
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
	// -test.run keeps a test binary that forgot WorkerMain from running
	// its tests again; the service's binary ignores it.
	cmd := exec.Command(j.exe, "-test.run=^$")
	cmd.Env = j.env
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout = inR, outW
	tail := &headBuffer{max: 4 << 10}
	cmd.Stderr = tail
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start JavaScript worker: %w", err)
	}
	p := &jsProc{cmd: cmd, in: inW, outF: outR, out: bufio.NewReaderSize(outR, 64<<10), stderr: tail, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, p.kill)
	line, err := readLine(p.out, 1<<10)
	stop()
	if err != nil || string(line) != `{"ready":true}` {
		p.kill()
		<-p.exited
		return nil, fmt.Errorf("JavaScript worker did not start (does main call code.WorkerMain first?): %s", p.describeExit())
	}
	j.starts.Add(1)
	return p, nil
}

func (p *jsProc) kill() {
	if p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		_ = p.cmd.Process.Kill()
	}
	_ = p.in.Close()
	_ = p.outF.Close()
}

// describeExit explains why a worker died.
func (p *jsProc) describeExit() string {
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		return "the worker did not exit"
	}
	s := "the worker exited"
	if ps := p.cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
			s = "the worker " + describeStatus(ws)
		}
	}
	if t := p.stderr.String(); t != "" {
		s += ": " + firstLine(t)
	}
	return s
}

// outOfMemory reports whether a dead worker ran out of memory.
func (p *jsProc) outOfMemory() bool {
	s := p.stderr.String()
	// The last form is the race detector's (test binaries).
	return strings.Contains(s, "out of memory") || strings.Contains(s, "cannot allocate memory") ||
		strings.Contains(s, "failed to allocate")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// replace kills p and starts a worker in its place in the background.
func (j *jsRunner) replace(p *jsProc) {
	p.kill()
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		<-p.exited
		return
	}
	j.wg.Add(1)
	j.mu.Unlock()
	go func() {
		defer j.wg.Done()
		<-p.exited
		backoff := 100 * time.Millisecond
		for j.base.Err() == nil {
			np, err := j.spawn(j.base)
			if err == nil {
				if j.base.Err() != nil {
					np.kill()
					<-np.exited
					return
				}
				j.idle <- np
				return
			}
			t := time.NewTimer(backoff)
			select {
			case <-j.base.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}()
}

func (j *jsRunner) acquire(ctx context.Context) (*jsProc, error) {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil, ErrStopped
	}
	j.wg.Add(1)
	j.busy++
	j.mu.Unlock()
	select {
	case p := <-j.idle:
		return p, nil
	case <-ctx.Done():
		j.done()
		return nil, context.Cause(ctx)
	case <-j.base.Done():
		j.done()
		return nil, ErrStopped
	}
}

func (j *jsRunner) done() {
	j.mu.Lock()
	j.busy--
	j.mu.Unlock()
	j.wg.Done()
}

// activeCount reports calls in flight (waiting for a worker included).
func (j *jsRunner) activeCount() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.busy
}

// run executes code in a worker and returns main's result as JSON.
func (j *jsRunner) run(ctx context.Context, code string, inputs map[string]any) ([]byte, error) {
	if _, err := compileJSCached(code); err != nil {
		return nil, err
	}
	in, err := json.Marshal(inputs)
	if err != nil {
		return nil, execError("cannot pass inputs to code: %v", err)
	}
	req, err := json.Marshal(jsRequest{Code: code, Inputs: in})
	if err != nil {
		return nil, execError("cannot pass inputs to code: %v", err)
	}
	req = append(req, '\n')
	p, err := j.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer j.done()
	// The worker interrupts the script at Timeout; the kill a second
	// later covers a native call that never looks at interrupts.
	hard, cancel := context.WithTimeoutCause(ctx, j.cfg.Timeout+time.Second, ErrTimeout)
	defer cancel()
	stop := context.AfterFunc(hard, p.kill)
	stopBase := context.AfterFunc(j.base, p.kill)
	var line []byte
	_, ioErr := p.in.Write(req)
	if ioErr == nil {
		line, ioErr = readLine(p.out, j.cfg.MaxResultBytes+(64<<10))
	}
	notKilled := stop()
	notKilled = stopBase() && notKilled
	if ioErr != nil || !notKilled {
		j.replace(p)
		switch {
		case j.base.Err() != nil:
			return nil, ErrStopped
		case hard.Err() != nil:
			if cause := context.Cause(hard); !errors.Is(cause, ErrTimeout) {
				return nil, cause
			}
			return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w after %s (the JavaScript worker was killed)", ErrTimeout, j.cfg.Timeout)}
		case errors.Is(ioErr, errLineTooLong):
			return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w: limit %d bytes", ErrResultTooLarge, j.cfg.MaxResultBytes)}
		case p.outOfMemory():
			return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w: JavaScript used more than %d bytes", ErrMemoryLimit, j.cfg.JSMemoryLimit)}
		}
		return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w: %s", ErrWorkerDied, p.describeExit())}
	}
	var rep jsReply
	if err := json.Unmarshal(line, &rep); err != nil {
		j.replace(p)
		return nil, execError("invalid reply from the JavaScript worker: %v", err)
	}
	j.idle <- p
	switch rep.Kind {
	case "timeout":
		return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w after %s", ErrTimeout, j.cfg.Timeout)}
	case "too_large":
		return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w: %s", ErrResultTooLarge, rep.Error)}
	}
	if rep.Error != "" {
		return nil, execError("%s", rep.Error)
	}
	return rep.Result, nil
}

// apiPrograms caches compilation on the service's side, so that a syntax
// error is reported without a round trip and a worker sees only code
// that compiles.
var apiPrograms = newProgramCache(256)

func compileJSCached(code string) (*goja.Program, error) { return apiPrograms.get(code) }

// limitWorkerMemory applies the worker's memory limit and tells
// the Go runtime about it, so the collector works hard before the kernel
// refuses memory.
func limitWorkerMemory(limit int64) error {
	if limit <= 0 {
		return nil
	}
	limit *= raceFactor
	debug.SetMemoryLimit(limit / 2)
	// RLIMIT_DATA, not RLIMIT_AS: the Go runtime reserves over a gigabyte
	// of address space it never touches, while RLIMIT_DATA counts the
	// private writable memory it really maps (Linux 4.7 and later).
	return syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: uint64(limit), Max: uint64(limit)})
}
