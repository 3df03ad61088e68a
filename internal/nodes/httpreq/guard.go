package httpreq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrBlocked is wrapped by every refusal of the SSRF guard.
var ErrBlocked = errors.New("destination blocked by SSRF protection")

// BlockedError is a destination the SSRF guard refused. It wraps
// ErrBlocked.
type BlockedError struct {
	// Host is the host name or IP literal that was dialled ("" when the
	// refusal came from the socket-level check).
	Host string
	// Addr is the refused address.
	Addr netip.Addr
	// Class says why it was refused: "loopback", "private",
	// "link-local", "cloud metadata", "unspecified", "carrier-grade NAT",
	// "multicast", "broadcast", ...
	Class string
}

// Error says which address was refused and why.
func (e *BlockedError) Error() string {
	if e.Host != "" && e.Host != e.Addr.String() {
		return fmt.Sprintf("%s resolves to %s (%s address)", e.Host, e.Addr, e.Class)
	}
	return fmt.Sprintf("%s is a %s address", e.Addr, e.Class)
}

// Unwrap returns ErrBlocked.
func (e *BlockedError) Unwrap() error { return ErrBlocked }

// metadataAddrs are cloud instance-metadata endpoints (AWS, GCP, Azure,
// OpenStack; AWS over IPv6; Alibaba Cloud). They stay refused even with
// AllowPrivateNetworks.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"),
}

const classMetadata = "cloud metadata"

// reservedRanges are special-purpose ranges not covered by netip's
// predicates, checked after them.
var reservedRanges = []struct {
	p     netip.Prefix
	class string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
}

// IPv6 ranges that embed an IPv4 address, which is classified in turn.
var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour  = netip.MustParsePrefix("2002::/16")
	v4Compat   = netip.MustParsePrefix("::/96")
)

// classify returns why a is not a public unicast address, or "" when it
// is one. IPv4-mapped, IPv4-compatible, NAT64 and 6to4 IPv6 forms are
// judged by the IPv4 address they carry.
func classify(a netip.Addr) string {
	a = a.WithZone("")
	if a.Is4In6() {
		a = a.Unmap()
	}
	for _, m := range metadataAddrs {
		if a == m {
			return classMetadata
		}
	}
	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast():
		return "multicast"
	}
	for _, r := range reservedRanges {
		if r.p.Contains(a) {
			return r.class
		}
	}
	if a.Is6() {
		b := a.As16()
		var v4 netip.Addr
		switch {
		case nat64.Contains(a), nat64Local.Contains(a), v4Compat.Contains(a):
			v4 = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		case sixToFour.Contains(a):
			v4 = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
		}
		if v4.IsValid() {
			if c := classify(v4); c != "" {
				return c
			}
		}
	}
	return ""
}

// policy decides which destinations may be dialled.
type policy struct {
	allowPrivate bool
	prefixes     []netip.Prefix
	hosts        []string // lower-case names or "*.suffix" wildcards
}

// hostAllowed reports whether host is allow-listed by name.
func (p *policy) hostAllowed(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	for _, e := range p.hosts {
		if suffix, ok := strings.CutPrefix(e, "*"); ok {
			if len(h) > len(suffix) && strings.HasSuffix(h, suffix) {
				return true
			}
		} else if h == e {
			return true
		}
	}
	return false
}

// check returns a *BlockedError when a may not be dialled.
func (p *policy) check(host string, a netip.Addr) error {
	bare := a.WithZone("")
	for _, pr := range p.prefixes {
		if pr.Contains(bare) || pr.Contains(bare.Unmap()) {
			return nil
		}
	}
	class := classify(a)
	if class == "" || (p.allowPrivate && class != classMetadata) {
		return nil
	}
	return &BlockedError{Host: host, Addr: a, Class: class}
}

// hostAllowedKey marks a dial context whose host name is allow-listed, so
// the socket-level check lets every address of that name through.
type hostAllowedKey struct{}

// guardedDialer resolves a host once, checks every address against the
// policy and dials the checked address itself, so a second (rebound) DNS
// answer never reaches the socket. The raw dial's ControlContext checks the
// address of the socket actually being connected once more. Connections
// get per-operation read and write deadlines (httpx's read/write timeouts).
type guardedDialer struct {
	policy   *policy
	resolver Resolver
	connect  time.Duration
	read     time.Duration
	write    time.Duration
	raw      func(ctx context.Context, network, addr string) (net.Conn, error)
}

func newGuardedDialer(p *policy, r Resolver, connect, read, write time.Duration, raw func(context.Context, string, string) (net.Conn, error)) *guardedDialer {
	d := &guardedDialer{policy: p, resolver: r, connect: connect, read: read, write: write, raw: raw}
	if d.raw == nil {
		nd := &net.Dialer{ControlContext: d.control}
		d.raw = nd.DialContext
	}
	return d
}

// DialContext is http.Transport's DialContext.
func (d *guardedDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("invalid port %q", portStr)
	}
	if d.connect > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.connect)
		defer cancel()
	}
	allowed := d.policy.hostAllowed(host)
	var addrs []netip.Addr
	named := host // reported in refusals; "" for an IP literal
	if a, err := netip.ParseAddr(host); err == nil {
		addrs, named = []netip.Addr{a}, ""
	} else {
		ips, err := d.resolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, err
		}
		for _, ip := range ips {
			if a, ok := netip.AddrFromSlice(ip.IP); ok {
				addrs = append(addrs, a.Unmap().WithZone(ip.Zone))
			}
		}
		if len(addrs) == 0 {
			return nil, &net.DNSError{Err: "no addresses found", Name: host, IsNotFound: true}
		}
	}
	if allowed {
		ctx = context.WithValue(ctx, hostAllowedKey{}, true)
	}
	var blocked, lastErr error
	for _, a := range addrs {
		if !allowed {
			if err := d.policy.check(named, a); err != nil {
				if blocked == nil {
					blocked = err
				}
				continue
			}
		}
		c, err := d.raw(ctx, network, netip.AddrPortFrom(a.Unmap(), uint16(port)).String())
		if err == nil {
			return &deadlineConn{Conn: c, read: d.read, write: d.write}, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, blocked
}

// control is the socket-level check: it sees the address the socket is
// about to connect to, whatever produced it.
func (d *guardedDialer) control(ctx context.Context, _, address string, _ syscall.RawConn) error {
	if ok, _ := ctx.Value(hostAllowedKey{}).(bool); ok {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check dial address %q", ErrBlocked, address)
	}
	return d.policy.check("", ap.Addr())
}

// deadlineConn applies a deadline to each read and each write, which is
// what httpx's read and write timeouts mean: the longest wait for the next
// bytes, not a bound on the whole transfer.
//
// The transport keeps a Read pending on every connection, idle ones
// included, so a write also moves the read deadline: the wait for a
// response starts when the request has been sent, not when a pooled
// connection went idle. (A deadline change applies to a pending Read.)
type deadlineConn struct {
	net.Conn
	read, write time.Duration
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	if c.read > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.read)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(b)
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	now := time.Now()
	if c.write > 0 {
		if err := c.Conn.SetWriteDeadline(now.Add(c.write)); err != nil {
			return 0, err
		}
	}
	if c.read > 0 {
		// While writing, the pending Read may wait as long as the write
		// may take plus a read timeout.
		_ = c.Conn.SetReadDeadline(now.Add(c.write + c.read))
	}
	n, err := c.Conn.Write(b)
	if c.read > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.read))
	}
	return n, err
}

// Dialer returns cfg's SSRF guard as a plain dial function: it resolves
// the host once, refuses what the http-request node would refuse (a
// *BlockedError wrapping ErrBlocked), and connects within
// cfg.MaxConnectTimeout. Code nodes reach the network through it.
func Dialer(cfg Config) (func(ctx context.Context, network, addr string) (net.Conn, error), error) {
	cfg, p, err := configure(cfg)
	if err != nil {
		return nil, err
	}
	d := newGuardedDialer(p, cfg.Resolver, cfg.MaxConnectTimeout, 0, 0, cfg.dial)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if dc, ok := c.(*deadlineConn); ok {
			return dc.Conn, err
		}
		return c, err
	}, nil
}
