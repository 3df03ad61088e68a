// Package code implements Dify's code node ("code" in the DSL): user code
// in Python 3 or JavaScript with a main entry point —
//
//	def main(arg1: str, arg2: str) -> dict: return {"result": arg1 + arg2}
//	function main({arg1, arg2}) { return {result: arg1 + arg2} }
//
// — whose result is checked against the node's declared outputs with
// Dify's CODE_MAX_* limits and error messages (see Limits). Errors are
// *run.NodeError values with Dify's error types: CodeExecutionError (the
// code failed; Python errors carry the traceback), OutputValidationError,
// DepthLimitError and CodeNodeError. The node honours retry_config.
//
// # Lifecycle
//
// Register adds the node type to a run.Registry and returns a Runner;
// Runner.Start brings up the runtimes (and fails fast when python3 cannot
// start), Runner.Stop interrupts running code and reaps the workers. With
// Config.Endpoint (CODE_EXECUTION_ENDPOINT) both languages are sent to a
// dify-sandbox compatible service (POST {endpoint}/v1/sandbox/run, Dify's
// runner templates) and nothing runs in-process.
//
// # JavaScript
//
// JavaScript runs in-process on github.com/dop251/goja, in a pool of
// Config.JSPoolSize runtimes built at Start. Bounded: wall time
// (Runtime.Interrupt, which stops any JavaScript loop), recursion depth,
// strings made by repeat/padStart/padEnd, the JSON size of the result, and
// heap growth through a watchdog that samples the Go heap while scripts
// run and interrupts all of them above Config.JSMemoryLimit. Not bounded:
// the watchdog is process-wide (it cannot tell which script allocates, so
// it stops every running one) and sampled, and it cannot stop a single
// native call (e.g. new Array(1e9).fill(0), or a huge join), which runs to
// completion before an interrupt is seen.
//
// State: user code is compiled as the body of a function (code that
// closes that function early is refused), so its declarations are local
// to one call; every intrinsic object is frozen at start (assignments such
// as obj.toString = f still work on the user's own objects); after each
// call globals added to globalThis are deleted, and a runtime whose
// builtin globals were replaced, or that was interrupted, is discarded
// and rebuilt. console.* exists and discards its output, as Dify discards
// stdout. There is no require, no timers and no I/O.
//
// # Python
//
// Python runs in real CPython, in Config.PythonWorkers worker processes
// started at Start (worker.py, embedded) that each serve one execution at
// a time over a line-delimited JSON protocol on private copies of stdin
// and stdout (fds 0 and 1 point at /dev/null for user code). Every call
// gets fresh globals (the code is exec'd in a new dict, as __main__); the
// compiled code object is cached per source text. A worker that overruns
// Config.Timeout, or whose run is stopped, is killed (its whole process
// group) and replaced in the background.
//
// Isolation, and its limits. The worker is a plain process, not a
// sandbox:
//
//   - Environment: workers get a fixed environment (PATH, LANG, LC_ALL,
//     HOME, TMPDIR); nothing of the service's own environment is passed on.
//   - Privileges: when the service runs as root, workers run as
//     PythonUID/PythonGID (nobody by default), so they cannot read the
//     service's /proc/<pid>/environ or root-only files, nor raise their own
//     limits. If that uid cannot execute the interpreter (e.g. a pyenv
//     install under /root), workers fall back to running as root: see
//     Runner.PythonIsolation. As a non-root service, workers share its uid
//     and can read what it can, including /proc/<pid>/environ.
//   - Network: off unless PythonAllowNetwork. As root, workers get a
//     private network namespace (CLONE_NEWNET: no interface but a down
//     loopback), which no Python code can undo. Without that privilege the
//     only barrier is a stub replacing socket.socket, _socket.socket and
//     the resolver functions, which determined code can get around (e.g.
//     ctypes).
//   - Limits: RLIMIT_AS (PythonMemoryLimit) for the worker's lifetime (as
//     nobody, code cannot raise it; as root it can) and a soft RLIMIT_CPU
//     re-armed before each call (PythonCPULimit), which code can raise
//     because the worker must be able to re-arm it. The wall-clock
//     Timeout, enforced from Go by killing the worker, is the bound that
//     code cannot lift.
//   - State between calls: ordinary globals cannot leak (fresh dict).
//     Module-level state can: code that stores data on an imported module
//     (json.x = secret) leaves it for the next call in that worker. Workers
//     that visibly change the interpreter — builtins added or replaced,
//     threads left running, another working directory — are recycled after
//     the call, and PythonMaxCalls recycles them periodically.
//
// Dify itself runs code in dify-sandbox (seccomp, chroot); when that level
// of confinement is required, point Config.Endpoint at one.
package code
