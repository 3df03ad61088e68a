// Package difyclient_test runs flowrun's real server binary against the
// published Dify Node SDK (dify-client@2.3.2, see package.json, e2e.mjs and
// chat.mjs). It needs node and npm on PATH; it installs the SDK with
// `npm ci` when node_modules is missing. The chat checks run in every
// persistence mode: sync and async use the PostgreSQL and Redis that
// scripts/test.sh starts (TEST_DATABASE_URL, TEST_REDIS_URL), async with a
// persister.
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

	"github.com/google/uuid"

	"github.com/flowrun/flowrun/internal/dbtest"
)

// Example keys (examples/apps.yaml).
const (
	chain3Key = "app-flowrun-chain3-local-only"
	chatKey   = "app-flowrun-chat-local-only"
	filesKey  = "app-flowrun-file-info-local-only"
)

// tools are the binaries the test drives.
type tools struct {
	node, api, persister string
}

// setup installs the SDK and builds the binaries once.
func setup(t *testing.T, ctx context.Context) *tools {
	t.Helper()
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
	if _, err := os.Stat("node_modules/dify-client/package.json"); err != nil {
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	dir := t.TempDir()
	tl := &tools{node: node, api: filepath.Join(dir, "flowrun-api"), persister: filepath.Join(dir, "flowrun-persister")}
	if out, err := exec.CommandContext(ctx, goBin, "build", "-o", dir, "../../cmd/api", "../../cmd/persister").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.Rename(filepath.Join(dir, "api"), tl.api); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "persister"), tl.persister); err != nil {
		t.Fatal(err)
	}
	return tl
}

// proc is a running server process.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	exited chan error
	logs   *lockedBuilder
}

// start runs bin with env and waits until it logs "msg=listening
// addr=HOST:PORT" (when listens is set). The process is killed at the
// end of the test if it is still running.
func start(t *testing.T, ctx context.Context, bin string, listens bool, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), append([]string{"LOG_FORMAT=text"}, env...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, exited: make(chan error, 1), logs: &lockedBuilder{}}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(bin), p.logs.string())
		}
	})
	addrc := make(chan string, 1)
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		re := regexp.MustCompile(`msg=listening addr=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.logs.write(line + "\n")
			if m := re.FindStringSubmatch(line); m != nil {
				addrc <- m[1]
			}
		}
	}()
	go func() { <-logsDone; p.exited <- cmd.Wait() }()
	if !listens {
		return p
	}
	select {
	case p.addr = <-addrc:
	case err := <-p.exited:
		t.Fatalf("%s exited early: %v", bin, err)
	case <-ctx.Done():
		t.Fatalf("%s did not start", bin)
	}
	return p
}

// stop sends SIGTERM and expects exit status 0.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("did not exit after SIGTERM")
	}
}

// script runs a check script of the SDK against a server.
func (tl *tools) script(t *testing.T, ctx context.Context, name, addr, key string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, tl.node, name)
	cmd.Env = append(os.Environ(),
		"FLOWRUN_BASE_URL=http://"+addr+"/v1",
		"FLOWRUN_KEY="+key,
		"NO_PROXY=127.0.0.1,localhost",
		"no_proxy=127.0.0.1,localhost",
	)
	out, err := cmd.CombinedOutput()
	t.Logf("%s output:\n%s", name, out)
	if err != nil {
		t.Errorf("%s failed: %v", name, err)
	}
}

func TestDifyNodeSDK(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tl := setup(t, ctx)
	srv := start(t, ctx, tl.api, true, "ADDR=127.0.0.1:0", "APPS_DIR=../../examples", "WORKFLOW_REPO_MODE=memory")
	tl.script(t, ctx, "e2e.mjs", srv.addr, chain3Key)
	tl.script(t, ctx, "chat.mjs", srv.addr, chatKey)
	tl.script(t, ctx, "files.mjs", srv.addr, filesKey)
	srv.stop(t)
}

// lockedBuilder collects a process log from the reading goroutine.
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

// TestDifyNodeSDKChatModes runs the SDK's chat checks against the binary
// in sync mode and in async mode (with a persister draining into
// PostgreSQL; TestChatMemoryAcrossReplicas alternates turns between two
// replicas).
func TestDifyNodeSDKChatModes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tl := setup(t, ctx)
	for _, mode := range []string{"sync", "async"} {
		t.Run(mode, func(t *testing.T) {
			db := dbtest.SchemaURL(t)
			redis, queue := os.Getenv("TEST_REDIS_URL"), "e2e-sdk-"+uuid.NewString()[:8]
			if mode == "async" && redis == "" {
				t.Fatal("TEST_REDIS_URL is not set: run the tests with scripts/test.sh")
			}
			env := []string{"ADDR=127.0.0.1:0", "APPS_DIR=../../examples", "WORKFLOW_REPO_MODE=" + mode,
				"DATABASE_URL=" + db, "MIGRATE_ON_START=true", "METRICS_ADDR=127.0.0.1:0",
				"REDIS_URL=" + redis, "ASYNC_QUEUE=" + queue, "ASYNC_SPOOL_DIR=" + t.TempDir()}
			srv := start(t, ctx, tl.api, true, env...)
			if mode == "async" {
				start(t, ctx, tl.persister, false, "REDIS_URL="+redis, "DATABASE_URL="+db, "PERSISTER_QUEUE="+queue,
					"PERSISTER_METRICS_ADDR=127.0.0.1:0")
			}
			tl.script(t, ctx, "chat.mjs", srv.addr, chatKey)
			tl.script(t, ctx, "files.mjs", srv.addr, filesKey)
			srv.stop(t)
		})
	}
}
