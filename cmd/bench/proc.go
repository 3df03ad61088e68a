package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// process is a child process (the api, the persister, the ceiling server)
// whose log goes to a file in the run's work directory.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	// addr is the listening address parsed from its log, when it has one.
	addr    string
	started time.Time

	done    chan struct{}
	waitErr error
}

// readyFunc reports whether a starting process is ready, and its address.
type readyFunc func(p *process) (string, bool)

// logLine is ready when the process log has a line match accepts.
func logLine(match func(line string) (string, bool)) readyFunc {
	return func(p *process) (string, bool) { return scanLog(p.logPath, match) }
}

// startProcess starts path with env (and nothing else from the bench's
// environment but PATH and HOME) and waits until ready says it is ready,
// keeping the address ready returns.
func startProcess(ctx context.Context, name, path string, args, env []string, logDir string, ready readyFunc) (*process, error) {
	logPath := filepath.Join(logDir, fmt.Sprintf("%s-%d.log", name, time.Now().UnixNano()))
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(path, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	cmd.Stdout = f
	cmd.Stderr = f
	// A bench that dies takes its servers with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{}), started: time.Now()}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if v, ok := ready(p); ok {
			p.addr = v
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before it was ready (%v):\n%s", name, p.waitErr, p.tail(20))
		case <-ctx.Done():
			p.stop(5 * time.Second)
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop(5 * time.Second)
			return nil, fmt.Errorf("%s not ready after 60 s:\n%s", name, p.tail(20))
		}
	}
}

func scanLog(path string, ready func(string) (string, bool)) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := ready(sc.Text()); ok {
			return v, true
		}
	}
	return "", false
}

// listeningAddr recognises the api's `msg=listening addr=HOST:PORT` line.
func listeningAddr(line string) (string, bool) {
	if !strings.Contains(line, "msg=listening") {
		return "", false
	}
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "addr="); ok {
			return v, true
		}
	}
	return "", false
}

// persisterStarted recognises the persister's JSON start line.
func persisterStarted(line string) (string, bool) {
	return "", strings.Contains(line, `"msg":"persister started"`)
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM and waits up to grace, then kills the process. It
// returns an error if the process had to be killed or did not exit 0 (a
// binary built with -race exits 66 when it saw a data race).
func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.exitErr("had exited")
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exitErr("exited")
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s; killed", p.name, grace)
	}
}

func (p *process) exitErr(what string) error {
	if p.waitErr == nil {
		return nil
	}
	return fmt.Errorf("%s %s: %w; log %s ends with:\n%s", p.name, what, p.waitErr, p.logPath, p.tail(30))
}

// tail returns the last n lines of the process log.
func (p *process) tail(n int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// errorLines counts log lines at level ERROR (text or JSON logs).
func (p *process) errorLines() (int, string) {
	f, err := os.Open(p.logPath)
	if err != nil {
		return 0, ""
	}
	defer f.Close()
	n, first := 0, ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, `"level":"ERROR"`) {
			if n == 0 {
				first = line
			}
			n++
		}
	}
	return n, first
}

// freePort returns a loopback address that was free a moment ago (for the
// api's metrics listener, whose address is not logged).
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// clkTck is the unit of utime/stime in /proc/<pid>/stat: AT_CLKTCK from the
// auxiliary vector (100 on every common Linux build).
var clkTck = func() int64 {
	data, err := os.ReadFile("/proc/self/auxv")
	if err == nil {
		for i := 0; i+16 <= len(data); i += 16 {
			k, v := binary.NativeEndian.Uint64(data[i:]), binary.NativeEndian.Uint64(data[i+8:])
			if k == 17 && v > 0 { // AT_CLKTCK
				return int64(v)
			}
		}
	}
	return 100
}()

// procStat returns the fields of /proc/<pid>/stat from field 3 (state) on,
// and the command name (field 2).
func procStat(pid int) (comm string, rest []string, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", nil, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	i, j := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if i < 0 || j < i {
		return "", nil, errors.New("malformed /proc stat")
	}
	rest = strings.Fields(string(data[j+1:]))
	if len(rest) < 15 {
		return "", nil, errors.New("malformed /proc stat")
	}
	return string(data[i+1 : j]), rest, nil
}

// ticks sums the clock-tick fields of rest at the given indexes.
func ticks(rest []string, idx ...int) (time.Duration, error) {
	var sum int64
	for _, i := range idx {
		v, err := strconv.ParseInt(rest[i], 10, 64)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return time.Duration(sum * int64(time.Second) / clkTck), nil
}

// Indexes into procStat's rest: ppid (4), utime (14), stime (15), cutime
// (16) and cstime (17).
const (
	statPPID   = 1
	statUTime  = 11
	statSTime  = 12
	statCUTime = 13
	statCSTime = 14
)

// procCPU returns the user+system CPU time of a process, all threads, from
// /proc/<pid>/stat (resolution 1/clkTck s).
func procCPU(pid int) (time.Duration, error) {
	_, rest, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	return ticks(rest, statUTime, statSTime)
}

// treeCPU returns the CPU time of a process and of its children, living
// and exited (the kernel adds a reaped child's time to its parent's
// cutime and cstime): for PostgreSQL's postmaster, the whole server,
// backends included.
func treeCPU(pid int) (time.Duration, error) {
	_, rest, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	total, err := ticks(rest, statUTime, statSTime, statCUTime, statCSTime)
	if err != nil {
		return 0, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	parent := strconv.Itoa(pid)
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		_, rest, err := procStat(child)
		if err != nil || rest[statPPID] != parent {
			continue // not a child, or gone meanwhile
		}
		if c, err := ticks(rest, statUTime, statSTime); err == nil {
			total += c
		}
	}
	return total, nil
}

// postmasterPID returns the pid of the PostgreSQL server that pool talks
// to, if it runs on this machine (the parent of a backend), else 0.
func postmasterPID(ctx context.Context, pool *pgxpool.Pool) int {
	var backend int
	if err := pool.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return 0
	}
	comm, rest, err := procStat(backend)
	if err != nil || comm != "postgres" {
		return 0
	}
	ppid, _ := strconv.Atoi(rest[statPPID])
	if comm, _, err := procStat(ppid); err != nil || comm != "postgres" {
		return 0
	}
	return ppid
}

// snapPG is snapCPU for PostgreSQL: the CPU of its whole process tree
// (see treeCPU), unknown (zero pid) if pid is 0 or unreadable.
func snapPG(pid int) cpuSnap {
	if pid == 0 {
		return cpuSnap{}
	}
	c, err := treeCPU(pid)
	if err != nil {
		return cpuSnap{}
	}
	return cpuSnap{pid: pid, cpu: c}
}

// perUnit returns microseconds of CPU per unit from s to end, or nil if
// either is unknown.
func (s cpuSnap) perUnit(end cpuSnap, n int64) *float64 {
	if s.pid == 0 || end.pid != s.pid || n <= 0 {
		return nil
	}
	v := round3(float64(end.cpu-s.cpu) / float64(time.Microsecond) / float64(n))
	return &v
}

// procMem returns VmRSS and VmHWM (peak RSS) of a process, in bytes.
func procMem(pid int) (rss, hwm int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &rss
		case "VmHWM":
			dst = &hwm
		default:
			continue
		}
		f := strings.Fields(v)
		if len(f) >= 1 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			*dst = n * 1024
		}
	}
	return rss, hwm, nil
}

// cpuSnap is a process's CPU time at one instant.
type cpuSnap struct {
	pid int
	cpu time.Duration
}

func snapCPU(pid int) cpuSnap {
	if pid == 0 {
		return cpuSnap{}
	}
	c, _ := procCPU(pid)
	return cpuSnap{pid: pid, cpu: c}
}

// perRun returns microseconds of CPU per unit between s and now.
func (s cpuSnap) perRun(n int) *float64 {
	if s.pid == 0 || n <= 0 {
		return nil
	}
	c, err := procCPU(s.pid)
	if err != nil {
		return nil
	}
	v := float64(c-s.cpu) / float64(time.Microsecond) / float64(n)
	return &v
}
