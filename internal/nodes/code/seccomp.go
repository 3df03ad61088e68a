//go:build linux

package code

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// Seccomp filters for Python code. They are classic BPF programs, built
// here once and handed to the zygote (zygote.py), which installs them with
// prctl(PR_SET_SECCOMP): filterZygote on itself at start-up (its children
// inherit it), filterChild in each child after fork, before user code.
// Both return EPERM for what they refuse, so user code sees an ordinary
// PermissionError, and kill the process outright on a foreign syscall ABI
// (i386 through int 0x80, x32), whose numbers the filter would misread.

// seccomp_data offsets.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

const (
	retAllow = unix.SECCOMP_RET_ALLOW
	retKill  = unix.SECCOMP_RET_KILL_PROCESS
	retEPERM = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	// retENOSYS answers clone3, whose flags sit behind a pointer that a
	// filter cannot read: libc then falls back to clone, which it can.
	retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
)

// zygoteDenied are refused to the zygote and everything it forks: the
// calls that reach other processes' memory, the kernel's configuration or
// new namespaces, none of which Python code needs.
var zygoteDenied = []uint32{
	unix.SYS_PTRACE, unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV, unix.SYS_KCMP,
	unix.SYS_PIDFD_GETFD, unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN, unix.SYS_USERFAULTFD,
	unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER,
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT, unix.SYS_CHROOT, unix.SYS_UNSHARE, unix.SYS_SETNS,
	unix.SYS_MOVE_MOUNT, unix.SYS_OPEN_TREE, unix.SYS_FSOPEN, unix.SYS_FSCONFIG, unix.SYS_FSMOUNT, unix.SYS_FSPICK,
	unix.SYS_MOUNT_SETATTR, unix.SYS_NAME_TO_HANDLE_AT, unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_FANOTIFY_INIT,
	unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY, unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD,
	unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE, unix.SYS_REBOOT,
	unix.SYS_SWAPON, unix.SYS_SWAPOFF, unix.SYS_ACCT, unix.SYS_QUOTACTL, unix.SYS_SYSLOG,
	unix.SYS_SETTIMEOFDAY, unix.SYS_CLOCK_SETTIME, unix.SYS_CLOCK_ADJTIME, unix.SYS_ADJTIMEX,
}

// childDenied are further refused to a child once it is ready for user
// code: new processes and programs, raising its limits, and signals (a
// child has nobody to signal but itself).
var childDenied = []uint32{
	unix.SYS_EXECVE, unix.SYS_EXECVEAT, unix.SYS_SETRLIMIT,
	unix.SYS_KILL, unix.SYS_TKILL, unix.SYS_TGKILL, unix.SYS_RT_SIGQUEUEINFO, unix.SYS_RT_TGSIGQUEUEINFO,
	unix.SYS_PIDFD_OPEN, unix.SYS_PIDFD_SEND_SIGNAL, unix.SYS_SETSID, unix.SYS_SETPGID,
	unix.SYS_SOCKETPAIR,
}

// filterZygote is the zygote's filter. Its sockets are limited to
// AF_UNIX (its own socket pairs); the child filter then refuses even
// those. Code that may use the network gets connections dialled by the
// service (see Config.PythonAllowNetwork), never a socket of its own.
func filterZygote() []byte {
	var f bpfProg
	f.prologue()
	f.deny(retEPERM, zygoteDenied...)
	f.deny(retEPERM, archZygoteDenied...)
	f.socketFamilies(unix.AF_UNIX)
	f.ret(retAllow)
	return f.bytes()
}

// filterChild is the filter a child adds before user code runs.
func filterChild() []byte {
	var f bpfProg
	f.prologue()
	f.deny(retEPERM, childDenied...)
	f.deny(retEPERM, archChildDenied...)
	f.deny(retENOSYS, unix.SYS_CLONE3)
	// clone: threads only.
	f.jeqNr(unix.SYS_CLONE,
		ld(offArgs), // flags, low 32 bits
		jset(unix.CLONE_THREAD, 0, 1),
		ret(retAllow),
		ret(retEPERM))
	// prlimit64: reading limits (new_limit == NULL) only.
	f.jeqNr(unix.SYS_PRLIMIT64,
		ld(offArgs+2*8),
		jeq(0, 0, 3),
		ld(offArgs+2*8+4),
		jeq(0, 0, 1),
		ret(retAllow),
		ret(retEPERM))
	f.deny(retEPERM, unix.SYS_SOCKET)
	f.ret(retAllow)
	return f.bytes()
}

// bpfProg assembles a filter. Every check is "if nr == X { body }" where
// the body ends in a return, so the accumulator holds nr at each check.
type bpfProg []unix.SockFilter

func stmt(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }

func ld(off uint32) unix.SockFilter { return stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off) }

func ret(k uint32) unix.SockFilter { return stmt(unix.BPF_RET|unix.BPF_K, k) }

func jeq(k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: jt, Jf: jf, K: k}
}

func jset(k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, Jt: jt, Jf: jf, K: k}
}

func jge(k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, Jt: jt, Jf: jf, K: k}
}

// prologue kills a process calling through a foreign ABI, then loads nr.
func (f *bpfProg) prologue() {
	*f = append(*f, ld(offArch), jeq(auditArch, 1, 0), ret(retKill), ld(offNr))
	if x32Bit != 0 {
		*f = append(*f, jge(x32Bit, 0, 1), ret(retKill))
	}
}

func (f *bpfProg) ret(k uint32) { *f = append(*f, ret(k)) }

func (f *bpfProg) deny(action uint32, nrs ...uint32) {
	for _, nr := range nrs {
		f.jeqNr(nr, ret(action))
	}
}

// jeqNr appends "if nr == want { body }"; body must end in a return.
func (f *bpfProg) jeqNr(want uint32, body ...unix.SockFilter) {
	*f = append(*f, jeq(want, 0, uint8(len(body))))
	*f = append(*f, body...)
}

// socketFamilies lets socket(2) create only the given address families.
func (f *bpfProg) socketFamilies(families ...uint32) {
	body := []unix.SockFilter{ld(offArgs)}
	for _, fam := range families {
		body = append(body, jeq(fam, 0, 1), ret(retAllow))
	}
	body = append(body, ret(retEPERM))
	f.jeqNr(unix.SYS_SOCKET, body...)
}

// bytes is the program as struct sock_filter[] in native byte order.
func (f bpfProg) bytes() []byte {
	b := make([]byte, 0, 8*len(f))
	for _, in := range f {
		b = binary.NativeEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.NativeEndian.AppendUint32(b, in.K)
	}
	return b
}
