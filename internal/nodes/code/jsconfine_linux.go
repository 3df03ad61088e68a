package code

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/flowrun/flowrun/internal/procpool"
)

// confineJSWorker limits a JavaScript worker: its address space, no new
// privileges, not dumpable, and a seccomp filter (on every thread) that
// refuses sockets, new programs and the zygote's list of dangerous calls.
// goja gives scripts no system calls at all; this bounds what a bug in it
// could reach.
func confineJSWorker(cfg jsWorkerConfig) error {
	if err := procpool.LimitMemory(cfg.MemoryLimit); err != nil {
		return fmt.Errorf("memory limit: %w", err)
	}
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	prog := filterJSWorker()
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fp))); e != 0 {
		return fmt.Errorf("seccomp: %w", e)
	}
	return nil
}

// filterJSWorker is the zygote's filter without sockets, execve or
// socketpair. The Go runtime needs its threads and signals, which stay.
func filterJSWorker() []unix.SockFilter {
	var f bpfProg
	f.prologue()
	f.deny(retEPERM, zygoteDenied...)
	f.deny(retEPERM, archZygoteDenied...)
	f.deny(retEPERM, unix.SYS_EXECVE, unix.SYS_EXECVEAT, unix.SYS_SOCKET, unix.SYS_SOCKETPAIR)
	f.ret(retAllow)
	return f
}

// ConfineWorker confines a worker process of another package (see
// procpool) as a JavaScript worker is confined: memoryLimit bytes of
// memory (0: no limit), no new privileges, not dumpable, and the same
// seccomp filter. Call it before the worker reads its first request.
func ConfineWorker(memoryLimit int64) error {
	return confineJSWorker(jsWorkerConfig{MemoryLimit: memoryLimit})
}
