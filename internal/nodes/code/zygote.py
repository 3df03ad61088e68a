# flowrun's Python zygote. The Go process starts it once; it confines
# itself (Landlock, seccomp, no new privileges, not dumpable), imports the
# preloaded modules, and then only forks. Every code-node call runs in a
# fresh child that serves that one call and exits, so no process, memory
# or module state passes from one call to the next, and a reply forged by
# user code can only answer its own call.
#
# Control socket (fd 3, AF_UNIX SOCK_SEQPACKET), one message per datagram:
#   go -> zygote:  b"F"                      fork one child
#   zygote -> go:  b"R" + json               once: ready, or why not
#                  b"C <pid>" + SCM_RIGHTS    a child and its socket
#                  b"X <pid> <status>"        a child that did not exit 0
# Child socket (AF_UNIX SOCK_STREAM):
#   child -> go:   b"r"                       once set up and confined
#   go -> child:   {"code": str, "inputs": {...}}
#   child -> go:   {"connect": [host, port, timeout]}   (network allowed)
#   go -> child:   {"ok": true} + SCM_RIGHTS  or  {"error": str, "kind": str}
#   child -> go:   {"result": <json>}  or  {"error": str[, "too_large": true]}
import sys

_warm = """
import json
def main(a: int, b: str) -> dict:
    return {"result": json.dumps({"a": a + 1, "b": b.upper()}), "items": [str(i) for i in range(3)]}
"""


def _zygote(cfg):
    import ctypes, errno, json, os, resource, select, signal, socket, struct, traceback, linecache, builtins, base64

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    libc.syscall.restype = ctypes.c_long
    PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS = 1, 4, 22, 38
    SECCOMP_MODE_FILTER = 2
    SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446

    ctl = socket.socket(fileno=3)
    network = cfg.get("network", False)
    confine = cfg.get("confine", True)
    info = {}

    def fail(msg):
        ctl.send(b"R" + json.dumps({"error": msg}).encode())
        sys.exit(1)

    def check(ret, what):
        if ret < 0:
            e = ctypes.get_errno()
            raise OSError(e, "%s: %s" % (what, os.strerror(e)))
        return ret

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    def seccomp(prog):
        buf = ctypes.create_string_buffer(prog, len(prog))
        fp = SockFprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))
        check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fp), 0, 0), "seccomp")

    # What code may read: the interpreter and its libraries, the system's
    # shared libraries, and a few files of /etc. Nothing else: not /proc,
    # not the service's files, not /tmp.
    def readable():
        dirs, files = set(), set()
        for p in [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix] + sys.path:
            if p and os.path.isdir(p):
                dirs.add(os.path.realpath(p))
        for p in ["/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc/ssl", "/etc/ca-certificates", "/etc/pki"]:
            if os.path.isdir(p):
                dirs.add(os.path.realpath(p))
        for p in ["/etc/ld.so.cache", "/etc/localtime", "/etc/mime.types", "/etc/hosts", "/etc/resolv.conf",
                  "/etc/nsswitch.conf", "/etc/gai.conf", "/etc/host.conf", "/etc/services", "/etc/protocols",
                  "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", os.path.realpath(sys.executable)]:
            if os.path.exists(p):
                files.add(os.path.realpath(p))
        for p in cfg.get("read_paths") or []:
            if os.path.exists(p):
                (dirs if os.path.isdir(p) else files).add(os.path.realpath(p))
        return sorted(dirs), sorted(files)

    def landlock(dirs, files):
        abi = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
        if abi < 1:
            raise OSError(ctypes.get_errno(), "Landlock is not available in this kernel")
        fs = (1 << 13) - 1
        if abi >= 2:
            fs |= 1 << 13
        if abi >= 3:
            fs |= 1 << 14
        if abi >= 5:
            fs |= 1 << 15
        net = 3 if abi >= 4 else 0                    # BIND_TCP | CONNECT_TCP
        scoped = 3 if abi >= 6 else 0                 # ABSTRACT_UNIX_SOCKET | SIGNAL
        size = 8 if abi < 4 else (16 if abi < 6 else 24)
        attr = ctypes.create_string_buffer(struct.pack("=QQQ", fs, net, scoped)[:size], size)
        rfd = check(libc.syscall(SYS_LANDLOCK_CREATE_RULESET, attr, ctypes.c_size_t(size), ctypes.c_uint32(0)), "landlock")
        EXECUTE, WRITE, READ_FILE, READ_DIR = 1, 2, 4, 8
        for paths, access in ((dirs, EXECUTE | READ_FILE | READ_DIR), (files, EXECUTE | READ_FILE)):
            for p in paths:
                a = access | WRITE if p == "/dev/null" else access
                fd = os.open(p, os.O_PATH | os.O_CLOEXEC)
                rule = ctypes.create_string_buffer(struct.pack("=Qi", a & fs, fd), 12)
                check(libc.syscall(SYS_LANDLOCK_ADD_RULE, rfd, 1, rule, 0), "landlock rule " + p)
                os.close(fd)
        check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        check(libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, rfd, 0), "landlock")
        os.close(rfd)
        return abi

    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    # No transparent huge pages: a child's copy-on-write fault would copy
    # far more than the 4 KiB it writes.
    libc.prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE
    try:
        for m in cfg.get("preload") or []:
            __import__(m)
    except BaseException as e:  # noqa: B902
        fail("cannot preload module: %s: %s" % (type(e).__name__, e))
    if confine:
        try:
            dirs, files = readable()
            for p in cfg.get("protect") or []:
                rp = os.path.realpath(p)
                for d in dirs:
                    if rp == d or rp.startswith(d.rstrip("/") + "/"):
                        fail("%s would be readable by code nodes: it lies under %s, which Python code must read" % (p, d))
            info["landlock"] = landlock(dirs, files)
            seccomp(base64.b64decode(cfg["filter_zygote"]))
            info["seccomp"] = True
            for p in (cfg.get("protect") or []) + ["/proc/1/environ", "/proc/%d/environ" % os.getppid()]:
                try:
                    os.close(os.open(p, os.O_RDONLY))
                except OSError:
                    continue
                fail("confinement check failed: %s is still readable" % p)
        except OSError as e:
            fail("cannot confine Python code: %s" % e)
    child_filter = base64.b64decode(cfg["filter_child"]) if confine else b""

    # Code never gets a socket of its own (the kernel refuses them). With
    # network allowed, socket.create_connection, and urllib3's (requests),
    # ask the service for a connection instead: it dials through the SSRF
    # guard of the http-request node and passes the connected socket back.
    import _socket
    raw_pair = _socket.socketpair
    RealSocket = socket.socket
    default_timeout = socket._GLOBAL_DEFAULT_TIMEOUT
    chan = [None, None]  # this child's descriptor, and a socket object on it
    _blocked_msg = "network access is disabled for code nodes"
    if network:
        _blocked_msg = "code nodes reach the network only through socket.create_connection (urllib, requests, httpx)"

    def _blocked(*args, **kwargs):
        raise PermissionError(errno.EPERM, _blocked_msg)

    class _NoSocket(socket.socket):
        def __init__(self, family=-1, *args, **kwargs):
            _blocked()

    errors = {"blocked": PermissionError, "refused": ConnectionRefusedError, "timeout": TimeoutError,
              "dns": lambda n, m: socket.gaierror(socket.EAI_NONAME, m)}

    def create_connection(address, timeout=default_timeout, source_address=None, **kwargs):
        host, port = address[0], address[1]
        t = None if timeout is default_timeout else timeout
        data = memoryview(dumps({"connect": [str(host), int(port), t]}).encode() + b"\n")
        while data:
            data = data[_write(chan[0], data):]
        msg, fds, _, _ = socket.recv_fds(chan[1], 1 << 16, 1)
        rep = loads(msg)
        if "error" in rep:
            for f in fds:
                os.close(f)
            raise errors.get(rep.get("kind"), OSError)(rep.get("errno", 0), rep["error"])
        s = RealSocket(fileno=fds[0])
        s.settimeout(t if t is not None else socket.getdefaulttimeout())
        return s

    # The socket module's own class is replaced; _socket's stays, because
    # socket.socket's methods call it (the kernel refuses it anyway).
    socket.socket = socket.SocketType = _NoSocket
    for mod in (socket, _socket):
        for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "create_connection",
                     "create_server", "socketpair", "fromfd"):
            if hasattr(mod, name):
                setattr(mod, name, _blocked)
    if network:
        socket.create_connection = create_connection
        try:
            import urllib3.util.connection as u3
            u3.create_connection = create_connection
        except ImportError:
            pass

    limits = [(resource.RLIMIT_CORE, 0, 0), (resource.RLIMIT_FSIZE, 0, 0), (resource.RLIMIT_NOFILE, 256, 256)]
    if cfg.get("memory", 0) > 0:
        limits.append((resource.RLIMIT_AS, cfg["memory"], cfg["memory"]))
    if cfg.get("cpu", 0) > 0:
        limits.append((resource.RLIMIT_CPU, cfg["cpu"], cfg["cpu"] + 1))
    if cfg.get("nproc", 0) > 0:
        limits.append((resource.RLIMIT_NPROC, cfg["nproc"], cfg["nproc"]))
    max_result = cfg.get("max_result", 0)
    loads, dumps = json.loads, json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode
    err_dumps = json.JSONEncoder(separators=(",", ":")).encode
    format_exception = traceback.format_exception
    filename = "<code>"
    missing = object()
    # The names main() can use without importing them, as under Dify: its
    # sandbox's prescript imports ctypes, os, sys and traceback before it
    # executes the code, and Dify's runner script (the code, then "import
    # json" and "from base64 import b64decode", then main) binds json and
    # b64decode after the code's own definitions.
    before_code = {"ctypes": ctypes, "os": os, "sys": sys, "traceback": traceback}
    after_code = {"json": json, "b64decode": base64.b64decode}
    _exit, _read, _write = os._exit, os.read, os.write

    def describe(e, src):
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != filename:
            tb = tb.tb_next
        if isinstance(e, SyntaxError):
            tb = None
        return "".join(format_exception(type(e), e, tb))

    def setup(fd):
        # In the child, before user code: own process group, stdio to
        # /dev/null, no inherited descriptors, kernel limits, and the
        # child filter. The request is read from fd with raw reads.
        os.setpgid(0, 0)
        null = os.open(os.devnull, os.O_RDWR)
        for i in (0, 1, 2):
            os.dup2(null, i)
        os.closerange(3, fd)
        os.closerange(fd + 1, 1 << 16)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for res, soft, hard in limits:
            resource.setrlimit(res, (soft, hard))
        if child_filter:
            seccomp(child_filter)
        sys.stdin = open(os.devnull, "r")
        sys.stdout = open(os.devnull, "w")
        sys.stderr = open(os.devnull, "w")
        chan[0], chan[1] = fd, RealSocket(fileno=os.dup(fd))
        # Fault in, off the call's path, the pages a call touches: the
        # copy-on-write faults of a fresh child are most of its cost.
        g = {"__name__": "__main__", "__builtins__": builtins}
        exec(compile(loads(dumps({"code": _warm}))["code"], filename, "exec", dont_inherit=True), g)
        loads(dumps(g["main"](**loads('{"a": 1, "b": "x"}'))))
        del g

    def serve(fd):
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = _read(fd, 1 << 16)
            if not chunk:
                _exit(0)
            buf += chunk
        src = ""
        try:
            req = loads(buf)
            src = req["code"]
            co = compile(src, filename, "exec", dont_inherit=True)
            g = {"__name__": "__main__", "__builtins__": builtins, **before_code}
            exec(co, g)
            g.update(after_code)
            main = g.get("main", missing)
            if main is missing:
                raise NameError("name 'main' is not defined")
            result = dumps(main(**req["inputs"]))
            if max_result > 0 and len(result) > max_result:
                reply = err_dumps({"error": "result too large: %d bytes, limit %d" % (len(result), max_result),
                                   "too_large": True})
            else:
                reply = '{"result":' + result + "}"
        except BaseException as e:  # noqa: B902 - SystemExit and KeyboardInterrupt are user errors too
            try:
                msg = describe(e, src)
            except BaseException as e2:  # noqa: B902
                msg = "%s: %s\n" % (type(e).__name__, e2)
            reply = err_dumps({"error": msg})
        data = memoryview(reply.encode("utf-8", "surrogatepass") + b"\n")
        while data:
            n = _write(fd, data)
            data = data[n:]
        _exit(0)

    def fork_child():
        a, b = raw_pair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            fd = b.detach()
            try:
                setup(fd)
            except BaseException as e:  # noqa: B902 - reported to Go, which fails start on it
                _write(fd, b"e%s: %s" % (type(e).__name__.encode(), str(e).encode("utf-8", "replace")[:2000]))
                _exit(70)
            _write(fd, b"r")
            try:
                serve(fd)
            finally:
                _exit(70)
        b.close()
        socket.send_fds(ctl, [b"C %d" % pid], [a.fileno()])
        a.close()

    import gc
    gc.collect()
    gc.freeze()  # keep the collector off the zygote's pages in children
    rpipe, wpipe = os.pipe()
    os.set_blocking(wpipe, False)
    signal.set_wakeup_fd(wpipe)
    signal.signal(signal.SIGCHLD, lambda *a: None)

    info["ready"] = True
    ctl.send(b"R" + json.dumps(info).encode())
    while True:
        try:
            r, _, _ = select.select([ctl, rpipe], [], [])
        except InterruptedError:
            continue
        if rpipe in r:
            os.read(rpipe, 512)
            while True:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                # A clean exit needs no report, nor does SIGKILL: Go sent it
                # (after the reply, or on a timeout) or the kernel did.
                if status != 0 and not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
                    ctl.send(b"X %d %d" % (pid, status))
        if ctl in r:
            msg = ctl.recv(256)
            if not msg:
                return
            for _ in range(msg.count(b"F")):
                fork_child()


if __name__ == "__main__":
    import json as _json
    _zygote(_json.loads(sys.argv[1]))
