package code

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flowrun/flowrun/internal/run"
)

//go:embed worker.py
var workerScript string

// workerEnv is the whole environment of a worker: nothing of the service's
// own environment (API keys, database URLs) is passed on.
var workerEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"LANG=C.UTF-8",
	"LC_ALL=C.UTF-8",
	"HOME=/tmp",
	"TMPDIR=/tmp",
}

// pyRunner keeps a pool of pre-started CPython worker processes.
type pyRunner struct {
	cfg    Config
	bin    string
	args   []string
	root   bool
	netns  atomic.Bool // try CLONE_NEWNET; cleared when the kernel refuses
	drop   atomic.Bool // run as PythonUID/GID; cleared when that uid cannot run the binary
	base   context.Context
	idle   chan *pyWorker
	starts atomic.Int64 // workers started, for tests and metrics

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // calls in flight and replacement goroutines
}

type pyWorker struct {
	cmd    *exec.Cmd
	in     *os.File
	outF   *os.File
	out    *bufio.Reader
	stderr *tailBuffer
	exited chan struct{}
	calls  int
}

type pyReply struct {
	Recycle  bool            `json:"recycle"`
	Result   json.RawMessage `json:"result"`
	Error    *string         `json:"error"`
	TooLarge bool            `json:"too_large"`
}

func newPyRunner(cfg Config, base context.Context) (*pyRunner, error) {
	bin, err := resolvePython(cfg.PythonBinary)
	if err != nil {
		return nil, err
	}
	wcfg := map[string]any{
		"network":    cfg.PythonAllowNetwork,
		"max_result": cfg.MaxResultBytes,
	}
	if cfg.PythonMemoryLimit > 0 {
		wcfg["memory"] = cfg.PythonMemoryLimit
	}
	if cfg.PythonCPULimit > 0 {
		wcfg["cpu"] = int64(math.Ceil(cfg.PythonCPULimit.Seconds()))
	}
	js, _ := json.Marshal(wcfg)
	p := &pyRunner{
		cfg:  cfg,
		bin:  bin,
		args: []string{"-I", "-B", "-c", workerScript, string(js)},
		root: os.Geteuid() == 0,
		base: base,
		idle: make(chan *pyWorker, cfg.PythonWorkers),
	}
	p.netns.Store(p.root && !cfg.PythonAllowNetwork && !cfg.PythonDisableNetNS)
	p.drop.Store(p.root && cfg.PythonUID >= 0 && cfg.PythonGID >= 0)
	return p, nil
}

// resolvePython finds the interpreter binary itself: version-manager shims
// (pyenv's are shell scripts) need environment variables that workers do
// not get, and cost a shell start per worker.
func resolvePython(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v (install python3 or set Config.PythonBinary)", ErrPythonUnavailable, name, err)
	}
	out, err := exec.Command(path, "-I", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrPythonUnavailable, path, err)
	}
	if exe := strings.TrimSpace(string(out)); exe != "" {
		return exe, nil
	}
	return path, nil
}

// start starts the pool's workers; it fails if one cannot start.
func (p *pyRunner) start(ctx context.Context) error {
	for range p.cfg.PythonWorkers {
		w, err := p.spawn(ctx)
		if err != nil {
			p.stop()
			return err
		}
		p.idle <- w
	}
	return nil
}

// stop kills every worker and waits for calls and replacements to end.
func (p *pyRunner) stop() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	// base is cancelled by the Runner before stop is called: in-flight
	// calls kill their workers and return.
	p.wg.Wait()
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

func (p *pyRunner) sysProcAttr(netns, drop bool) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if p.root {
		if drop {
			attr.Credential = &syscall.Credential{Uid: uint32(p.cfg.PythonUID), Gid: uint32(p.cfg.PythonGID), Groups: []uint32{}}
		}
		if netns {
			attr.Cloneflags = syscall.CLONE_NEWNET
		}
	}
	return attr
}

// spawn starts one worker and waits for its ready line.
func (p *pyRunner) spawn(ctx context.Context) (*pyWorker, error) {
	w, err := p.startProcess(p.netns.Load(), p.drop.Load())
	if err != nil && p.netns.Load() && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL)) {
		// No CAP_SYS_ADMIN (e.g. an unprivileged container): fall back to
		// the in-process socket stub.
		p.netns.Store(false)
		w, err = p.startProcess(false, p.drop.Load())
	}
	if err != nil && p.drop.Load() && errors.Is(err, syscall.EACCES) {
		// The unprivileged uid cannot reach the interpreter (e.g. a
		// pyenv install under /root): run it as root, still with a clean
		// environment and the other limits.
		p.drop.Store(false)
		w, err = p.startProcess(p.netns.Load(), false)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: start %s: %v", ErrPythonUnavailable, p.bin, err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.PythonStartTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, w.kill)
	line, err := readLine(w.out, 1<<10)
	stop()
	if err != nil || !bytes.Equal(line, []byte(`{"ready":true}`)) {
		w.kill()
		<-w.exited
		return nil, fmt.Errorf("%w: worker did not start: %s", ErrPythonUnavailable, w.describeExit())
	}
	p.starts.Add(1)
	return w, nil
}

func (p *pyRunner) startProcess(netns, drop bool) (*pyWorker, error) {
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
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = workerEnv
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout = inR, outW
	tail := &tailBuffer{max: 8 << 10}
	cmd.Stderr = tail
	cmd.SysProcAttr = p.sysProcAttr(netns, drop)
	cmd.WaitDelay = time.Second
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	w := &pyWorker{cmd: cmd, in: inW, outF: outR, out: bufio.NewReaderSize(outR, 64<<10), stderr: tail, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(w.exited)
	}()
	return w, nil
}

// kill ends the worker's process group and unblocks reads and writes on
// its pipes. It is safe to call more than once and concurrently.
func (w *pyWorker) kill() {
	if w.cmd.Process != nil {
		_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		_ = w.cmd.Process.Kill()
	}
	_ = w.in.Close()
	_ = w.outF.Close()
}

// describeExit explains why a worker died; call it after exited is closed.
func (w *pyWorker) describeExit() string {
	select {
	case <-w.exited:
	case <-time.After(2 * time.Second):
		return "worker did not exit"
	}
	var b strings.Builder
	if ps := w.cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			switch ws.Signal() {
			case syscall.SIGXCPU:
				b.WriteString("CPU time limit exceeded")
			default:
				fmt.Fprintf(&b, "worker killed by signal %s", ws.Signal())
			}
		} else {
			fmt.Fprintf(&b, "worker exited with status %d", ps.ExitCode())
		}
	}
	if s := strings.TrimSpace(w.stderr.String()); s != "" {
		b.WriteString(": ")
		b.WriteString(s)
	}
	return b.String()
}

func (p *pyRunner) acquire(ctx context.Context) (*pyWorker, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrStopped
	}
	p.wg.Add(1)
	p.mu.Unlock()
	select {
	case w := <-p.idle:
		return w, nil
	case <-ctx.Done():
		p.wg.Done()
		return nil, context.Cause(ctx)
	case <-p.base.Done():
		p.wg.Done()
		return nil, ErrStopped
	}
}

// replace kills w and starts a worker in its place in the background.
func (p *pyRunner) replace(w *pyWorker) {
	w.kill()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-w.exited
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		<-w.exited
		backoff := 100 * time.Millisecond
		for p.base.Err() == nil {
			nw, err := p.spawn(p.base)
			if err == nil {
				if p.base.Err() != nil {
					nw.kill()
					<-nw.exited
					return
				}
				p.idle <- nw
				return
			}
			t := time.NewTimer(backoff)
			select {
			case <-p.base.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}()
}

type pyRequest struct {
	Code   string         `json:"code"`
	Inputs map[string]any `json:"inputs"`
}

// run executes code in a worker and returns main's result as JSON.
func (p *pyRunner) run(ctx context.Context, code string, inputs map[string]any) ([]byte, error) {
	if inputs == nil {
		inputs = map[string]any{}
	}
	req, err := json.Marshal(pyRequest{Code: code, Inputs: inputs})
	if err != nil {
		return nil, execError("cannot pass inputs to code: %v", err)
	}
	req = append(req, '\n')
	w, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer p.wg.Done()
	ctx, cancel := context.WithTimeoutCause(ctx, p.cfg.Timeout, ErrTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, w.kill)
	stopBase := context.AfterFunc(p.base, w.kill)

	line, ioErr := w.roundTrip(req, p.cfg.MaxResultBytes+(64<<10))

	notKilled := stop()
	notKilled = stopBase() && notKilled
	if ioErr != nil || !notKilled {
		p.replace(w)
		switch {
		case p.base.Err() != nil:
			return nil, ErrStopped
		case ctx.Err() != nil:
			if cause := context.Cause(ctx); !errors.Is(cause, ErrTimeout) {
				return nil, cause
			}
			return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w after %s (the Python worker was killed and replaced)", ErrTimeout, p.cfg.Timeout)}
		case errors.Is(ioErr, errLineTooLong):
			return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w: limit %d bytes", ErrResultTooLarge, p.cfg.MaxResultBytes)}
		}
		return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w: %s", ErrWorkerDied, w.describeExit())}
	}
	var reply pyReply
	if err := json.Unmarshal(line, &reply); err != nil {
		p.replace(w)
		return nil, execError("invalid reply from the Python worker: %v", err)
	}
	w.calls++
	if reply.Recycle || (p.cfg.PythonMaxCalls > 0 && w.calls >= p.cfg.PythonMaxCalls) {
		p.replace(w)
	} else {
		p.idle <- w
	}
	switch {
	case reply.TooLarge:
		return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w: %s", ErrResultTooLarge, deref(reply.Error))}
	case reply.Error != nil:
		return nil, execError("%s", *reply.Error)
	}
	return reply.Result, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// roundTrip sends one request line and reads one reply line.
func (w *pyWorker) roundTrip(req []byte, max int) ([]byte, error) {
	if _, err := w.in.Write(req); err != nil {
		return nil, err
	}
	return readLine(w.out, max)
}

var errLineTooLong = errors.New("reply line too long")

// readLine reads one '\n'-terminated line of at most max bytes.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(buf)+len(chunk) > max+1 {
			return nil, errLineTooLong
		}
		if err == nil {
			if buf == nil {
				return append([]byte(nil), chunk[:len(chunk)-1]...), nil
			}
			buf = append(buf, chunk...)
			return buf[:len(buf)-1], nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		buf = append(buf, chunk...)
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
