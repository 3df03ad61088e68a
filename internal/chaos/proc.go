// Package chaos is the fault-injection harness: it runs the real api and
// persister binaries against a PostgreSQL and a Redis of its own, injects
// faults (killed processes, a restarted Redis, a stopped PostgreSQL, a
// drained or killed api), drives load through the service API while it
// does, and compares what PostgreSQL holds afterwards with what the
// clients were told.
//
// The scenarios and what they check are described in docs/reliability.md.
// cmd/chaos runs them at full scale (make chaos); internal/chaos/slowtest
// runs them at a small scale under go test.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one child process that can be started, signalled, killed and
// started again with the same command line. Its output is appended to a
// log file.
type Proc struct {
	Name string
	Path string
	Args []string
	Env  []string
	Dir  string
	Log  string
	// Cred runs the process as another user (PostgreSQL as `postgres`
	// when the harness is root).
	Cred *syscall.Credential

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	starts int
}

// Start starts the process. It fails if it is already running.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.exited:
		default:
			return fmt.Errorf("%s: already running", p.Name)
		}
	}
	logf, err := os.OpenFile(p.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(logf, "=== chaos: start #%d of %s at %s\n", p.starts, p.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = p.Env
	cmd.Dir = p.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a signal meant for the harness (Ctrl-C)
	// does not reach the children behind its back.
	// Pdeathsig: children never outlive a harness that dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: p.Cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("%s: start: %w", p.Name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.err = cmd, exited, nil
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(exited)
	}()
	return nil
}

// Running reports whether the process has been started and not exited.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Exited is closed when the current process exits (nil before Start).
func (p *Proc) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

// Signal sends sig to the running process.
func (p *Proc) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return fmt.Errorf("%s: not started", p.Name)
	}
	return cmd.Process.Signal(sig)
}

// Wait waits for the process to exit, at most for d, and returns its exit
// error.
func (p *Proc) Wait(d time.Duration) error {
	ch := p.Exited()
	if ch == nil {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	case <-t.C:
		return fmt.Errorf("%s: still running after %s", p.Name, d)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() error {
	if !p.Running() {
		return nil
	}
	if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	err := p.Wait(30 * time.Second)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return nil // killed, as asked
	}
	return err
}

// Stop sends sig, waits up to grace for the process to exit, then kills
// it. It returns the process's exit error from sig (nil for exit 0).
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) error {
	if !p.Running() {
		return nil
	}
	if err := p.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	if err := p.Wait(grace); err == nil || !strings.Contains(err.Error(), "still running") {
		return err
	}
	_ = p.Kill()
	return fmt.Errorf("%s: did not exit within %s of %s; killed", p.Name, grace, sig)
}

// Tail returns the last n bytes of the process's log.
func (p *Proc) Tail(n int64) string {
	f, err := os.Open(p.Log)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	b, _ := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	return string(b)
}

// waitFor polls cond every interval until it returns nil or d passes, and
// returns the last error.
func waitFor(ctx context.Context, d, interval time.Duration, cond func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	var err error
	for {
		if err = cond(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %s: %w", d, err)
		case <-t.C:
		}
	}
}

// Build compiles ./cmd/api and ./cmd/persister of the module at root into
// dir, once, and returns the binaries' paths.
func Build(ctx context.Context, root, dir string) (api, persister string, err error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "./cmd/api", "./cmd/persister")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return filepath.Join(dir, "api"), filepath.Join(dir, "persister"), nil
}

// ModuleRoot finds the directory holding go.mod, from the working
// directory up.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}
