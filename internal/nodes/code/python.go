package code

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flowrun/flowrun/internal/procpool"
	"github.com/flowrun/flowrun/internal/run"
)

//go:embed zygote.py
var zygoteScript string

// workerEnv is the whole environment of the zygote and its children:
// nothing of the service's own environment (API keys, database URLs) is
// passed on.
var workerEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"LANG=C.UTF-8",
	"LC_ALL=C.UTF-8",
	"HOME=/nonexistent",
}

// pyRunner runs Python code in single-use child processes forked by a
// zygote (zygote.py). It keeps Config.PythonWorkers children forked ahead
// of demand, so a call pays for a fork only off its own path, and runs at
// most Config.PythonWorkers calls at once.
type pyRunner struct {
	cfg     Config
	dial    DialFunc // nil: no network
	bin     string
	zcfg    []byte // the zygote's configuration (JSON)
	root    bool
	netns   atomic.Bool // try CLONE_NEWNET; cleared when the kernel refuses
	drop    atomic.Bool // run as PythonUID/GID; cleared when that uid cannot run the binary
	base    context.Context
	slots   chan struct{}
	warm    chan *pyChild
	starts  atomic.Int64 // zygotes started
	forks   atomic.Int64 // children received
	landlck atomic.Int32 // Landlock ABI the zygote confined itself with
	// disabled explains why Python code cannot run (confinement is not
	// available and Config.PythonUnconfined is off); empty when it can.
	disabled string

	mu     sync.Mutex
	z      *zygote // nil while a dead one is replaced
	owed   int     // forks asked for while z is nil
	closed bool
	wg     sync.WaitGroup // calls in flight and restart goroutines
}

func newPyRunner(cfg Config, base context.Context) (*pyRunner, error) {
	bin, err := resolvePython(cfg.PythonBinary)
	if err != nil {
		return nil, err
	}
	zc := map[string]any{
		"network":       cfg.PythonAllowNetwork,
		"max_result":    cfg.MaxResultBytes,
		"confine":       !cfg.PythonUnconfined,
		"filter_zygote": base64.StdEncoding.EncodeToString(filterZygote()),
		"filter_child":  base64.StdEncoding.EncodeToString(filterChild()),
		"preload":       cfg.PythonPreload,
		"protect":       cfg.ProtectedPaths,
		"read_paths":    cfg.PythonReadPaths,
		"nproc":         cfg.PythonMaxThreads,
	}
	if cfg.PythonMemoryLimit > 0 {
		zc["memory"] = cfg.PythonMemoryLimit
	}
	if cfg.PythonCPULimit > 0 {
		zc["cpu"] = int64(math.Ceil(cfg.PythonCPULimit.Seconds()))
	}
	js, err := json.Marshal(zc)
	if err != nil {
		return nil, err
	}
	p := &pyRunner{
		cfg:   cfg,
		dial:  cfg.PythonDial,
		bin:   bin,
		zcfg:  js,
		root:  os.Geteuid() == 0,
		base:  base,
		slots: make(chan struct{}, cfg.PythonWorkers),
		warm:  make(chan *pyChild, cfg.PythonWorkers),
	}
	if cfg.PythonAllowNetwork && p.dial == nil {
		p.dial = (&net.Dialer{}).DialContext
	}
	if !cfg.PythonAllowNetwork {
		p.dial = nil
	}
	p.netns.Store(p.root && !cfg.PythonDisableNetNS)
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

// start starts the zygote and waits for its first child. When the kernel
// cannot confine Python code and Config.PythonUnconfined is off, start
// succeeds but every call fails with ErrIsolationUnavailable.
func (p *pyRunner) start(ctx context.Context) error {
	z, err := p.spawn(ctx)
	if errors.Is(err, ErrIsolationUnavailable) {
		p.disabled = err.Error()
		return nil
	}
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.z = z
	p.mu.Unlock()
	z.fork(cap(p.warm))
	t := time.NewTimer(p.cfg.PythonStartTimeout)
	defer t.Stop()
	select {
	case c := <-p.warm:
		p.warm <- c
		return nil
	case msg := <-z.childErr:
		p.stop()
		return fmt.Errorf("%w: a Python child could not set itself up: %s", ErrPythonUnavailable, msg)
	case <-z.exited:
		p.stop()
		return fmt.Errorf("%w: the zygote exited: %s", ErrPythonUnavailable, z.describeExit())
	case <-t.C:
		p.stop()
		return fmt.Errorf("%w: no Python child was ready within %s", ErrPythonUnavailable, p.cfg.PythonStartTimeout)
	case <-ctx.Done():
		p.stop()
		return ctx.Err()
	}
}

// stop ends the zygote and every child, and waits for calls and restarts
// to end. base is cancelled by the Runner first, so calls in flight kill
// their children and return.
func (p *pyRunner) stop() {
	p.mu.Lock()
	p.closed = true
	z := p.z
	p.mu.Unlock()
	p.wg.Wait()
	if z != nil {
		z.kill()
		<-z.exited
		<-z.reader
	}
	for {
		select {
		case c := <-p.warm:
			c.kill()
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

// spawn starts a zygote and waits for its ready message.
func (p *pyRunner) spawn(ctx context.Context) (*zygote, error) {
	z, err := p.startZygote(p.netns.Load(), p.drop.Load())
	if err != nil && p.netns.Load() && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL)) {
		// No CAP_SYS_ADMIN (e.g. an unprivileged container): seccomp and
		// Landlock still keep code off the network.
		p.netns.Store(false)
		z, err = p.startZygote(false, p.drop.Load())
	}
	if err != nil && p.drop.Load() && errors.Is(err, syscall.EACCES) {
		// The unprivileged uid cannot reach the interpreter (e.g. a
		// pyenv install under /root): run it as root, still confined.
		p.drop.Store(false)
		z, err = p.startZygote(p.netns.Load(), false)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: start %s: %v", ErrPythonUnavailable, p.bin, err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.PythonStartTimeout)
	defer cancel()
	select {
	case r := <-z.ready:
		if r.Error != "" {
			z.kill()
			<-z.exited
			return nil, fmt.Errorf("%w: %s", ErrIsolationUnavailable, r.Error)
		}
		p.landlck.Store(int32(r.Landlock))
	case <-z.exited:
		return nil, fmt.Errorf("%w: the zygote did not start: %s", ErrPythonUnavailable, z.describeExit())
	case <-ctx.Done():
		z.kill()
		<-z.exited
		return nil, fmt.Errorf("%w: the zygote did not start within %s", ErrPythonUnavailable, p.cfg.PythonStartTimeout)
	}
	p.starts.Add(1)
	go p.watch(z)
	return z, nil
}

// watch restarts the zygote when it dies while the pool is open, and asks
// the new one for the children the old one still owed.
func (p *pyRunner) watch(z *zygote) {
	<-z.exited
	<-z.reader
	p.mu.Lock()
	if p.closed || p.base.Err() != nil {
		p.mu.Unlock()
		return
	}
	// From now on calls that end count the forks they would ask for in
	// owed; the old zygote's undelivered forks are owed too.
	if p.z == z {
		p.z = nil
	}
	p.owed += int(z.pending.Load())
	p.wg.Add(1)
	p.mu.Unlock()
	defer p.wg.Done()
	procpool.Retry(p.base, func() error {
		nz, err := p.spawn(p.base)
		if err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			nz.kill()
			return nil
		}
		p.z = nz
		nz.fork(p.owed)
		p.owed = 0
		return nil
	})
}

// acquire takes a call slot and a warm child.
func (p *pyRunner) acquire(ctx context.Context) (*pyChild, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrStopped
	}
	p.wg.Add(1)
	p.mu.Unlock()
	fail := func(err error) (*pyChild, error) {
		p.wg.Done()
		return nil, err
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return fail(context.Cause(ctx))
	case <-p.base.Done():
		return fail(ErrStopped)
	}
	select {
	case c := <-p.warm:
		return c, nil
	case <-ctx.Done():
		<-p.slots
		return fail(context.Cause(ctx))
	case <-p.base.Done():
		<-p.slots
		return fail(ErrStopped)
	}
}

// release ends a call and asks for a child in place of the one it used.
// The fork is asked for only now, so that it does not compete with the
// call for the CPU.
func (p *pyRunner) release() {
	p.mu.Lock()
	if p.z != nil {
		p.z.fork(1)
	} else {
		p.owed++ // the zygote is being replaced
	}
	p.mu.Unlock()
	<-p.slots
	p.wg.Done()
}

type pyRequest struct {
	Code   string         `json:"code"`
	Inputs map[string]any `json:"inputs"`
}

type pyReply struct {
	Result   json.RawMessage `json:"result"`
	Error    *string         `json:"error"`
	TooLarge bool            `json:"too_large"`
}

// run executes code in a fresh child and returns main's result as JSON.
func (p *pyRunner) run(ctx context.Context, code string, inputs map[string]any) ([]byte, error) {
	if p.disabled != "" {
		return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("Python code cannot run here: %s", p.disabled)}
	}
	if inputs == nil {
		inputs = map[string]any{}
	}
	req, err := json.Marshal(pyRequest{Code: code, Inputs: inputs})
	if err != nil {
		return nil, execError("cannot pass inputs to code: %v", err)
	}
	req = append(req, '\n')
	c, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer p.release()
	ctx, cancel := context.WithTimeoutCause(ctx, p.cfg.Timeout, ErrTimeout)
	defer cancel()
	killed := atomic.Bool{}
	kill := func() { killed.Store(true); c.kill() }
	stop := context.AfterFunc(ctx, kill)
	stopBase := context.AfterFunc(p.base, kill)

	line, ioErr := c.call(ctx, req, p.cfg.MaxResultBytes+(64<<10), p.dial, p.cfg.PythonMaxConnections)

	stop()
	stopBase()
	// Whatever the outcome, nothing the call started may outlive it.
	c.kill()
	if ioErr != nil {
		switch {
		case p.base.Err() != nil:
			return nil, ErrStopped
		case killed.Load() && ctx.Err() != nil:
			if cause := context.Cause(ctx); !errors.Is(cause, ErrTimeout) {
				return nil, cause
			}
			return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w after %s (the Python process was killed)", ErrTimeout, p.cfg.Timeout)}
		case errors.Is(ioErr, procpool.ErrLineTooLong):
			return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w: limit %d bytes", ErrResultTooLarge, p.cfg.MaxResultBytes)}
		}
		return nil, &run.NodeError{Type: TypeExecution, Err: fmt.Errorf("%w: %s", ErrWorkerDied, c.describeExit())}
	}
	var reply pyReply
	if err := json.Unmarshal(line, &reply); err != nil {
		return nil, execError("invalid reply from the Python process: %v", err)
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
