//go:build linux

package code

import "golang.org/x/sys/unix"

const (
	auditArch = unix.AUDIT_ARCH_AARCH64
	x32Bit    = 0 // no second ABI on arm64
)

var (
	archZygoteDenied []uint32
	archChildDenied  []uint32 // fork and vfork are clone on arm64
)
