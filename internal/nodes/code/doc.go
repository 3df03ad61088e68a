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
// signals and every socket (internet sockets stay when
// Config.PythonAllowNetwork). A call that overruns Config.Timeout, or whose
// run is stopped, has its process group killed; after every call the
// process group is killed whatever happened, so nothing it started
// outlives it. Config.PythonWorkers children are kept forked ahead of
// demand, so the fork is paid off the call's path.
//
// Where the kernel cannot confine code (no Landlock), Python calls fail
// with ErrIsolationUnavailable unless Config.PythonUnconfined is set.
//
// Dify itself runs code in dify-sandbox (seccomp, chroot); when that level
// of confinement is required, point Config.Endpoint at one.
package code
