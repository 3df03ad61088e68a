package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/flowrun/flowrun/internal/docextract"
	"github.com/flowrun/flowrun/internal/nodes/code"
	"github.com/flowrun/flowrun/internal/run"
)

// childEnv makes the test binary serve as the api process itself (see
// TestMain), with the test-deaf and test-hold node types added.
const childEnv = "FLOWRUN_TEST_API_PROCESS"

// TestMain also lets this binary serve as the JavaScript code workers
// and document workers that runMain starts, as the api binary does. The
// tests fail if any goroutine outlives them.
func TestMain(m *testing.M) {
	code.WorkerMain()
	docextract.WorkerMain()
	if os.Getenv(childEnv) == "1" {
		// Nothing releases the holds of this process: its runs never end
		// on their own.
		resetHold()
		os.Exit(serveProcess(os.Stderr, deafNode, holdNode))
	}
	goleak.VerifyTestMain(m,
		// dbtest's admin pool lives as long as the test binary.
		goleak.IgnoreAnyFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
	)
}

// deafNode blocks forever and ignores cancellation, as a buggy node would.
var deafNode = run.NodeType{Name: "test-deaf", Build: func(*run.Build) (run.Executor, error) {
	return run.ExecutorFunc(func(context.Context, *run.Exec) (*run.Result, error) {
		<-make(chan struct{})
		return nil, errors.New("unreachable")
	}), nil
}}

const deafApps = `apps:
- id: 5d0c7a52-2a53-4f4e-9c55-0b7e1a3f6c01
  workflow_id: 6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a00
  file: deaf.yml
  keys: [app-deaf-process-test]
`

const deafDSL = `app: {mode: workflow, name: deaf}
workflow:
  graph:
    nodes:
    - {id: start, data: {type: start, title: Start, variables: []}}
    - {id: deaf, data: {type: test-deaf, title: Deaf}}
    edges:
    - {id: e1, source: start, target: deaf}
`

// A real api process with a run whose node ignores cancellation exits on
// SIGTERM within SHUTDOWN_TIMEOUT + SHUTDOWN_GRACE, with status 1 and a
// log naming the run.
func TestProcessExitsWithRunIgnoringCancellation(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"apps.yaml": deafApps, "deaf.yml": deafDSL} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const shutdownTimeout, grace = 200 * time.Millisecond, 2 * time.Second
	p := startProcess(t, "APPS_DIR="+dir, "ADDR=127.0.0.1:0", "WORKFLOW_REPO_MODE=memory", "ADMIN_API_KEY=", "METRICS_ADDR=",
		"SHUTDOWN_TIMEOUT="+shutdownTimeout.String(), "SHUTDOWN_GRACE="+grace.String())

	req, _ := http.NewRequest("POST", "http://"+p.addr+"/v1/workflows/run",
		strings.NewReader(`{"inputs": {}, "user": "u", "response_mode": "streaming"}`))
	req.Header.Set("Authorization", "Bearer app-deaf-process-test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Wait until the deaf node has started.
	taskID := ""
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, `"task_id":"`); taskID == "" && i >= 0 {
			taskID = strings.SplitN(line[i+len(`"task_id":"`):], `"`, 2)[0]
		}
		if strings.Contains(line, `"event":"node_started"`) && strings.Contains(line, `"node_id":"deaf"`) {
			break
		}
	}
	if taskID == "" {
		t.Fatal("no task id in the stream")
	}

	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(shutdownTimeout + grace + 30*time.Second):
		t.Fatalf("api still running long after SHUTDOWN_TIMEOUT + SHUTDOWN_GRACE:\n%s", p.out.String())
	}
	took := time.Since(signalled)
	t.Logf("exited %s after SIGTERM", took)
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", p.err, p.out.String())
	}
	if took > shutdownTimeout+grace {
		t.Errorf("exited %s after SIGTERM, over SHUTDOWN_TIMEOUT + SHUTDOWN_GRACE", took)
	}
	logged := p.out.String()
	for _, want := range []string{"run did not stop in time", taskID, "runs did not end after being stopped"} {
		if !strings.Contains(logged, want) {
			t.Errorf("log lacks %q:\n%s", want, logged)
		}
	}
}

// exitAfter exits the process d after ctx ends unless stopped first.
func TestExitAfter(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	codes := make(chan int, 1)
	dumped := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	stop := exitAfter(ctx, 10*time.Millisecond, log, func() { dumped <- struct{}{} }, func(c int) { codes <- c })
	defer stop()
	cancel()
	select {
	case c := <-codes:
		if c != 1 {
			t.Fatalf("exit(%d), want exit(1)", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after the deadline")
	}
	select {
	case <-dumped:
	default:
		t.Error("exited without dumping what was running")
	}

	// Stopped in time (the shutdown finished): no exit.
	ctx, cancel = context.WithCancel(context.Background())
	fired := make(chan int, 1)
	stop = exitAfter(ctx, 20*time.Millisecond, log, func() {}, func(c int) { fired <- c })
	cancel()
	stop()
	select {
	case c := <-fired:
		t.Fatalf("exit(%d) after stop", c)
	case <-time.After(100 * time.Millisecond):
	}
}
