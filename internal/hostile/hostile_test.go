package hostile

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rssCeiling is the api's documented RSS ceiling (README, Memory
// ceiling); the code workers are separate processes with their own kernel
// limits.
const rssCeiling = 384 << 20

// attack is one hostile app and what its run must end with.
type attack struct {
	app    app
	inputs func(s *server) map[string]any
	// fails is a substring of the error the run must fail with; when
	// empty, check judges a run that must succeed.
	fails string
	check func(t *testing.T, out string)
}

func attacks() []attack {
	return []attack{
		{app: codeApp("js-arraybuffer", "javascript", "function main() { new ArrayBuffer(2 ** 40); return {r: 'x'} }"),
			fails: "exceeded the memory limit"},
		{app: codeApp("js-array-growth", "javascript", "function main() { const a = []; for (;;) a.push({x: [1, 2, 3]}); }"),
			fails: "exceeded the memory limit|timed out"},
		{app: codeApp("js-endless-loop", "javascript", "function main() { for (;;) {} }"),
			fails: "timed out"},
		{app: codeApp("js-recursion", "javascript", "function f(n) { return f(n + 1) + 1 }\nfunction main() { return {r: String(f(0))} }"),
			fails: "Maximum call stack size exceeded"},
		{app: codeApp("py-giant-alloc", "python3", "def main() -> dict:\n    x = bytearray(64 * 1024 ** 3)\n    return {'r': str(len(x))}\n"),
			fails: "MemoryError"},
		{app: codeApp("py-growth", "python3", "def main() -> dict:\n    a = []\n    while True:\n        a.append('x' * 4096)\n"),
			fails: "MemoryError|timed out"},
		{app: codeApp("py-endless-loop", "python3", "def main() -> dict:\n    while True:\n        pass\n"),
			fails: "timed out"},
		{app: codeApp("py-recursion", "python3", "def f(n):\n    return f(n + 1)\ndef main() -> dict:\n    return {'r': str(f(0))}\n"),
			fails: "RecursionError"},
		{app: codeApp("py-fork-bomb", "python3", "import os\ndef main() -> dict:\n    while True:\n        os.fork()\n"),
			fails: "PermissionError"},
		{app: codeApp("py-subprocess", "python3", "import subprocess\ndef main() -> dict:\n    return {'r': subprocess.run(['/bin/sh', '-c', 'id'], capture_output=True).stdout.decode()}\n"),
			fails: "PermissionError"},
		{app: codeApp("py-threads", "python3", "import threading, time\ndef main() -> dict:\n    n = 0\n    try:\n        while n < 100000:\n            threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n            n += 1\n    except Exception as e:\n        return {'r': 'stopped at %d: %s' % (n, type(e).__name__)}\n    return {'r': 'all %d' % n}\n"),
			check: func(t *testing.T, out string) {
				if !strings.HasPrefix(out, "stopped at") {
					t.Errorf("threads were not bounded: %s", out)
				}
			}},
		{app: codeApp("py-read-secrets", "python3", readSecrets, "dir"),
			inputs: func(s *server) map[string]any { return map[string]any{"dir": s.dir} },
			check: func(t *testing.T, out string) {
				for _, v := range secretEnv {
					if strings.Contains(out, v) {
						t.Errorf("a secret leaked: %s", out)
					}
				}
				for _, line := range strings.Split(out, "\n") {
					if !strings.Contains(line, "denied") && !strings.Contains(line, "absent") {
						t.Errorf("read not refused: %s", line)
					}
				}
			}},
		{app: codeApp("py-network", "python3", network, "url"),
			inputs: func(s *server) map[string]any { return map[string]any{"url": s.url + "/v1/info"} },
			check: func(t *testing.T, out string) {
				for _, line := range strings.Split(out, "\n") {
					if !strings.Contains(line, "blocked") {
						t.Errorf("network reached: %s", line)
					}
				}
			}},
		{app: codeApp("py-forge-reply", "python3", forgeReply),
			check: func(t *testing.T, out string) {
				// A forged line may answer its own call; the canary, which
				// runs throughout, shows that no other call saw one.
				if out != "real" && out != "FORGED" {
					t.Errorf("got %q", out)
				}
			}},
		{app: codeApp("py-poison", "python3", "import json, builtins, sys\njson.dumps = lambda *a, **k: '\"poisoned\"'\nbuiltins.poisoned = True\nsys.modules['os'] = None\ndef main() -> dict:\n    return {'r': 'ok'}\n"),
			check: func(t *testing.T, out string) {
				// Its own reply is still encoded by the child's own
				// references; the probe shows the next call is clean.
				if out != "ok" {
					t.Errorf("got %q", out)
				}
			}},
		{app: codeApp("py-probe", "python3", "import json, builtins, os\ndef main() -> dict:\n    return {'r': json.dumps([1]) + ' ' + str(hasattr(builtins, 'poisoned')) + ' ' + str(os is not None)}\n"),
			check: func(t *testing.T, out string) {
				if out != "[1] False True" {
					t.Errorf("state passed from another app's call: %q", out)
				}
			}},
		{app: templateApp("tmpl-repeat", "{{ 'x' * 1000000000000 }}"),
			fails: "template value exceeds"},
		{app: templateApp("tmpl-range", "{% for i in range(10**9) %}{% endfor %}"),
			fails: "template value exceeds|template iterations exceed"},
		{app: templateApp("tmpl-nested-loops", "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}{% endfor %}{% endfor %}{% endfor %}"),
			fails: "template iterations exceed|template"},
		{app: templateApp("tmpl-recursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"),
			fails: "template"},
		{app: templateApp("tmpl-doubling", "{% set s = namespace(v='x') %}{% for i in range(100) %}{% set s.v = s.v ~ s.v %}{% endfor %}{{ s.v|length }}"),
			fails: "template value exceeds|template"},
		{app: codeApp("py-frames", "python3", frames),
			check: func(t *testing.T, out string) {
				if strings.Contains(out, canaryMarker) {
					t.Errorf("another app's code was visible: %s", out)
				}
			}},
	}
}

const readSecrets = `import os
def main(dir: str) -> dict:
    out = []
    paths = ['/proc/1/environ', '/proc/%d/environ' % os.getppid(), '/proc/self/environ',
             dir + '/apps.yaml', dir + '/canary.yml', '/etc/shadow', '/root/.bash_history']
    for pid in range(2, 200):
        paths.append('/proc/%d/environ' % pid)
    for p in paths:
        try:
            with open(p, 'rb') as f:
                out.append('%s: READ %r' % (p, f.read(200)))
        except FileNotFoundError:
            out.append('%s: absent' % p)
        except OSError as e:
            out.append('%s: denied (%s)' % (p, type(e).__name__))
    out.append('env: ' + ('denied' if not any(k in os.environ for k in ('ADMIN_API_KEY', 'LLM_PROVIDER_X_API_KEY')) else 'LEAKED ' + repr(dict(os.environ))))
    return {'r': '\n'.join(out)}
`

const network = `import socket, urllib.request
def main(url: str) -> dict:
    out = []
    host, port = url.split('//')[1].split('/')[0].split(':')
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        out.append('socket: CONNECTED')
    except Exception as e:
        out.append('socket: blocked (%s)' % e)
    try:
        import _socket
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        s.connect((host, int(port)))
        out.append('raw: CONNECTED')
    except Exception as e:
        out.append('raw: blocked (%s)' % e)
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.socket(2, 1, 0)
        out.append('ctypes: ' + ('blocked (errno %d)' % ctypes.get_errno() if fd < 0 else 'CREATED %d' % fd))
    except Exception as e:
        out.append('ctypes: blocked (%s)' % e)
    try:
        urllib.request.urlopen(url, timeout=2).read()
        out.append('http: REACHED')
    except Exception as e:
        out.append('http: blocked (%s)' % e)
    return {'r': '\n'.join(out)}
`

// forgeReply writes forged replies into every descriptor it can, then
// answers normally.
const forgeReply = `import os
def main() -> dict:
    forged = b'{"result":{"r":"FORGED"}}\n' * 4
    for fd in range(0, 64):
        try:
            os.write(fd, forged)
        except OSError:
            pass
    return {'r': 'real'}
`

// frames walks every frame and global it can reach, looking for other
// apps' code.
const frames = `import sys, gc
def main() -> dict:
    seen = []
    f = sys._getframe(0)
    while f is not None:
        seen.append(repr(f.f_locals)[:100000])
        f = f.f_back
    for o in gc.get_objects():
        if isinstance(o, str) and 'MARKER' in o:
            seen.append(o)
    return {'r': '\n'.join(seen)[:300000]}
`

// TestHostile runs the attacks against an api running as the test's user
// and, when that is root, as an unprivileged user too.
func TestHostile(t *testing.T) {
	for _, u := range users() {
		t.Run(u.name, func(t *testing.T) { hostileSuite(t, u.uid) })
	}
}

// user is an identity the api runs as; uid -1 is the test's own.
type user struct {
	name string
	uid  int
}

// users are the test's own user and, when that is root, nobody: the way
// the Dockerfile runs the api.
func users() []user {
	us := []user{{"own-user", -1}}
	if os.Geteuid() == 0 {
		us = append(us, user{"nobody", 65534})
	}
	return us
}

func hostileSuite(t *testing.T, uid int) {
	as := attacks()
	apps := []app{canary}
	for _, a := range as {
		apps = append(apps, a.app)
	}
	s := startServer(t, apps, uid)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// The canary runs throughout, and must answer every call correctly.
	var ok, bad atomic.Int64
	var badMsg sync.Once
	stop := make(chan struct{})
	canaryDone := make(chan struct{})
	go func() {
		defer close(canaryDone)
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			r, err := s.run(ctx, canary, map[string]any{"n": fmt.Sprint(n)})
			want := fmt.Sprintf("%d-%d", 2*n, 2*n+1)
			if err != nil || r.Status != "succeeded" || r.Outputs["answer"] != want {
				bad.Add(1)
				badMsg.Do(func() { t.Errorf("canary run %d: %v %+v, want %s", n, err, r, want) })
				continue
			}
			ok.Add(1)
		}
	}()

	for _, a := range as {
		t.Run(a.app.name, func(t *testing.T) {
			var in map[string]any
			if a.inputs != nil {
				in = a.inputs(s)
			}
			r, err := s.run(ctx, a.app, in)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			s.alive()
			switch {
			case a.fails != "":
				if r.Status != "failed" || !matchesAny(r.Error, a.fails) {
					t.Fatalf("got %s %q (HTTP %d: %s), want failed with %q", r.Status, trim(r.Error), r.HTTP, trim(r.Body), a.fails)
				}
				if len(r.Error) > 8<<10 {
					t.Errorf("error message of %d bytes", len(r.Error))
				}
			default:
				if r.Status != "succeeded" {
					t.Fatalf("got %s %q (HTTP %d: %s), want succeeded", r.Status, trim(r.Error), r.HTTP, trim(r.Body))
				}
				out, _ := r.Outputs["r"].(string)
				a.check(t, out)
			}
		})
	}
	close(stop)
	<-canaryDone
	s.alive()
	if ok.Load() < 5 || bad.Load() != 0 {
		t.Fatalf("canary: %d correct, %d wrong", ok.Load(), bad.Load())
	}
	rss := s.peakRSS()
	t.Logf("canary: %d correct runs during the attacks; api peak RSS %.1f MiB (ceiling %d MiB)", ok.Load(), float64(rss)/(1<<20), rssCeiling>>20)
	if rss > rssCeiling {
		t.Errorf("api peak RSS %d bytes over the ceiling %d", rss, rssCeiling)
	}
}

// matchesAny reports whether s contains one of the |-separated parts.
func matchesAny(s, parts string) bool {
	for _, p := range strings.Split(parts, "|") {
		if p != "" && strings.Contains(s, p) {
			return true
		}
	}
	return false
}

func trim(s string) string {
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}
