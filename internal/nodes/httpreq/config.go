package httpreq

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/flowrun/flowrun/internal/files"
)

// Defaults, as in Dify (HTTP_REQUEST_MAX_CONNECT_TIMEOUT,
// HTTP_REQUEST_MAX_READ_TIMEOUT, HTTP_REQUEST_MAX_WRITE_TIMEOUT,
// HTTP_REQUEST_NODE_MAX_TEXT_SIZE, HTTP_REQUEST_NODE_MAX_BINARY_SIZE) and
// httpx (max_redirects).
const (
	DefaultMaxConnectTimeout = 10 * time.Second
	DefaultMaxReadTimeout    = 600 * time.Second
	DefaultMaxWriteTimeout   = 600 * time.Second
	DefaultMaxTextSize       = 1 << 20  // 1 MiB
	DefaultMaxBinarySize     = 10 << 20 // 10 MiB
	DefaultMaxRedirects      = 20
)

// Resolver looks up the addresses of a host name. *net.Resolver implements
// it; tests substitute a fake so that name resolution (and DNS rebinding)
// can be exercised without a network.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Config tunes the http-request node. Zero values take the defaults noted
// per field. Only cmd/ reads the environment; it fills this struct.
type Config struct {
	// MaxConnectTimeout is the connect timeout used when a node sets none,
	// and the ceiling for the one it sets (default 10 s).
	MaxConnectTimeout time.Duration
	// MaxReadTimeout is the read timeout (longest wait for the next bytes
	// of the response) used when a node sets none, and its ceiling
	// (default 600 s).
	MaxReadTimeout time.Duration
	// MaxWriteTimeout is the write timeout (longest wait to send the next
	// bytes of the request) used when a node sets none, and its ceiling
	// (default 600 s).
	MaxWriteTimeout time.Duration
	// MaxTextSize caps a text response body in bytes (default 1 MiB).
	MaxTextSize int64
	// MaxBinarySize caps a file response body, and a remote file fetched
	// for a request body, in bytes (default 10 MiB).
	MaxBinarySize int64
	// MaxRedirects bounds the redirects followed per request (default 20).
	MaxRedirects int

	// AllowPrivateNetworks turns off the SSRF guard's address classes
	// (loopback, private, link-local, CGNAT, unspecified, multicast, ...),
	// except the cloud metadata addresses, which stay refused unless Allow
	// lists them. Default false: only public addresses are reachable.
	AllowPrivateNetworks bool
	// Allow lists destinations that bypass the SSRF guard: CIDR prefixes
	// ("10.1.0.0/16"), single IP addresses ("127.0.0.1", "::1"), host
	// names ("api.internal", matched case-insensitively) and
	// sub-domain wildcards ("*.corp.example", which matches every name
	// under corp.example but not corp.example itself). A host name entry
	// admits every address the name resolves to.
	Allow []string

	// Uploads is the file store whose uploads (local_file files of the
	// run's app) the node may send (nil: none can be sent).
	Uploads files.Opener

	// Resolver resolves host names (default net.DefaultResolver).
	Resolver Resolver
	// Transport is cloned as the base of every transport the node uses
	// (default: a fresh http.Transport). Whatever it says, the clone gets
	// the guarded DialContext, no proxy, no DialTLSContext, and
	// InsecureSkipVerify only when a node sets ssl_verify: false. Tests use
	// it to trust a test server's certificate.
	Transport *http.Transport

	// dial replaces the raw TCP dial after the guard's checks (tests).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (c Config) withDefaults() Config {
	c.MaxConnectTimeout = cmp.Or(c.MaxConnectTimeout, DefaultMaxConnectTimeout)
	c.MaxReadTimeout = cmp.Or(c.MaxReadTimeout, DefaultMaxReadTimeout)
	c.MaxWriteTimeout = cmp.Or(c.MaxWriteTimeout, DefaultMaxWriteTimeout)
	c.MaxTextSize = cmp.Or(c.MaxTextSize, DefaultMaxTextSize)
	c.MaxBinarySize = cmp.Or(c.MaxBinarySize, DefaultMaxBinarySize)
	c.MaxRedirects = cmp.Or(c.MaxRedirects, DefaultMaxRedirects)
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.MaxConnectTimeout < 0 || c.MaxReadTimeout < 0 || c.MaxWriteTimeout < 0:
		return fmt.Errorf("httpreq: timeouts must not be negative")
	case c.MaxTextSize < 0 || c.MaxBinarySize < 0:
		return fmt.Errorf("httpreq: size caps must not be negative")
	case c.MaxRedirects < 0:
		return fmt.Errorf("httpreq: MaxRedirects must not be negative")
	}
	return nil
}

// parseAllow splits Allow into address prefixes and host names.
func parseAllow(entries []string) (prefixes []netip.Prefix, hosts []string, err error) {
	for _, e := range entries {
		s := strings.TrimSpace(e)
		if s == "" {
			continue
		}
		if p, perr := netip.ParsePrefix(s); perr == nil {
			prefixes = append(prefixes, p.Masked())
			continue
		}
		if a, aerr := netip.ParseAddr(s); aerr == nil {
			a = a.WithZone("")
			prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		name := strings.ToLower(strings.TrimSuffix(s, "."))
		if strings.ContainsAny(name, "/ :") || name == "" || name == "*." {
			return nil, nil, fmt.Errorf("httpreq: Allow entry %q is neither a CIDR, an IP address nor a host name", e)
		}
		hosts = append(hosts, name)
	}
	return prefixes, hosts, nil
}
