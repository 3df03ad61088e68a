// Package difyclient_test runs flowrun's real server binary against the
// published Dify Node SDK (dify-client@2.3.2, see package.json and
// e2e.mjs). It needs node and npm on PATH; it installs the SDK with
// `npm ci` when node_modules is missing.
package difyclient_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// chain3Key is the example key of examples/chain3.yml (examples/apps.yaml).
const chain3Key = "app-flowrun-chain3-local-only"

func TestDifyNodeSDK(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: this end-to-end test needs node and npm (CI machines have them)")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("node is installed but npm is not: %v", err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not on PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	if _, err := os.Stat("node_modules/dify-client/package.json"); err != nil {
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}

	bin := filepath.Join(t.TempDir(), "flowrun-api")
	if out, err := exec.CommandContext(ctx, goBin, "build", "-o", bin, "../../cmd/api").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	srv := exec.Command(bin)
	srv.Env = append(os.Environ(),
		"ADDR=127.0.0.1:0",
		"APPS_DIR=../../examples",
		"WORKFLOW_REPO_MODE=memory",
		"LOG_FORMAT=text",
	)
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		if srv.ProcessState == nil {
			_ = srv.Process.Kill()
		}
	})

	// The server logs "msg=listening addr=HOST:PORT" once it accepts
	// connections; the rest of its log is kept for failure reports.
	addrc := make(chan string, 1)
	logs := &lockedBuilder{}
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		re := regexp.MustCompile(`msg=listening addr=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logs.write(line + "\n")
			if m := re.FindStringSubmatch(line); m != nil {
				addrc <- m[1]
			}
		}
	}()
	go func() { <-logsDone; exited <- srv.Wait() }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-exited:
		t.Fatalf("server exited early: %v", err)
	case <-ctx.Done():
		t.Fatal("server did not start")
	}

	cmd := exec.CommandContext(ctx, node, "e2e.mjs")
	cmd.Env = append(os.Environ(),
		"FLOWRUN_BASE_URL=http://"+addr+"/v1",
		"FLOWRUN_KEY="+chain3Key,
		"NO_PROXY=127.0.0.1,localhost",
		"no_proxy=127.0.0.1,localhost",
	)
	out, err := cmd.CombinedOutput()
	t.Logf("e2e.mjs output:\n%s", out)
	if err != nil {
		t.Errorf("e2e.mjs failed: %v", err)
	}

	// Graceful shutdown: SIGTERM, exit status 0.
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("server exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("server did not exit after SIGTERM")
	}
	if t.Failed() {
		t.Logf("server log:\n%s", logs.string())
	}
}

// lockedBuilder collects the server log from the reading goroutine.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) write(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *lockedBuilder) string() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
