package code

import (
	"bufio"
	"bytes"
	"context"
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

	"github.com/flowrun/flowrun/internal/procpool"
)

// zygote is one running zygote.py: the control socket to it, and the
// exit statuses of its children that did not exit cleanly.
type zygote struct {
	cmd    *exec.Cmd
	ctl    *net.UnixConn
	stderr *procpool.Capture
	exited chan struct{}
	reader chan struct{} // closed when the control reader returns
	ready  chan zygoteReady
	// childErr receives why a child could not set itself up.
	childErr chan string
	out      chan<- *pyChild
	pending  atomic.Int64 // forks asked for and not yet received

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
	tail := &procpool.Capture{Max: 8 << 10, Tail: true}
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
		childErr: make(chan string, 1),
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
	var b [2048]byte
	_ = c.conn.SetReadDeadline(time.Now().Add(childReadyTimeout))
	n, err := io.ReadAtLeast(c.conn, b[:], 1)
	_ = c.conn.SetReadDeadline(time.Time{})
	if err != nil || b[0] != 'r' || n != 1 {
		c.kill()
		msg := "no ready byte"
		if n > 0 && b[0] == 'e' {
			msg = string(b[1:n])
		}
		// A child that cannot set itself up is a broken configuration,
		// not bad luck: say so, and stop forking.
		select {
		case z.childErr <- msg:
		default:
		}
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
			s = procpool.DescribeStatus(ws)
		}
	}
	if t := z.stderr.String(); t != "" {
		s += ": " + t
	}
	return s
}

// call sends the request and reads the reply line. With dial set, it
// answers the child's connection requests on the way (see zygote.py).
func (c *pyChild) call(ctx context.Context, req []byte, max int, dial DialFunc, maxConns int) ([]byte, error) {
	if _, err := c.conn.Write(req); err != nil {
		return nil, err
	}
	r := bufio.NewReaderSize(c.conn, 16<<10)
	for conns := 0; ; {
		line, err := procpool.ReadLine(r, max)
		if err != nil || dial == nil || !bytes.HasPrefix(line, connectPrefix) {
			return line, err
		}
		conns++
		if err := c.connect(ctx, line, dial, conns > maxConns, maxConns); err != nil {
			return nil, err
		}
	}
}

var connectPrefix = []byte(`{"connect":`)

// connect dials what the child asked for and passes it the connected
// socket, or the reason it cannot have one.
func (c *pyChild) connect(ctx context.Context, line []byte, dial DialFunc, over bool, maxConns int) error {
	var req struct {
		Connect [3]any `json:"connect"`
	}
	reply := func(msg string, kind string, errno syscall.Errno) error {
		b, _ := json.Marshal(map[string]any{"error": msg, "kind": kind, "errno": int(errno)})
		_, err := c.conn.Write(append(b, '\n'))
		return err
	}
	if err := json.Unmarshal(line, &req); err != nil {
		return reply("invalid connection request", "", syscall.EINVAL)
	}
	host, _ := req.Connect[0].(string)
	port, _ := req.Connect[1].(float64)
	if host == "" || port < 1 || port > 65535 || port != float64(int(port)) {
		return reply("invalid address", "", syscall.EINVAL)
	}
	if over {
		return reply(fmt.Sprintf("more than %d connections in one call", maxConns), "blocked", syscall.EPERM)
	}
	timeout := 30 * time.Second
	if t, ok := req.Connect[2].(float64); ok && t > 0 && t < timeout.Seconds() {
		timeout = time.Duration(t * float64(time.Second))
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dial(dctx, "tcp", net.JoinHostPort(host, strconv.Itoa(int(port))))
	if err != nil {
		return reply(describeDialError(host, err))
	}
	defer conn.Close()
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return reply("the dialled connection has no descriptor", "", syscall.EINVAL)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return reply(err.Error(), "", syscall.EINVAL)
	}
	var werr error
	if cerr := raw.Control(func(fd uintptr) {
		_, _, werr = c.conn.WriteMsgUnix([]byte("{\"ok\":true}\n"), syscall.UnixRights(int(fd)), nil)
	}); cerr != nil {
		return cerr
	}
	return werr
}

// describeDialError is what the child is told of a failed dial: never a
// resolver's or an internal address beyond the host it asked for.
func describeDialError(host string, err error) (string, string, syscall.Errno) {
	var dns *net.DNSError
	switch {
	case errors.Is(err, ErrNetworkBlocked):
		return fmt.Sprintf("network access to %s is blocked", host), "blocked", syscall.EACCES
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot resolve %s", host), "dns", 0
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return fmt.Sprintf("connecting to %s timed out", host), "timeout", syscall.ETIMEDOUT
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("connection to %s refused", host), "refused", syscall.ECONNREFUSED
	}
	return fmt.Sprintf("cannot connect to %s", host), "", syscall.EHOSTUNREACH
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
		return "the Python process " + procpool.DescribeStatus(ws)
	case <-t.C:
		return "the Python process was killed without a reply (by the kernel, e.g. out of memory)"
	}
}
