package main

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// process is this test binary serving as the api in a process of its own
// (see TestMain), configured by the environment.
type process struct {
	cmd  *exec.Cmd
	addr string
	out  *signalWriter
	// done is closed once the process has exited and its log is read
	// whole; err is then cmd.Wait's error.
	done chan struct{}
	err  error
}

// startProcess starts the api process with the test's environment and
// env added, and returns once it listens. It is killed, if still
// running, when the test ends.
func startProcess(t *testing.T, env ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(os.Args[0], "-test.run=^$"), out: &signalWriter{addr: make(chan string, 1)}, done: make(chan struct{})}
	p.cmd.Env = append(append(os.Environ(), childEnv+"=1", "LOG_FORMAT=text"), env...)
	p.cmd.Stderr = p.out
	// A worker process that outlived the api would keep its log open.
	p.cmd.WaitDelay = 10 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.addr = <-p.out.addr:
	case <-p.done:
		t.Fatalf("api exited before listening: %v\n%s", p.err, p.out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("api did not start:\n%s", p.out.String())
	}
	return p
}
