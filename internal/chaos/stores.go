package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// freePort returns a loopback TCP port nobody listens on now. Another
// process may take it before it is bound; callers that bind it retry.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Postgres is a throwaway PostgreSQL cluster owned by the harness, on a
// fixed loopback port so it can be stopped and started again under the
// same URL. As root the cluster runs as the `postgres` user (PostgreSQL
// refuses root), as scripts/test.sh does.
type Postgres struct {
	Port int
	bin  string
	data string
	proc *Proc
	cred *syscall.Credential
}

// findPGBin returns the directory of initdb and postgres: the newest
// /usr/lib/postgresql/N/bin, preferring 15, else the ones on PATH.
func findPGBin() (string, error) {
	ok := func(d string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if st, err := os.Stat(filepath.Join(d, b)); err != nil || st.IsDir() {
				return false
			}
		}
		return true
	}
	if ok("/usr/lib/postgresql/15/bin") {
		return "/usr/lib/postgresql/15/bin", nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if ok(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && ok(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
	}
	return "", errors.New("PostgreSQL (initdb, postgres) not found: install it (scripts/test.sh does, with apt-get)")
}

// pgCredential is the `postgres` user when running as root, else nil.
func pgCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("creating the postgres user: %v: %s", err, out)
		}
		if u, err = user.Lookup("postgres"); err != nil {
			return nil, err
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// NewPostgres initialises a cluster under dir (which the postgres user
// must be able to reach) and starts it.
func NewPostgres(ctx context.Context, dir string) (*Postgres, error) {
	bin, err := findPGBin()
	if err != nil {
		return nil, err
	}
	cred, err := pgCredential()
	if err != nil {
		return nil, err
	}
	root := filepath.Join(dir, "pg")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(root, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	pg := &Postgres{bin: bin, data: filepath.Join(root, "data"), cred: cred}
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", pg.data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	sock := filepath.Join(root, "sock")
	if err := os.MkdirAll(sock, 0o755); err != nil {
		return nil, err
	}
	if cred != nil {
		os.Chown(sock, int(cred.Uid), int(cred.Gid))
	}
	// Durability of the cluster itself is not under test (the harness
	// stops it cleanly); speed is welcome on a shared machine.
	conf := fmt.Sprintf(`
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 32MB
log_min_messages = warning
`, sock)
	f, err := os.OpenFile(filepath.Join(pg.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(conf)
	f.Close()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 5 {
		if pg.Port, err = freePort(); err != nil {
			return nil, err
		}
		pg.proc = &Proc{
			Name: "postgres", Path: filepath.Join(bin, "postgres"),
			Args: []string{"-D", pg.data, "-p", strconv.Itoa(pg.Port)},
			Env:  []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"},
			Dir:  root, Log: filepath.Join(dir, "postgres.log"), Cred: cred,
		}
		if lastErr = pg.Start(ctx); lastErr == nil {
			break
		}
		pg.proc.Kill()
	}
	if lastErr != nil {
		return nil, lastErr
	}
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE flowrun"); err != nil {
		return nil, err
	}
	return pg, nil
}

// URL is the connection URL of database db.
func (pg *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.Port, db)
}

// Start starts the server and waits until it accepts connections.
func (pg *Postgres) Start(ctx context.Context) error {
	if err := pg.proc.Start(); err != nil {
		return err
	}
	return waitFor(ctx, 60*time.Second, 50*time.Millisecond, func(ctx context.Context) error {
		if !pg.proc.Running() {
			return fmt.Errorf("postgres exited: %s", pg.proc.Tail(2000))
		}
		c, err := pgx.Connect(ctx, pg.URL("postgres"))
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		// Another scenario's server may have taken the port between
		// freePort and our bind: ours then exits, and we must not take
		// the other one for it.
		var dir string
		if err := c.QueryRow(ctx, "SHOW data_directory").Scan(&dir); err != nil {
			return err
		}
		if want, _ := filepath.Abs(pg.data); filepath.Clean(dir) != want {
			return fmt.Errorf("port %d is served by another postgres (%s)", pg.Port, dir)
		}
		return nil
	})
}

// Stop shuts the server down ("fast": open sessions are disconnected,
// then a checkpoint) and waits for it to exit.
func (pg *Postgres) Stop() error {
	return pg.proc.Stop(syscall.SIGINT, 60*time.Second)
}

// Close stops the server for good (immediate shutdown).
func (pg *Postgres) Close() {
	if pg != nil && pg.proc != nil {
		pg.proc.Stop(syscall.SIGQUIT, 10*time.Second)
	}
}

// Redis is a throwaway redis-server with the append-only file on, on a
// fixed loopback port so it can be restarted under the same URL.
type Redis struct {
	Port int
	proc *Proc
}

// NewRedis starts a Redis whose data (appendonly) lives in dir/redis.
func NewRedis(ctx context.Context, dir string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server not found: install it (scripts/test.sh does, with apt-get)")
	}
	data := filepath.Join(dir, "redis")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	r := &Redis{}
	var lastErr error
	for range 5 {
		if r.Port, err = freePort(); err != nil {
			return nil, err
		}
		r.proc = &Proc{
			Name: "redis", Path: bin,
			Args: []string{"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--protected-mode", "no",
				"--dir", data, "--save", "", "--appendonly", "yes", "--appendfsync", "everysec"},
			Env: []string{"PATH=" + os.Getenv("PATH")},
			Dir: data, Log: filepath.Join(dir, "redis.log"),
		}
		if lastErr = r.Start(ctx); lastErr == nil {
			return r, nil
		}
		r.proc.Kill()
	}
	return nil, lastErr
}

// URL is the Redis URL.
func (r *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }

// Start starts the server (loading its append-only file) and waits until
// it answers PING.
func (r *Redis) Start(ctx context.Context) error {
	if err := r.proc.Start(); err != nil {
		return err
	}
	return waitFor(ctx, 30*time.Second, 20*time.Millisecond, func(ctx context.Context) error {
		if !r.proc.Running() {
			return fmt.Errorf("redis exited: %s", r.proc.Tail(2000))
		}
		return redisPing(r.Port)
	})
}

// Stop shuts Redis down gracefully (SIGTERM: the append-only file is
// flushed) and waits for it to exit.
func (r *Redis) Stop() error { return r.proc.Stop(syscall.SIGTERM, 30*time.Second) }

// Close stops Redis for good.
func (r *Redis) Close() {
	if r != nil && r.proc != nil {
		r.proc.Stop(syscall.SIGTERM, 10*time.Second)
	}
}

func redisPing(port int) error {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("redis PING: %q", line)
	}
	return nil
}
