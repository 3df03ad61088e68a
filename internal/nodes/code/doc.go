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
// JavaScript runs on github.com/dop251/goja in Config.JSPoolSize worker
// processes: this binary started again, which WorkerMain turns into a
// worker (call it first in main, and in TestMain of packages whose tests
// start a Runner). A worker serves one call at a time under RLIMIT_DATA
// (Config.JSMemoryLimit), no_new_privs, not dumpable, and a seccomp filter
// on every thread that refuses sockets and execve. A script that
// allocates past the limit (new ArrayBuffer(2**40), a runaway array) ends
// its worker, not the service: the call fails with ErrMemoryLimit and a
// replacement starts. Wall time is bounded by Runtime.Interrupt at
// Config.Timeout and, for a native call that never looks at interrupts,
// by killing the worker a second later; a stopped run kills its worker at
// once. Also bounded: recursion depth, strings made by
// repeat/padStart/padEnd, the JSON size of the result, and the text of a
// script's error (4 KiB).
//
// State: every call gets a fresh runtime, built while the worker waits
// for it, so nothing a call does is seen by the next. User code is
// compiled as the body of a function (code that closes that function
// early is refused). console.* exists and discards its output, as Dify
// discards stdout. There is no require, no timers and no I/O.
//
// # Python
//
// Python runs in real CPython. At Start the Runner launches one zygote
// (zygote.py, embedded) with an empty environment. The zygote confines
// itself before anything else can run in it, then only forks:
//
//   - Landlock: it can read the interpreter's own paths (sys.prefix,
//     sys.path: a virtualenv's packages included), the system's libraries
//     (/usr, /lib, /bin) and a few files of /etc (TLS roots, the resolver,
//     time zones), plus Config.PythonReadPaths; nothing else. No /proc (so
//     not the service's environ or memory), no APPS_DIR, no /tmp, no
//     writes anywhere. Config.ProtectedPaths are checked to lie outside
//     what it can read, and to fail to open once it is confined. With
//     Landlock ABI 4 it can make no TCP connection, and with ABI 6 it
//     cannot signal processes outside its domain.
//   - seccomp: no ptrace, process_vm_*, mounts, namespaces, BPF, keyrings
//     or io_uring, and without network no socket but AF_UNIX.
//   - no_new_privs and not dumpable; as root, also a private network
//     namespace and the uid of Config.PythonUID (nobody).
//
// Each call runs in a fresh child of the zygote that serves that one call
// and exits: no process, memory, file or module state passes from one
// call to another, and a reply forged by user code can only answer its
// own call. Before user code, the child moves to its own process group,
// sets RLIMIT_AS, RLIMIT_CPU, RLIMIT_NPROC, RLIMIT_FSIZE (0) and
// RLIMIT_NOFILE, and adds a second seccomp filter that forbids new
// processes (clone without CLONE_THREAD, fork, execve), raising limits,
// signals and every socket. With Config.PythonAllowNetwork, code still
// gets no socket of its own: socket.create_connection (urllib, requests,
// httpx) asks the Runner, which dials with Config.PythonDial (cmd/api: the
// http-request node's SSRF guard) and passes the connected socket back.
// A call that overruns Config.Timeout, or whose
// run is stopped, has its process group killed; after every call the
// process group is killed whatever happened, so nothing it started
// outlives it. Config.PythonWorkers children are kept forked ahead of
// demand, so the fork is paid off the call's path.
//
// The code sees the globals it would see under Dify: its own, plus json
// and b64decode (Dify's runner script imports them after the code and
// before it calls main, so they replace same-named globals of the code),
// and ctypes, os, sys and traceback (dify-sandbox imports them before the
// code, which may rebind them). Code written for Dify often calls
// json.dumps without importing json.
//
// Where the kernel cannot confine code (no Landlock), Python calls fail
// with ErrIsolationUnavailable unless Config.PythonUnconfined is set.
//
// Dify itself runs code in dify-sandbox (seccomp, chroot); Config.Endpoint
// sends code to one instead. docs/security.md has the threat model and the
// tests of each boundary.
package code
