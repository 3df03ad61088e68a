package hostile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/chaos"
)

// apiBin is the api binary built once for the package.
var apiBin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "flowrun-hostile-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		// An unprivileged api must reach its own binary.
		if err := os.Chmod(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		root, err := chaos.ModuleRoot()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		apiBin = filepath.Join(dir, "api")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", apiBin, "./cmd/api")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build ./cmd/api: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}())
}

// app is one app of the suite's apps directory.
type app struct {
	name string // also its key: app-<name>
	dsl  string
}

func (a app) key() string { return "app-hostile-" + a.name }

// server is a running api process.
type server struct {
	t    testing.TB
	cmd  *exec.Cmd
	url  string
	dir  string
	logs *lockedBuffer
	done chan struct{}
	http *http.Client
}

// secretEnv are values the api holds that no app may ever see.
var secretEnv = map[string]string{
	"ADMIN_API_KEY":             "admin-key-never-shown-7c1f",
	"LLM_PROVIDER_X_API_KEY":    "llm-key-never-shown-93ab",
	"DATABASE_URL_CANARY_VALUE": "postgres://secret-never-shown-d00d",
}

// startServer writes apps to a fresh apps directory and starts the api on
// it, as uid (or the test's own user when uid < 0).
func startServer(t testing.TB, apps []app, uid int, extraEnv ...string) *server {
	t.Helper()
	dir, err := os.MkdirTemp("", "flowrun-hostile-apps-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var list strings.Builder
	list.WriteString("apps:\n")
	for i, a := range apps {
		file := a.name + ".yml"
		if err := os.WriteFile(filepath.Join(dir, file), []byte(a.dsl), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&list, "- id: 00000000-0000-4000-8000-%012d\n  workflow_id: 00000000-0000-4000-9000-%012d\n  file: %s\n  keys: [%s]\n",
			i+1, i+1, file, a.key())
	}
	if err := os.WriteFile(filepath.Join(dir, "apps.yaml"), []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"ADDR=127.0.0.1:0",
		"APPS_DIR=" + dir,
		"WORKFLOW_REPO_MODE=memory",
		"LOG_FORMAT=text",
		"LOG_LEVEL=info",
		"CODE_EXECUTION_TIMEOUT=3s",
		"WORKFLOW_MAX_EXECUTION_TIME=60",
		"SHUTDOWN_TIMEOUT=5s",
		// Network on, as an operator may set it: code then reaches only
		// what the SSRF guard allows (not this loopback api).
		"CODE_PYTHON_ALLOW_NETWORK=true",
	}
	for k, v := range secretEnv {
		env = append(env, k+"="+v)
	}
	env = append(env, extraEnv...)
	cmd := exec.Command(apiBin)
	cmd.Env = env
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if uid >= 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, dir: dir, logs: &lockedBuffer{}, done: make(chan struct{}),
		http: &http.Client{Timeout: 2 * time.Minute}}
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`msg=listening addr=(\S+)`)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.logs.WriteString(line + "\n")
			if m := re.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		if t.Failed() {
			t.Logf("api log:\n%s", s.logs.String())
		}
	})
	select {
	case a := <-addr:
		s.url = "http://" + a
	case <-s.done:
		t.Fatalf("api exited at start: %s", s.logs.String())
	case <-time.After(time.Minute):
		t.Fatalf("api did not start: %s", s.logs.String())
	}
	return s
}

// alive fails the test if the api process has exited.
func (s *server) alive() {
	s.t.Helper()
	select {
	case <-s.done:
		s.t.Fatalf("the api process died: %v\n%s", s.cmd.ProcessState, s.logs.String())
	default:
	}
}

// runResult is the part of a blocking run's answer the suite checks.
type runResult struct {
	HTTP    int
	Status  string
	Error   string
	Outputs map[string]any
	Body    string
}

// run runs a's workflow blocking with inputs.
func (s *server) run(ctx context.Context, a app, inputs map[string]any) (runResult, error) {
	if inputs == nil {
		inputs = map[string]any{}
	}
	body, _ := json.Marshal(map[string]any{"inputs": inputs, "response_mode": "blocking", "user": "hostile-" + a.name})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/v1/workflows/run", bytes.NewReader(body))
	if err != nil {
		return runResult{}, err
	}
	req.Header.Set("Authorization", "Bearer "+a.key())
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return runResult{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return runResult{}, err
	}
	r := runResult{HTTP: resp.StatusCode, Body: string(raw)}
	var v struct {
		Data struct {
			Status  string         `json:"status"`
			Error   *string        `json:"error"`
			Outputs map[string]any `json:"outputs"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &v); err == nil {
		r.Status, r.Outputs = v.Data.Status, v.Data.Outputs
		if v.Data.Error != nil {
			r.Error = *v.Data.Error
		}
	}
	return r, nil
}

// peakRSS is the api's peak resident set (VmHWM), in bytes.
func (s *server) peakRSS() int64 {
	s.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		s.t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				s.t.Fatal(err)
			}
			return kb << 10
		}
	}
	s.t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 1<<20 {
		l.b.WriteString(s)
	}
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
