package procpool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"syscall"
	"time"
)

// ErrLineTooLong is returned by ReadLine for a line over its limit.
var ErrLineTooLong = errors.New("reply line too long")

// ReadLine reads one '\n'-terminated line of at most max bytes.
func ReadLine(r *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(buf)+len(chunk) > max+1 {
			return nil, ErrLineTooLong
		}
		if err == nil {
			if buf == nil {
				return append([]byte(nil), chunk[:len(chunk)-1]...), nil
			}
			buf = append(buf, chunk...)
			return buf[:len(buf)-1], nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
		buf = append(buf, chunk...)
	}
}

// DescribeStatus explains a process's wait status.
func DescribeStatus(ws syscall.WaitStatus) string {
	switch {
	case ws.Signaled() && ws.Signal() == syscall.SIGXCPU:
		return "CPU time limit exceeded"
	case ws.Signaled():
		return fmt.Sprintf("killed by signal %s", ws.Signal())
	default:
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	}
}

// Ready tells the pool that the worker writing to w is ready.
func Ready(w io.Writer) error {
	_, err := io.WriteString(w, ReadyLine+"\n")
	return err
}

// LimitMemory applies a worker's memory limit (bytes; 0: none) and tells
// the Go runtime about it, so the collector works hard before the kernel
// refuses memory.
func LimitMemory(limit int64) error {
	if limit <= 0 {
		return nil
	}
	limit *= raceFactor
	debug.SetMemoryLimit(limit / 2)
	// RLIMIT_DATA, not RLIMIT_AS: the Go runtime reserves over a gigabyte
	// of address space it never touches, while RLIMIT_DATA counts the
	// private writable memory it really maps (Linux 4.7 and later).
	dataLimit.Store(limit)
	return syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: uint64(limit), Max: uint64(limit)})
}

// Retry calls try until it succeeds or ctx ends, waiting 100 ms after the
// first failure and twice as long after each next one, up to 30 s.
func Retry(ctx context.Context, try func() error) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if try() == nil {
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
