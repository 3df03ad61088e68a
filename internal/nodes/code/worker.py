# flowrun code-node worker: runs Dify code-node Python (def main(...) -> dict)
# for the Go process that started it. Protocol, one JSON document per line:
#   worker -> go:  {"ready": true}                            once, after set-up
#   go -> worker:  {"code": str, "inputs": {...}}              one request
#   worker -> go:  {"recycle": bool, "result": <json>}         main's result
#              or  {"recycle": bool, "error": str}             Dify-style traceback
# The protocol uses private copies of fds 0 and 1; the real fds 0 and 1 point
# at /dev/null, so user code can neither read requests nor corrupt replies.
# Everything here is best effort isolation within one interpreter, not a
# sandbox: see the Go package documentation.
import sys

def _worker(cfg):
    import builtins, json, linecache, os, resource, threading, traceback

    rin, rout = os.dup(0), os.dup(1)  # non-inheritable copies
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    inp = os.fdopen(rin, "rb", buffering=1 << 16)
    out = os.fdopen(rout, "wb", buffering=1 << 16)
    sys.stdin = open(os.devnull, "r")
    sys.stdout = open(os.devnull, "w")

    mem = cfg.get("memory", 0)
    if mem > 0:
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    cpu = cfg.get("cpu", 0)
    cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    max_result = cfg.get("max_result", 0)

    if not cfg.get("network", False):
        import socket, _socket

        def _blocked(*args, **kwargs):
            raise PermissionError(1, "network access is disabled for code nodes")

        class _NoSocket(socket.socket):
            def __init__(self, family=-1, *args, **kwargs):
                if family in (getattr(socket, "AF_UNIX", None),):
                    return super().__init__(family, *args, **kwargs)
                _blocked()

        socket.socket = _NoSocket
        socket.SocketType = _NoSocket
        _socket.socket = _NoSocket
        _socket.SocketType = _NoSocket
        for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "create_connection",
                     "create_server", "socketpair", "fromfd"):
            if hasattr(socket, name):
                setattr(socket, name, _blocked)
            if hasattr(_socket, name):
                setattr(_socket, name, _blocked)

    loads, dumps = json.loads, json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode
    err_dumps = json.JSONEncoder(separators=(",", ":")).encode
    format_exception = traceback.format_exception
    cache = {}
    filename = "<code>"
    snapshot = dict(builtins.__dict__)
    cwd = os.getcwd()
    getrusage, RUSAGE_SELF, setrlimit, RLIMIT_CPU = resource.getrusage, resource.RUSAGE_SELF, resource.setrlimit, resource.RLIMIT_CPU
    active_count = threading.active_count
    missing = object()

    def tainted():
        b = builtins.__dict__
        if len(b) != len(snapshot):
            return True
        for k, v in b.items():
            if snapshot.get(k, missing) is not v:
                return True
        return active_count() > 1 or os.getcwd() != cwd

    def describe(e, src):
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != filename:
            tb = tb.tb_next
        if isinstance(e, SyntaxError):
            tb = None
        return "".join(format_exception(type(e), e, tb))

    out.write(b'{"ready":true}\n')
    out.flush()
    while True:
        line = inp.readline()
        if not line:
            return
        src = ""
        try:
            req = loads(line)
            src = req["code"]
            inputs = req["inputs"]
            if cpu > 0:
                ru = getrusage(RUSAGE_SELF)
                used = int(ru.ru_utime + ru.ru_stime) + 1
                soft = used + cpu
                if cpu_hard != resource.RLIM_INFINITY and soft > cpu_hard:
                    soft = cpu_hard
                setrlimit(RLIMIT_CPU, (soft, cpu_hard))
            co = cache.get(src)
            if co is None:
                co = compile(src, filename, "exec", dont_inherit=True)
                if len(cache) >= 256:
                    cache.clear()
                cache[src] = co
            g = {"__name__": "__main__", "__builtins__": builtins}
            exec(co, g)
            main = g.get("main", missing)
            if main is missing:
                raise NameError("name 'main' is not defined")
            result = dumps(main(**inputs))
            del g, main
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
            e = None
        recycle = tainted()
        data = reply.encode("utf-8", "surrogatepass")
        if recycle:
            data = b'{"recycle":true,' + data[1:]
        out.write(data)
        out.write(b"\n")
        out.flush()
        if recycle:
            return

if __name__ == "__main__":
    import json as _json
    _worker(_json.loads(sys.argv[1]))
    del _json
