package code

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// zygote is one running zygote.py: the control socket to it, and the
// exit statuses of its children that did not exit cleanly.
type zygote struct {
	cmd     *exec.Cmd
	ctl     *net.UnixConn
	stderr  *tailBuffer
	exited  chan struct{}
	reader  chan struct{} // closed when the control reader returns
	ready   chan zygoteReady
	out     chan<- *pyChild
	pending atomic.Int64 // forks asked for and not yet received

	mu       sync.Mutex
	statuses map[int]chan syscall.WaitStatus
}

type zygoteReady struct {
	Ready    bool   `json:"ready"`
	Landlock int    `json:"landlock"`
	Seccomp  bool   `json:"seccomp"`
	Error    string `json:"error"`
}

// pyChild is a forked child waiting for its one request.
type pyChild struct {
	pid  int
	conn *net.UnixConn
	z    *zygote
}

func (p *pyRunner) startZygote(netns, drop bool) (*zygote, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "zygote-ctl"), os.NewFile(uintptr(fds[1]), "zygote-ctl")
	defer theirs.Close()
	fc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(p.bin, "-I", "-B", "-c", zygoteScript, string(p.zcfg))
	cmd.Env = workerEnv
	cmd.Dir = "/"
	cmd.ExtraFiles = []*os.File{theirs} // fd 3
	tail := &tailBuffer{max: 8 << 10}
	cmd.Stderr = tail
	cmd.SysProcAttr = p.sysProcAttr(netns, drop)
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		fc.Close()
		return nil, err
	}
	z := &zygote{
		cmd:      cmd,
		ctl:      fc.(*net.UnixConn),
		stderr:   tail,
		exited:   make(chan struct{}),
		reader:   make(chan struct{}),
		ready:    make(chan zygoteReady, 1),
		out:      p.warm,
		statuses: map[int]chan syscall.WaitStatus{},
	}
	go func() {
		_ = cmd.Wait()
		close(z.exited)
		z.ctl.Close()
	}()
	go z.read(p)
	return z, nil
}

// read handles the zygote's messages until its socket closes.
func (z *zygote) read(p *pyRunner) {
	defer close(z.reader)
	buf := make([]byte, 4096)
	oob := make([]byte, syscall.CmsgSpace(4))
	for {
		n, oobn, _, _, err := z.ctl.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			return
		}
		msg := buf[:n]
		switch msg[0] {
		case 'R':
			var r zygoteReady
			if err := json.Unmarshal(msg[1:], &r); err != nil {
				r.Error = "invalid ready message: " + err.Error()
			}
			z.ready <- r
		case 'C':
			c, err := z.child(msg[1:], oob[:oobn])
			z.pending.Add(-1)
			if err != nil {
				z.kill() // a zygote that breaks the protocol is restarted
				return
			}
			p.forks.Add(1)
			go z.await(c)
		case 'X':
			var pid, status int
			if _, err := fmt.Sscanf(string(msg[1:]), " %d %d", &pid, &status); err == nil {
				z.status(pid) <- syscall.WaitStatus(status)
			}
		}
	}
}

// child builds a pyChild from a "C <pid>" message and its descriptor.
func (z *zygote) child(msg, oob []byte) (*pyChild, error) {
	pid, err := strconv.Atoi(string(bytes.TrimSpace(msg)))
	if err != nil || pid <= 1 {
		return nil, fmt.Errorf("invalid child message %q", msg)
	}
	cmsgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil || len(cmsgs) != 1 {
		return nil, errors.New("child message without its socket")
	}
	fds, err := syscall.ParseUnixRights(&cmsgs[0])
	if err != nil || len(fds) != 1 {
		return nil, errors.New("child message without its socket")
	}
	syscall.CloseOnExec(fds[0])
	f := os.NewFile(uintptr(fds[0]), "python-child")
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	return &pyChild{pid: pid, conn: fc.(*net.UnixConn), z: z}, nil
}

// await hands c to the pool once it has set itself up, or kills it.
func (z *zygote) await(c *pyChild) {
	var b [1]byte
	_ = c.conn.SetReadDeadline(time.Now().Add(childReadyTimeout))
	_, err := io.ReadFull(c.conn, b[:])
	_ = c.conn.SetReadDeadline(time.Time{})
	if err != nil || b[0] != 'r' {
		c.kill()
		z.fork(1)
		return
	}
	select {
	case z.out <- c:
	default: // more children than the pool holds
		c.kill()
	}
}

// childReadyTimeout bounds a child's set-up after fork.
const childReadyTimeout = 10 * time.Second

// status returns the channel that receives pid's exit status. The map
// only holds children that died abnormally; it is cleared should it ever
// grow large (statuses nobody asked for).
func (z *zygote) status(pid int) chan syscall.WaitStatus {
	z.mu.Lock()
	defer z.mu.Unlock()
	ch, ok := z.statuses[pid]
	if !ok {
		if len(z.statuses) > 4096 {
			clear(z.statuses)
		}
		ch = make(chan syscall.WaitStatus, 1)
		z.statuses[pid] = ch
	}
	return ch
}

// fork asks the zygote for n more children.
func (z *zygote) fork(n int) {
	if n <= 0 {
		return
	}
	z.pending.Add(int64(n))
	if _, err := z.ctl.Write(bytes.Repeat([]byte{'F'}, n)); err != nil {
		z.kill()
	}
}

func (z *zygote) kill() {
	if z.cmd.Process != nil {
		_ = syscall.Kill(-z.cmd.Process.Pid, syscall.SIGKILL)
		_ = z.cmd.Process.Kill()
	}
}

// describeExit explains why the zygote died; call it after exited is
// closed.
func (z *zygote) describeExit() string {
	s := "did not exit"
	if ps := z.cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
			s = describeStatus(ws)
		}
	}
	if t := z.stderr.String(); t != "" {
		s += ": " + t
	}
	return s
}

// roundTrip sends the request and reads the one reply line.
func (c *pyChild) roundTrip(req []byte, max int) ([]byte, error) {
	if _, err := c.conn.Write(req); err != nil {
		return nil, err
	}
	return readLine(bufio.NewReaderSize(c.conn, 16<<10), max)
}

// kill ends the child's process group and closes its socket. It is safe
// to call more than once and concurrently.
func (c *pyChild) kill() {
	_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	_ = c.conn.Close()
}

// describeExit explains why a child ended without replying.
func (c *pyChild) describeExit() string {
	t := time.NewTimer(250 * time.Millisecond)
	defer t.Stop()
	select {
	case ws := <-c.z.status(c.pid):
		c.z.mu.Lock()
		delete(c.z.statuses, c.pid)
		c.z.mu.Unlock()
		return "the Python process " + describeStatus(ws)
	case <-t.C:
		return "the Python process was killed without a reply (by the kernel, e.g. out of memory)"
	}
}
