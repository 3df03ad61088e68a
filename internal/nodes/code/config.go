package code

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"time"
)

// Defaults for Config's zero values.
const (
	// DefaultTimeout bounds one execution (dify-sandbox's worker timeout).
	DefaultTimeout = 15 * time.Second
	// DefaultPythonWorkers is the size of the Python worker pool.
	DefaultPythonWorkers = 2
	// DefaultPythonBinary is looked up in PATH.
	DefaultPythonBinary = "python3"
	// DefaultPythonMemoryLimit is each Python child's RLIMIT_AS (address
	// space).
	DefaultPythonMemoryLimit = 1 << 30
	// DefaultPythonMaxConnections bounds a Python call's connections.
	DefaultPythonMaxConnections = 64
	// DefaultPythonMaxThreads is each Python child's RLIMIT_NPROC.
	DefaultPythonMaxThreads = 1024
	// DefaultPythonStartTimeout bounds the zygote's start-up handshake.
	DefaultPythonStartTimeout = 30 * time.Second
	// DefaultMaxResultBytes caps the JSON-encoded result of one execution.
	DefaultMaxResultBytes = 16 << 20
	// DefaultJSMaxStringLength caps strings built by String.prototype.repeat,
	// padStart and padEnd, the one-call ways to allocate a huge string.
	DefaultJSMaxStringLength = 64 << 20
	// DefaultJSMemoryLimit is each JavaScript worker's RLIMIT_DATA.
	DefaultJSMemoryLimit = 512 << 20
	// DefaultJSMaxCallStackSize bounds JavaScript recursion depth.
	DefaultJSMaxCallStackSize = 10000
	// DefaultEndpointTimeout bounds one request to CODE_EXECUTION_ENDPOINT
	// (Dify's CODE_EXECUTION_READ_TIMEOUT).
	DefaultEndpointTimeout = 60 * time.Second
	// nobody is the uid/gid Python workers drop to when the service runs as
	// root.
	nobody = 65534
)

// DefaultPythonPreload are the modules the zygote imports before forking:
// the standard library that code nodes commonly use.
var DefaultPythonPreload = []string{"json", "re", "math", "datetime", "time", "random", "base64", "hashlib",
	"collections", "itertools", "functools", "string", "urllib.parse", "decimal", "uuid", "typing"}

// DialFunc dials a network connection (net.Dialer.DialContext's shape).
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Config configures a Runner. Every zero value means the documented
// default, so Config{} is a working configuration. Only cmd/ reads the
// environment; it maps CODE_EXECUTION_ENDPOINT and friends onto these
// fields.
type Config struct {
	// Timeout bounds one execution of a code node (wall clock), in either
	// language. Zero means DefaultTimeout. A Python worker that overruns is
	// killed and replaced; a JavaScript runtime is interrupted.
	Timeout time.Duration

	// MaxResultBytes caps the JSON encoding of main's return value. Zero
	// means DefaultMaxResultBytes.
	MaxResultBytes int

	// JSPoolSize is the number of JavaScript worker processes, which is
	// also the number of scripts that run at once. Zero means GOMAXPROCS.
	JSPoolSize int
	// JSMemoryLimit is each JavaScript worker's memory limit
	// (RLIMIT_DATA, enforced by the kernel): a script that allocates past it
	// ends its worker and fails with ErrMemoryLimit. Zero means
	// DefaultJSMemoryLimit; negative means no limit.
	JSMemoryLimit int64
	// JSMaxStringLength caps the length (UTF-16 units) of a string made by
	// String.prototype.repeat, padStart or padEnd. Zero means
	// DefaultJSMaxStringLength.
	JSMaxStringLength int
	// JSMaxCallStackSize bounds call depth. Zero means
	// DefaultJSMaxCallStackSize.
	JSMaxCallStackSize int

	// PythonBinary is the CPython interpreter. Zero means "python3" from
	// PATH. It may be a virtualenv's interpreter: its packages are then
	// importable, and readable, by code nodes.
	PythonBinary string
	// PythonWorkers is the number of Python calls that run at once, and
	// the number of child processes kept forked ahead of demand. Zero
	// means DefaultPythonWorkers.
	PythonWorkers int
	// PythonMemoryLimit is each child's RLIMIT_AS in bytes. Zero means
	// DefaultPythonMemoryLimit; negative means no limit.
	PythonMemoryLimit int64
	// PythonCPULimit is the CPU time one call may use (RLIMIT_CPU; the
	// kernel kills the child past it). Zero means Timeout rounded up to
	// seconds plus one; negative means no limit.
	PythonCPULimit time.Duration
	// PythonMaxThreads is each child's RLIMIT_NPROC. The kernel counts
	// every task of the child's uid against it, so it bounds threads only
	// loosely when workers share the service's uid. Zero means
	// DefaultPythonMaxThreads.
	PythonMaxThreads int
	// PythonStartTimeout bounds the zygote's start-up. Zero means
	// DefaultPythonStartTimeout.
	PythonStartTimeout time.Duration
	// PythonPreload are modules the zygote imports before it forks, so
	// that calls find them loaded (e.g. "requests" in a virtualenv). Nil
	// means DefaultPythonPreload; an empty non-nil slice preloads nothing.
	PythonPreload []string
	// PythonReadPaths are extra files or directories code may read, beyond
	// the interpreter's own paths and the system libraries.
	PythonReadPaths []string
	// ProtectedPaths must not be readable by code (the service's APPS_DIR,
	// its spool directory): the zygote refuses to start if the paths code
	// may read contain one, and checks after confining itself that it
	// cannot open them.
	ProtectedPaths []string
	// PythonAllowNetwork lets Python code reach the network, the way
	// Dify's sandbox does through its SSRF proxy: code still gets no socket
	// of its own (the kernel refuses them), but socket.create_connection
	// (and with it urllib, http.client, requests and httpx) asks the
	// service, which dials with PythonDial and passes the connected socket
	// to the code.
	PythonAllowNetwork bool
	// PythonDial dials for Python code when PythonAllowNetwork is set;
	// cmd/api passes the http-request node's SSRF guard. An error wrapping
	// ErrNetworkBlocked reaches the code as a PermissionError. Nil means a
	// plain net.Dialer (no guard).
	PythonDial DialFunc
	// PythonMaxConnections bounds the connections one call may ask for.
	// Zero means DefaultPythonMaxConnections.
	PythonMaxConnections int
	// PythonUnconfined runs Python code even where the kernel cannot
	// confine it (no Landlock: Linux before 5.13, or an LSM list without
	// it). Off by default: such a machine refuses Python calls with
	// ErrIsolationUnavailable.
	PythonUnconfined bool
	// PythonUID and PythonGID are the credentials the zygote runs with when
	// the service runs as root. Zero means 65534 (nobody); negative keeps
	// root. They are ignored when the service does not run as root.
	PythonUID, PythonGID int
	// PythonDisableNetNS turns off the private network namespace that the
	// zygote gets when the service runs as root.
	PythonDisableNetNS bool

	// Endpoint is CODE_EXECUTION_ENDPOINT: when set, both languages run
	// through this dify-sandbox compatible service instead of in-process,
	// and no Python worker or JavaScript runtime is started.
	Endpoint string
	// EndpointKey is CODE_EXECUTION_API_KEY, sent as X-Api-Key.
	EndpointKey string
	// EndpointTimeout bounds one request to Endpoint. Zero means
	// DefaultEndpointTimeout.
	EndpointTimeout time.Duration
	// EndpointEnableNetwork is sent as the request's enable_network (Dify
	// sends true).
	EndpointEnableNetwork bool

	// Limits are the output checks (Dify's CODE_MAX_* settings).
	Limits Limits
}

// Limits are Dify's CODE_MAX_* output limits. Zero values mean Dify's
// defaults (CODE_MAX_STRING_LENGTH as in docker/.env.example).
type Limits struct {
	// MaxStringLength is CODE_MAX_STRING_LENGTH (400000), in characters.
	MaxStringLength int
	// MaxNumber is CODE_MAX_NUMBER (9223372036854775807).
	MaxNumber int64
	// MinNumber is CODE_MIN_NUMBER (-9223372036854775807).
	MinNumber int64
	// MaxPrecision is CODE_MAX_PRECISION (20 decimal places).
	MaxPrecision int
	// MaxDepth is CODE_MAX_DEPTH (5).
	MaxDepth int
	// MaxStringArrayLength is CODE_MAX_STRING_ARRAY_LENGTH (30).
	MaxStringArrayLength int
	// MaxObjectArrayLength is CODE_MAX_OBJECT_ARRAY_LENGTH (30).
	MaxObjectArrayLength int
	// MaxNumberArrayLength is CODE_MAX_NUMBER_ARRAY_LENGTH (1000).
	MaxNumberArrayLength int
}

func (l Limits) withDefaults() Limits {
	l.MaxStringLength = cmp.Or(l.MaxStringLength, 400000)
	l.MaxNumber = cmp.Or(l.MaxNumber, 9223372036854775807)
	l.MinNumber = cmp.Or(l.MinNumber, -9223372036854775807)
	l.MaxPrecision = cmp.Or(l.MaxPrecision, 20)
	l.MaxDepth = cmp.Or(l.MaxDepth, 5)
	l.MaxStringArrayLength = cmp.Or(l.MaxStringArrayLength, 30)
	l.MaxObjectArrayLength = cmp.Or(l.MaxObjectArrayLength, 30)
	l.MaxNumberArrayLength = cmp.Or(l.MaxNumberArrayLength, 1000)
	return l
}

func (c Config) withDefaults() Config {
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.MaxResultBytes = cmp.Or(c.MaxResultBytes, DefaultMaxResultBytes)
	c.JSPoolSize = cmp.Or(c.JSPoolSize, runtime.GOMAXPROCS(0))
	c.JSMemoryLimit = cmp.Or(c.JSMemoryLimit, DefaultJSMemoryLimit)
	c.JSMaxStringLength = cmp.Or(c.JSMaxStringLength, DefaultJSMaxStringLength)
	c.JSMaxCallStackSize = cmp.Or(c.JSMaxCallStackSize, DefaultJSMaxCallStackSize)
	c.PythonBinary = cmp.Or(c.PythonBinary, DefaultPythonBinary)
	c.PythonWorkers = cmp.Or(c.PythonWorkers, DefaultPythonWorkers)
	c.PythonMemoryLimit = cmp.Or(c.PythonMemoryLimit, DefaultPythonMemoryLimit)
	if c.PythonCPULimit == 0 {
		c.PythonCPULimit = c.Timeout.Truncate(time.Second) + time.Second
		if c.Timeout%time.Second != 0 {
			c.PythonCPULimit += time.Second
		}
	}
	c.PythonStartTimeout = cmp.Or(c.PythonStartTimeout, DefaultPythonStartTimeout)
	c.PythonMaxThreads = cmp.Or(c.PythonMaxThreads, DefaultPythonMaxThreads)
	c.PythonMaxConnections = cmp.Or(c.PythonMaxConnections, DefaultPythonMaxConnections)
	if c.PythonPreload == nil {
		c.PythonPreload = DefaultPythonPreload
	}
	c.PythonUID = cmp.Or(c.PythonUID, nobody)
	c.PythonGID = cmp.Or(c.PythonGID, nobody)
	c.EndpointTimeout = cmp.Or(c.EndpointTimeout, DefaultEndpointTimeout)
	c.Limits = c.Limits.withDefaults()
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.Timeout < 0 {
		errs = append(errs, errors.New("Timeout must not be negative"))
	}
	if c.MaxResultBytes < 0 {
		errs = append(errs, errors.New("MaxResultBytes must not be negative"))
	}
	if c.JSPoolSize < 0 || c.PythonWorkers < 0 {
		errs = append(errs, errors.New("pool sizes must not be negative"))
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("Endpoint %q is not an http(s) URL", c.Endpoint))
		}
	}
	l := c.Limits
	if l.MinNumber > l.MaxNumber {
		errs = append(errs, errors.New("Limits.MinNumber must not exceed Limits.MaxNumber"))
	}
	if l.MaxStringLength < 0 || l.MaxPrecision < 0 || l.MaxDepth < 0 || l.MaxStringArrayLength < 0 ||
		l.MaxObjectArrayLength < 0 || l.MaxNumberArrayLength < 0 {
		errs = append(errs, errors.New("Limits must not be negative"))
	}
	return errors.Join(errs...)
}
