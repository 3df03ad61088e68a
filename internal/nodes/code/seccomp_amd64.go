//go:build linux

package code

import "golang.org/x/sys/unix"

const (
	auditArch = unix.AUDIT_ARCH_X86_64
	// x32Bit marks x32-ABI syscall numbers, which the filters refuse.
	x32Bit = 0x40000000
)

var (
	archZygoteDenied = []uint32{unix.SYS_IOPL, unix.SYS_IOPERM, unix.SYS_USELIB, unix.SYS_NFSSERVCTL}
	archChildDenied  = []uint32{unix.SYS_FORK, unix.SYS_VFORK}
)
