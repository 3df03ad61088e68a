package procpool

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"sync/atomic"
)

// ErrRetire is returned by an exchange whose reply is good but whose
// worker should not serve another call: Do replaces the worker and
// returns nil. Workers ask for it when Worn.
var ErrRetire = errors.New("retire the worker")

// dataLimit is the RLIMIT_DATA LimitMemory set in this process (0: none).
var dataLimit atomic.Int64

// Worn reports whether this worker's private writable memory (VmData,
// what RLIMIT_DATA counts) has passed three quarters of the limit
// LimitMemory set. The Go runtime never unmaps its heap, so a worker that
// once grew near its limit stays there: its next call could fail for
// want of a thread's stack (8 MiB under cgo) or of heap, because of what
// the call before it did, which may be another app's. A worn worker
// answers its call, asks to retire, and the pool starts a fresh one.
func Worn() bool {
	limit := dataLimit.Load()
	if limit <= 0 {
		return false
	}
	used, err := vmData()
	return err == nil && used > limit/4*3
}

// vmData reads this process's VmData in bytes.
func vmData() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	_, rest, ok := bytes.Cut(b, []byte("\nVmData:"))
	if !ok {
		return 0, errors.New("no VmData in /proc/self/status")
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(line), []byte("kB")))), 10, 64)
	if err != nil {
		return 0, err
	}
	return kb << 10, nil
}
