package code

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLanguages runs the same cases through both languages.
func TestLanguages(t *testing.T) {
	t.Parallel()
	rn := startRunner(t, Config{})
	type lc struct {
		code string
		want string // fmt of the result map, or
		err  string // a substring of the error (type CodeExecutionError)
	}
	tests := []struct {
		name string
		py   lc
		js   lc
	}{
		{
			name: "success with inputs",
			py:   lc{code: "def main(a: int, b: str) -> dict:\n    return {'sum': a + 1, 'text': b * 2, 'f': a / 2}\n", want: "map[f:0.5 sum:2 text:xx]"},
			js:   lc{code: "function main({a, b}) {\n  return {sum: a + 1, text: b + b, f: a / 2}\n}\n", want: "map[f:0.5 sum:2 text:xx]"},
		},
		{
			name: "int and float kept apart",
			py:   lc{code: "def main(a, b):\n    return {'i': 3, 'f': 3.0, 'big': 10**18}\n", want: "map[big:1000000000000000000 f:3.0 i:3]"},
			js:   lc{code: "function main() { return {i: 3, f: 3.5, big: 1e18} }", want: "map[big:1000000000000000000 f:3.5 i:3]"},
		},
		{
			name: "syntax error",
			py:   lc{code: "def main(a:\n    return {}\n", err: "SyntaxError"},
			js:   lc{code: "function main({a} {\n}\n", err: "SyntaxError"},
		},
		{
			name: "runtime error with traceback",
			py: lc{code: "def helper():\n    raise ValueError('boom')\n\ndef main(a, b):\n    helper()\n",
				err: "Traceback (most recent call last):\n  File \"<code>\", line 5, in main\n    helper()\n  File \"<code>\", line 2, in helper\n    raise ValueError('boom')\nValueError: boom"},
			js: lc{code: "function helper() {\n  throw new Error('boom')\n}\nfunction main() {\n  helper()\n}\n",
				err: "Error: boom\n\tat helper (code.js:2:9("},
		},
		{
			name: "wrong return type",
			py:   lc{code: "def main(a, b):\n    return [1, 2]\n", err: "Result must be a dict, got list"},
			js:   lc{code: "function main() { return 'x' }", err: "Result must be a dict, got str"},
		},
		{
			name: "main missing",
			py:   lc{code: "def other():\n    pass\n", err: "NameError: name 'main' is not defined"},
			js:   lc{code: "function other() {}", err: "ReferenceError: main is not defined"},
		},
		{
			name: "wrong arguments",
			py:   lc{code: "def main(x):\n    return {}\n", err: "TypeError: main() got an unexpected keyword argument"},
			js:   lc{code: "function main({a}) { return a.b.c }", err: "TypeError: Cannot read property"},
		},
		{
			name: "not JSON serialisable",
			py:   lc{code: "def main(a, b):\n    return {'s': {1, 2}}\n", err: "TypeError: Object of type set is not JSON serializable"},
			js:   lc{code: "function main() { return {f: () => 1, u: undefined, d: new Date(0)} }", want: "map[d:1970-01-01T00:00:00.000Z]"},
		},
		{
			name: "printing does not disturb the result",
			py:   lc{code: "import sys, os\ndef main(a, b):\n    print('noise')\n    os.write(1, b'{\"result\": 1}\\n')\n    sys.stderr.write('err\\n')\n    return {'ok': True}\n", want: "map[ok:true]"},
			js:   lc{code: "function main() { console.log('noise'); return {ok: true} }", want: "map[ok:true]"},
		},
		{
			name: "system exit is an error, not a crash",
			py:   lc{code: "import sys\ndef main(a, b):\n    sys.exit(3)\n", err: "SystemExit: 3"},
			js:   lc{code: "function main() { throw 3 }", err: "3"},
		},
		{
			name: "async main",
			py:   lc{code: "def main(a, b):\n    return {'x': None}\n", want: "map[x:<nil>]"},
			js:   lc{code: "async function main({a}) { return {x: await Promise.resolve(a)} }", want: "map[x:1]"},
		},
		{
			name: "deep recursion",
			py:   lc{code: "def f(n):\n    return f(n + 1)\ndef main(a, b):\n    f(0)\n", err: "RecursionError: maximum recursion depth exceeded"},
			js:   lc{code: "function f(n) { return f(n + 1) }\nfunction main() { f(0) }", err: "RangeError: Maximum call stack size exceeded"},
		},
	}
	for _, tt := range tests {
		for lang, c := range map[string]lc{LangPython: tt.py, LangJavaScript: tt.js} {
			t.Run(tt.name+"/"+lang, func(t *testing.T) {
				t.Parallel()
				m, err := runCode(t, rn, lang, c.code, map[string]any{"a": int64(1), "b": "x"})
				if c.err != "" {
					if err == nil {
						t.Fatalf("got %v, want error containing %q", m, c.err)
					}
					if !strings.Contains(err.Error(), c.err) || errorType(err) != TypeExecution {
						t.Fatalf("got %s: %q\nwant CodeExecutionError containing %q", errorType(err), err, c.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := fmt.Sprint(m); got != c.want {
					t.Fatalf("got %s, want %s", got, c.want)
				}
			})
		}
	}
}

// TestTimeout interrupts an infinite loop in both languages; the Python
// worker is replaced and the pools keep working.
func TestTimeout(t *testing.T) {
	t.Parallel()
	rn := startRunner(t, Config{Timeout: 300 * time.Millisecond, PythonWorkers: 1, JSPoolSize: 1})
	for _, c := range []struct{ lang, loop, ok string }{
		{LangJavaScript, "function main() { for (;;) {} }", "function main() { return {ok: 1} }"},
		{LangPython, "def main():\n    while True:\n        pass\n", "def main():\n    return {'ok': 1}\n"},
	} {
		start := time.Now()
		_, err := runCode(t, rn, c.lang, c.loop, nil)
		if !errors.Is(err, ErrTimeout) || errorType(err) != TypeExecution {
			t.Fatalf("%s: got %v, want a CodeExecutionError wrapping ErrTimeout", c.lang, err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("%s: timeout took %s", c.lang, el)
		}
		// The pool has one runtime/worker: this call only succeeds if it
		// was reset or replaced.
		if m := mustRun(t, rn, c.lang, c.ok, nil); fmt.Sprint(m) != "map[ok:1]" {
			t.Fatalf("%s: after timeout got %v", c.lang, m)
		}
	}
}

// TestContextCancel: a stopped run interrupts running code at once, even
// with a long Timeout.
func TestContextCancel(t *testing.T) {
	t.Parallel()
	rn := startRunner(t, Config{Timeout: time.Minute, PythonWorkers: 1})
	for _, c := range []struct{ lang, code string }{
		{LangJavaScript, "function main() { for (;;) {} }"},
		{LangPython, "import time\ndef main():\n    time.sleep(600)\n"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		start := time.Now()
		_, _, err := rn.Run(ctx, c.lang, c.code, nil)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: got %v, want the context's error", c.lang, err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("%s: cancel took %s", c.lang, el)
		}
		mustRun(t, rn, c.lang, map[string]string{LangJavaScript: "function main() { return {} }", LangPython: "def main():\n    return {}\n"}[c.lang], nil)
	}
}

// TestMemoryBound: Python hits RLIMIT_AS (MemoryError, the worker
// survives); JavaScript hits the string guard, the heap watchdog and the
// result cap.
func TestMemoryBound(t *testing.T) {
	t.Parallel()
	rn := startRunner(t, Config{
		PythonMemoryLimit: 512 << 20, PythonWorkers: 1,
		JSMemoryLimit: 256 << 20, JSPoolSize: 1, MaxResultBytes: 1 << 20,
	})
	_, err := runCode(t, rn, LangPython, "def main():\n    x = bytearray(2 * 1024 ** 3)\n    return {}\n", nil)
	if err == nil || !strings.Contains(err.Error(), "MemoryError") {
		t.Fatalf("python: got %v, want MemoryError", err)
	}
	mustRun(t, rn, LangPython, "def main():\n    return {'x': len(bytearray(10 * 1024 ** 2))}\n", nil)

	_, err = runCode(t, rn, LangJavaScript, "function main() { return {s: 'x'.repeat(1e9)} }", nil)
	if err == nil || !strings.Contains(err.Error(), "RangeError: Invalid string length") {
		t.Fatalf("js repeat: got %v, want RangeError", err)
	}
	_, err = runCode(t, rn, LangJavaScript, "function main() {\n  let s = 'x';\n  for (let k = 0; k < 24; k++) s += s;\n  const a = [];\n  for (let i = 0; ; i++) a.push(s + i);\n}\n", nil)
	if !errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("js heap: got %v, want ErrMemoryLimit", err)
	}
	_, err = runCode(t, rn, LangJavaScript, "function main() { return {s: 'x'.repeat(2 << 20)} }", nil)
	if !errors.Is(err, ErrResultTooLarge) {
		t.Fatalf("js result: got %v, want ErrResultTooLarge", err)
	}
	_, err = runCode(t, rn, LangPython, "def main():\n    return {'s': 'x' * (2 << 20)}\n", nil)
	if !errors.Is(err, ErrResultTooLarge) {
		t.Fatalf("python result: got %v, want ErrResultTooLarge", err)
	}
	mustRun(t, rn, LangJavaScript, "function main() { return {ok: true} }", nil)
	mustRun(t, rn, LangPython, "def main():\n    return {'ok': True}\n", nil)
}

// TestPythonEnvIsolation: the service's environment is invisible to code.
// As root it also checks the privilege drop with a system interpreter that
// the nobody user can execute (the default one may live under /root).
func TestPythonEnvIsolation(t *testing.T) {
	t.Setenv("FLOWRUN_CODE_TEST_SECRET", "s3cr3t-value")
	bins := []string{""}
	if os.Geteuid() == 0 {
		if _, err := os.Stat("/usr/bin/python3"); err == nil {
			bins = append(bins, "/usr/bin/python3")
		}
	}
	for _, bin := range bins {
		rn := startRunner(t, Config{PythonWorkers: 1, PythonBinary: bin})
		checkEnvIsolation(t, rn, bin)
		if bin != "" && !rn.PythonIsolation().DroppedPrivileges {
			t.Fatalf("%s: running as root, workers must drop to nobody", bin)
		}
	}
}

func checkEnvIsolation(t *testing.T, rn *Runner, bin string) {
	t.Helper()
	code := `import os
def main():
    try:
        with open('/proc/%d/environ' % os.getppid(), 'rb') as f:
            parent = f.read().decode('latin-1')
    except OSError as e:
        parent = 'denied: ' + type(e).__name__
    return {'env': '\n'.join('%s=%s' % kv for kv in os.environ.items()), 'parent': parent, 'uid': os.getuid()}
`
	m := mustRun(t, rn, LangPython, code, nil)
	env := m["env"].(string)
	if strings.Contains(env, "s3cr3t-value") || strings.Contains(env, "FLOWRUN_CODE_TEST_SECRET") {
		t.Fatalf("secret visible in os.environ:\n%s", env)
	}
	for _, line := range strings.Split(env, "\n") {
		name, _, _ := strings.Cut(line, "=")
		switch name {
		case "PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "LC_CTYPE":
		default:
			t.Errorf("unexpected variable in the worker environment: %s", line)
		}
	}
	iso := rn.PythonIsolation()
	t.Logf("python %q: isolation %+v, worker uid %v", bin, iso, m["uid"])
	if iso.DroppedPrivileges {
		if p := m["parent"].(string); !strings.HasPrefix(p, "denied") {
			t.Fatalf("worker could read the service's /proc/<pid>/environ: %q", p)
		}
		if fmt.Sprint(m["uid"]) != "65534" {
			t.Fatalf("worker uid %v, want 65534", m["uid"])
		}
	} else if !strings.HasPrefix(m["parent"].(string), "denied") {
		// No privilege drop: the service's launch environment (what
		// /proc/<pid>/environ shows) is readable. This is documented; only
		// the worker's own environment is guaranteed clean.
		t.Logf("note: python %q runs with the service's privileges and can read its /proc/<pid>/environ", bin)
	}
}

// TestPythonNetwork: sockets are blocked by default and work when allowed.
func TestPythonNetwork(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "pong") }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	code := `import socket, urllib.request
def main(port):
    out = {}
    try:
        socket.create_connection(('127.0.0.1', int(port)), timeout=3).close()
        out['socket'] = 'connected'
    except Exception as e:
        out['socket'] = 'blocked: %s' % e
    try:
        import _socket
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        s.settimeout(3)
        s.connect(('127.0.0.1', int(port)))
        out['raw'] = 'connected'
    except Exception as e:
        out['raw'] = 'blocked: %s' % e
    try:
        out['http'] = urllib.request.urlopen('http://127.0.0.1:%s/' % port, timeout=3).read().decode()
    except Exception as e:
        out['http'] = 'blocked: %s' % e
    return out
`
	blocked := startRunner(t, Config{PythonWorkers: 1})
	m := mustRun(t, blocked, LangPython, code, map[string]any{"port": port})
	for _, k := range []string{"socket", "raw", "http"} {
		if !strings.HasPrefix(m[k].(string), "blocked") {
			t.Errorf("network not blocked (%s): %v", k, m[k])
		}
	}
	t.Logf("blocked: %v (isolation %+v)", m, blocked.PythonIsolation())

	allowed := startRunner(t, Config{PythonWorkers: 1, PythonAllowNetwork: true})
	m = mustRun(t, allowed, LangPython, code, map[string]any{"port": port})
	if m["socket"] != "connected" || m["http"] != "pong" {
		t.Fatalf("network allowed but: %v", m)
	}
}

// TestStateIsolation: one execution cannot leave state for the next, on
// a single runtime / worker.
func TestStateIsolation(t *testing.T) {
	t.Parallel()
	rn := startRunner(t, Config{PythonWorkers: 1, JSPoolSize: 1})

	mustRun(t, rn, LangJavaScript, `var leakVar = 1;
globalThis.leakGlobal = 2;
leakImplicit = 3;
Object.defineProperty(globalThis, 'leakHidden', {value: 4, enumerable: false, configurable: true});
JSON.parse = function () { return 'evil' };
function main() {
  Array.prototype.leakProto = 5;
  Object.prototype.leakObj = 6;
  try { Math.leak = 7 } catch (e) {}
  return {};
}`, nil)
	m := mustRun(t, rn, LangJavaScript, `function main() {
  return {
    v: typeof leakVar, g: typeof leakGlobal, i: typeof leakImplicit, h: typeof leakHidden,
    p: typeof [].leakProto, o: typeof ({}).leakObj, m: typeof Math.leak, j: typeof JSON.parse('1'),
  };
}`, nil)
	for k, v := range m {
		want := "undefined"
		if k == "j" {
			want = "number"
		}
		if v != want {
			t.Errorf("js state leaked: %s = %v", k, v)
		}
	}
	// Freezing the intrinsics must not break ordinary assignments.
	m = mustRun(t, rn, LangJavaScript, `class MyError extends Error {
  constructor(m) { super(m); this.name = 'MyError'; }
}
function P() {}
P.prototype.toString = function () { return 'P!' };
function main() {
  const o = {};
  o.toString = () => 'custom';
  const e = new MyError('m');
  return {o: String(o), e: e.name + ': ' + e.message, p: String(new P())};
}`, nil)
	if fmt.Sprint(m) != "map[e:MyError: m o:custom p:P!]" {
		t.Fatalf("ordinary overrides broken: %v", m)
	}

	mustRun(t, rn, LangPython, "LEAK = 1\nimport builtins, json\nbuiltins.leak_builtin = 2\njson.loads = lambda s: 'evil'\njson.leak = 4\ndef main():\n    global LEAK2\n    LEAK2 = 3\n    return {}\n", nil)
	m = mustRun(t, rn, LangPython, "import builtins, json\ndef main():\n    return {'g': 'LEAK' in globals() or 'LEAK2' in globals(), 'b': hasattr(builtins, 'leak_builtin'), 'j': json.loads('1'), 'm': hasattr(json, 'leak')}\n", nil)
	if m["g"] != false || m["b"] != false || fmt.Sprint(m["j"]) != "1" || m["m"] != false {
		t.Fatalf("python state leaked: %v", m)
	}
}

// TestConcurrency runs both languages from many goroutines (run with
// -race).
func TestConcurrency(t *testing.T) {
	t.Parallel()
	rn := startRunner(t, Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				n := int64(g*100 + i)
				lang, code := LangJavaScript, "function main({n}) { return {n: n * 2} }"
				if (g+i)%2 == 0 {
					lang, code = LangPython, "def main(n):\n    return {'n': n * 2}\n"
				}
				_, m, err := rn.Run(context.Background(), lang, code, map[string]any{"n": n})
				if err != nil {
					errs <- err
					return
				}
				if fmt.Sprint(m["n"]) != fmt.Sprint(2*n) {
					errs <- fmt.Errorf("%s: got %v for %d", lang, m["n"], n)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestLifecycle: calls outside Start/Stop fail with sentinels, and Stop
// interrupts running code.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	rn, err := New(Config{PythonWorkers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rn.Run(context.Background(), LangJavaScript, "function main(){return {}}", nil); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("before start: %v", err)
	}
	if err := rn.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	type result struct{ err error }
	done := make(chan result, 2)
	for _, c := range []struct{ lang, code string }{
		{LangJavaScript, "function main() { for (;;) {} }"},
		{LangPython, "import time\ndef main():\n    time.sleep(600)\n"},
	} {
		go func() {
			_, _, err := rn.Run(context.Background(), c.lang, c.code, nil)
			done <- result{err}
		}()
	}
	// Stop while both run: wait until the Python worker is busy.
	deadline := time.After(10 * time.Second)
	for len(rn.py.slots) == 0 || rn.js.activeCount() == 0 {
		select {
		case <-deadline:
			t.Fatal("executions did not start")
		case <-time.After(5 * time.Millisecond):
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rn.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case r := <-done:
			if !errors.Is(r.err, ErrStopped) {
				t.Errorf("running code after Stop: %v, want ErrStopped", r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("execution not interrupted by Stop")
		}
	}
	if _, _, err := rn.Run(context.Background(), LangPython, "def main():\n    return {}\n", nil); !errors.Is(err, ErrStopped) {
		t.Fatalf("after stop: %v", err)
	}
}

// TestPythonWorkerDeath: a worker that exits (os._exit) or exceeds its CPU
// limit fails the call and is replaced.
func TestPythonWorkerDeath(t *testing.T) {
	t.Parallel()
	rn := startRunner(t, Config{PythonWorkers: 1, Timeout: 20 * time.Second, PythonCPULimit: time.Second})
	_, err := runCode(t, rn, LangPython, "import os\ndef main():\n    os._exit(7)\n", nil)
	if !errors.Is(err, ErrWorkerDied) || !strings.Contains(err.Error(), "status 7") {
		t.Fatalf("os._exit: got %v", err)
	}
	mustRun(t, rn, LangPython, "def main():\n    return {}\n", nil)
	_, err = runCode(t, rn, LangPython, "def main():\n    while True:\n        pass\n", nil)
	if !errors.Is(err, ErrWorkerDied) || !strings.Contains(err.Error(), "CPU time limit exceeded") {
		t.Fatalf("cpu limit: got %v", err)
	}
	mustRun(t, rn, LangPython, "def main():\n    return {}\n", nil)
}

// TestJavaScriptHostile: allocations that would be a fatal error in the
// service's own process end only the worker, with ErrMemoryLimit; a deep
// recursion's error stays short; the pool keeps serving.
func TestJavaScriptHostile(t *testing.T) {
	t.Parallel()
	rn := startRunner(t, Config{JSPoolSize: 1, JSMemoryLimit: 256 << 20, Timeout: 3 * time.Second})
	for _, code := range []string{
		"function main() { new ArrayBuffer(2 ** 40); return {} }",
		"function main() { const a = new Array(1e9).fill(0); return {n: a.length} }",
		"function main() { const a = []; for (;;) a.push({x: [1, 2, 3]}); }",
	} {
		_, err := runCode(t, rn, LangJavaScript, code, nil)
		// Slow growth may meet the timeout first (the race detector's
		// builds are slow): either is a clean end of the call.
		if !errors.Is(err, ErrMemoryLimit) && !errors.Is(err, ErrTimeout) && !strings.Contains(fmt.Sprint(err), "RangeError") {
			t.Fatalf("%s: got %v, want ErrMemoryLimit, ErrTimeout or a RangeError", code, err)
		}
		if m := mustRun(t, rn, LangJavaScript, "function main() { return {ok: 1} }", nil); fmt.Sprint(m) != "map[ok:1]" {
			t.Fatalf("after %s: %v", code, m)
		}
	}
	_, err := runCode(t, rn, LangJavaScript, "function f(n) { return f(n + 1) + 1 }\nfunction main() { return {r: f(0)} }", nil)
	if err == nil || !strings.Contains(err.Error(), "Maximum call stack size exceeded") || len(err.Error()) > 5<<10 {
		t.Fatalf("recursion: got %d bytes: %.200v", len(fmt.Sprint(err)), err)
	}
}

// TestJavaScriptWorkerRetires: a call that leaves its worker's memory
// near the limit succeeds, and the worker is replaced after it, so the
// next call (another app's, perhaps) does not inherit that memory and
// cannot fail for want of it. The calls allocate more memory in steps of
// a sixteenth of the limit: the worker must retire before a step meets
// the limit itself.
func TestJavaScriptWorkerRetires(t *testing.T) {
	t.Parallel()
	const limit = 256 << 20
	rn := startRunner(t, Config{JSPoolSize: 1, JSMemoryLimit: limit, Timeout: 10 * time.Second})
	const hold = "function main({n}) { const b = new Uint8Array(n * 1048576); return {n: b.length / 1048576} }"
	starts := rn.js.pool.Starts()
	for mib := limit >> 24; ; mib += limit >> 24 {
		m, err := runCode(t, rn, LangJavaScript, hold, map[string]any{"n": mib})
		if err != nil {
			t.Fatalf("allocating %d MiB: %v; the worker should have retired first", mib, err)
		}
		if fmt.Sprint(m["n"]) != fmt.Sprint(mib) {
			t.Fatalf("allocating %d MiB: %v", mib, m)
		}
		if rn.js.pool.Starts() > starts {
			t.Logf("the worker retired after a call that allocated %d MiB (limit %d MiB, before the race detector's factor)", mib, limit>>20)
			break
		}
	}
	if m := mustRun(t, rn, LangJavaScript, "function main() { return {ok: 1} }", nil); fmt.Sprint(m) != "map[ok:1]" {
		t.Fatalf("after retiring: %v", m)
	}
}

// TestPythonNetworkGuard: with network allowed, every connection is
// dialled by PythonDial; a refusal reaches code as a PermissionError that
// names only the host, and code still cannot make a socket of its own.
func TestPythonNetworkGuard(t *testing.T) {
	t.Parallel()
	var asked atomic.Int64
	rn := startRunner(t, Config{PythonWorkers: 1, PythonAllowNetwork: true,
		PythonDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			asked.Add(1)
			return nil, fmt.Errorf("%w: 10.0.0.2 is a private address", ErrNetworkBlocked)
		}})
	m := mustRun(t, rn, LangPython, `import socket, urllib.request
def main() -> dict:
    out = {}
    try:
        urllib.request.urlopen('http://internal.example:8080/', timeout=3)
        out['http'] = 'REACHED'
    except Exception as e:
        out['http'] = str(e)
    try:
        import _socket
        _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        out['raw'] = 'CREATED'
    except Exception as e:
        out['raw'] = type(e).__name__
    return out
`, nil)
	if http := fmt.Sprint(m["http"]); !strings.Contains(http, "network access to internal.example is blocked") || strings.Contains(http, "10.0.0.2") {
		t.Errorf("http: %q", http)
	}
	if m["raw"] != "PermissionError" {
		t.Errorf("raw socket: %v", m["raw"])
	}
	if asked.Load() != 1 {
		t.Errorf("%d dials, want 1", asked.Load())
	}
}

// TestZygoteRestart: a zygote that dies is replaced, and calls go on.
func TestZygoteRestart(t *testing.T) {
	t.Parallel()
	rn := startRunner(t, Config{PythonWorkers: 1})
	rn.py.mu.Lock()
	old := rn.py.z
	rn.py.mu.Unlock()
	old.kill()
	<-old.exited
	for i := range 5 {
		if m := mustRun(t, rn, LangPython, "def main(i: int) -> dict:\n    return {'i': i}\n", map[string]any{"i": int64(i)}); fmt.Sprint(m["i"]) != fmt.Sprint(i) {
			t.Fatalf("call %d after the zygote died: %v", i, m)
		}
	}
	if n := rn.py.starts.Load(); n != 2 {
		t.Fatalf("%d zygotes started, want 2", n)
	}
}

// TestPythonProtectedPaths: a protected path that Python code would be
// able to read disables Python with the reason (the service still starts
// and JavaScript still runs); one outside what code reads is fine.
func TestPythonProtectedPaths(t *testing.T) {
	t.Parallel()
	rn := startRunner(t, Config{PythonWorkers: 1, ProtectedPaths: []string{"/usr/share"}})
	iso := rn.PythonIsolation()
	if !strings.Contains(iso.Disabled, "/usr/share would be readable by code nodes") {
		t.Fatalf("isolation %+v, want Python disabled because of /usr/share", iso)
	}
	_, err := runCode(t, rn, LangPython, "def main() -> dict:\n    return {}\n", nil)
	if err == nil || !strings.Contains(err.Error(), "Python code cannot run here") || errorType(err) != TypeExecution {
		t.Fatalf("python call: %v", err)
	}
	mustRun(t, rn, LangJavaScript, "function main() { return {} }", nil)

	dir := t.TempDir()
	ok := startRunner(t, Config{PythonWorkers: 1, ProtectedPaths: []string{dir}})
	m := mustRun(t, ok, LangPython, "import os\ndef main(d: str) -> dict:\n    try:\n        os.listdir(d)\n        return {'r': 'READ'}\n    except OSError as e:\n        return {'r': type(e).__name__}\n", map[string]any{"d": dir})
	if m["r"] == "READ" {
		t.Fatalf("protected %s was readable", dir)
	}
}

// TestPythonUnconfined: the operator's opt-out runs code without the
// kernel confinement (for kernels without Landlock).
func TestPythonUnconfined(t *testing.T) {
	t.Parallel()
	rn := startRunner(t, Config{PythonWorkers: 1, PythonUnconfined: true})
	if iso := rn.PythonIsolation(); iso.Landlock != 0 || iso.Disabled != "" {
		t.Fatalf("isolation %+v, want unconfined and enabled", iso)
	}
	if m := mustRun(t, rn, LangPython, "def main() -> dict:\n    return {'ok': 1}\n", nil); fmt.Sprint(m) != "map[ok:1]" {
		t.Fatalf("got %v", m)
	}
}

// Code written for Dify uses json and b64decode without importing them:
// Dify's runner script imports them after the code, before calling main,
// and its sandbox has imported os, sys, ctypes and traceback before the
// code runs. The runner's names replace the code's own globals of the same
// name, as in Dify; the sandbox's can be replaced by the code.
func TestPythonPreboundNames(t *testing.T) {
	t.Parallel()
	rn := startRunner(t, Config{})
	got := mustRun(t, rn, LangPython, `
json = "mine"
os = "mine"

def main(s: str) -> dict:
    return {
        "parsed": json.loads(s)["a"],
        "decoded": b64decode("aGk=").decode(),
        "os": os,
        "sep": sys.maxsize > 0 and traceback.format_exc is not None and ctypes.c_int(2).value,
    }
`, map[string]any{"s": `{"a": 1}`})
	if fmt.Sprint(got) != "map[decoded:hi os:mine parsed:1 sep:2]" {
		t.Fatalf("got %v", got)
	}
}
