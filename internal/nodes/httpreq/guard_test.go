package httpreq

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// noDial fails the test if the guard lets a connection through.
func noDial(t *testing.T) func(context.Context, string, string) (net.Conn, error) {
	return func(_ context.Context, _, addr string) (net.Conn, error) {
		t.Errorf("guard let a dial to %s through", addr)
		return nil, errors.New("test: no network")
	}
}

// fakeInternet routes dials to made-up public addresses to the stub, so
// tests can reach "public" hosts without a network. It records every
// address dialled.
type fakeInternet struct {
	mu     sync.Mutex
	routes map[string]string // "203.0.113.10:80" -> stub address
	dialed []string
}

func (f *fakeInternet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	f.mu.Lock()
	f.dialed = append(f.dialed, addr)
	to, ok := f.routes[addr]
	f.mu.Unlock()
	if !ok {
		return nil, errors.New("fake internet: no route to " + addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, to)
}

func (f *fakeInternet) addrs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.dialed...)
}

func TestDefaultConfigRefusesTheStub(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	h := newHarness(t, Config{})
	for _, u := range []string{s.URL, "http://localhost:" + s.port() + "/"} {
		o := h.runHTTP(t, map[string]any{"url": u}, nil)
		wantFailure(t, o.http(t), ErrTypeSSRF, "Access to '"+u+"' was blocked by SSRF protection. The URL may point to a private or local network address.")
		if !strings.Contains(o.http(t).Error, "loopback address") {
			t.Fatalf("error %q", o.http(t).Error)
		}
	}
	if n := len(s.requests()); n != 0 {
		t.Fatalf("stub received %d requests", n)
	}
	// The same stub is reachable once allow-listed.
	o := newHarness(t, allowStub()).runHTTP(t, map[string]any{"url": s.URL}, nil)
	wantSucceeded(t, o)
}

func TestRefusedAddressClasses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{dial: noDial(t)})
	cases := []struct{ host, class string }{
		{"127.0.0.1", "loopback"},
		{"127.9.8.7", "loopback"},
		{"[::1]", "loopback"},
		{"10.0.0.1", "private"},
		{"172.16.5.4", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"[fc00::1]", "private"},
		{"[fd12:3456::1]", "private"},
		{"169.254.10.10", "link-local"},
		{"[fe80::1]", "link-local"},
		{"[fe80::1%25eth0]", "link-local"},
		{"169.254.169.254", "cloud metadata"},
		{"[fd00:ec2::254]", "cloud metadata"},
		{"100.100.100.200", "cloud metadata"},
		{"0.0.0.0", "unspecified"},
		{"[::]", "unspecified"},
		{"0.1.2.3", "this-network"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.254", "carrier-grade NAT"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"[ff02::1]", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},
		{"198.18.0.1", "benchmarking"},
		{"[::ffff:127.0.0.1]", "loopback"},
		{"[::ffff:7f00:1]", "loopback"},
		{"[::ffff:10.0.0.1]", "private"},
		{"[::ffff:192.168.0.1]", "private"},
		{"[::ffff:169.254.169.254]", "cloud metadata"},
		{"[::ffff:a9fe:a9fe]", "cloud metadata"},
		{"[::ffff:100.64.0.1]", "carrier-grade NAT"},
		{"[::ffff:0.0.0.0]", "unspecified"},
		{"[::127.0.0.1]", "loopback"},
		{"[64:ff9b::10.0.0.1]", "private"},
		{"[64:ff9b::169.254.169.254]", "cloud metadata"},
		{"[2002:a00:1::]", "private"},
	}
	for _, c := range cases {
		t.Run(c.host, func(t *testing.T) {
			t.Parallel()
			u := "http://" + c.host + ":8080/x"
			o := h.runHTTP(t, map[string]any{"url": u}, nil)
			wantFailure(t, o.http(t), ErrTypeSSRF, "Access to '"+u+"' was blocked by SSRF protection.")
			if !strings.Contains(o.http(t).Error, c.class+" address") {
				t.Fatalf("error %q, want class %q", o.http(t).Error, c.class)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"8.8.8.8":                "",
		"1.1.1.1":                "",
		"203.0.113.10":           "",
		"2606:4700:4700::1111":   "",
		"::ffff:8.8.8.8":         "",
		"64:ff9b::8.8.8.8":       "",
		"2002:808:808::1":        "",
		"100.63.255.255":         "",
		"100.128.0.0":            "",
		"172.15.255.255":         "",
		"172.32.0.0":             "",
		"169.254.169.254":        classMetadata,
		"fd00:ec2::254":          classMetadata,
		"::ffff:100.100.100.200": classMetadata,
		"fec0::1":                "site-local",
		"100::1":                 "discard-only",
		"192.0.0.8":              "IETF protocol assignment",
	} {
		if got := classify(netip.MustParseAddr(addr)); got != want {
			t.Errorf("classify(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestHostnameResolvingToPrivateAddress(t *testing.T) {
	t.Parallel()
	res := newResolver(map[string][]string{
		"evil.test":     {"192.168.0.10"},
		"evil6.test":    {"fd00::5"},
		"mapped.test":   {"::ffff:10.1.1.1"},
		"metadata.test": {"169.254.169.254"},
		"all-bad.test":  {"10.0.0.1,127.0.0.1"},
	})
	h := newHarness(t, Config{Resolver: res, dial: noDial(t)})
	for host, msg := range map[string]string{
		"evil.test":     "evil.test resolves to 192.168.0.10 (private address)",
		"evil6.test":    "evil6.test resolves to fd00::5 (private address)",
		"mapped.test":   "mapped.test resolves to 10.1.1.1 (private address)",
		"metadata.test": "metadata.test resolves to 169.254.169.254 (cloud metadata address)",
		"all-bad.test":  "all-bad.test resolves to 10.0.0.1 (private address)",
	} {
		o := h.runHTTP(t, map[string]any{"url": "http://" + host + "/"}, nil)
		wantFailure(t, o.http(t), ErrTypeSSRF, msg)
	}
	o := h.runHTTP(t, map[string]any{"url": "http://unknown.test/"}, nil)
	wantFailure(t, o.http(t), ErrTypeNode, "no such host")
}

func TestPublicAddressAmongPrivateOnesIsUsed(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	inet := &fakeInternet{routes: map[string]string{"203.0.113.10:80": s.Listener.Addr().String()}}
	res := newResolver(map[string][]string{"mixed.test": {"10.0.0.1,203.0.113.10"}})
	h := newHarness(t, Config{Resolver: res, dial: inet.dial})
	o := h.runHTTP(t, map[string]any{"url": "http://mixed.test/"}, nil)
	wantSucceeded(t, o)
	if got := inet.addrs(); len(got) != 1 || got[0] != "203.0.113.10:80" {
		t.Fatalf("dialled %v, want only the public address", got)
	}
}

// TestDNSRebinding: the name answers a public address, then a loopback
// one. The guard resolves once per connection and connects to the address
// it checked, so the first request reaches the public host and the second
// connection (the response said Connection: close) is refused; the
// transport never resolves the name on its own.
func TestDNSRebinding(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = w.Write([]byte("public host: " + r.Host))
	})
	inet := &fakeInternet{routes: map[string]string{"203.0.113.10:80": s.Listener.Addr().String()}}
	res := newResolver(map[string][]string{"rebind.test": {"203.0.113.10", "127.0.0.1"}})
	h := newHarness(t, Config{Resolver: res, dial: inet.dial})

	o := h.runHTTP(t, map[string]any{"url": "http://rebind.test/"}, nil)
	wantSucceeded(t, o)
	if o.out(t, "body") != "public host: rebind.test" {
		t.Fatalf("body %q", o.out(t, "body"))
	}
	o = h.runHTTP(t, map[string]any{"url": "http://rebind.test/"}, nil)
	wantFailure(t, o.http(t), ErrTypeSSRF, "rebind.test resolves to 127.0.0.1 (loopback address)")
	if got := res.count("rebind.test"); got != 2 {
		t.Fatalf("%d lookups, want one per connection (2)", got)
	}
	if got := inet.addrs(); len(got) != 1 || got[0] != "203.0.113.10:80" {
		t.Fatalf("dialled %v, want only the checked public address", got)
	}
}

// TestSocketLevelCheck: the raw dialer's ControlContext refuses a
// blocked address even when the pre-dial check is bypassed.
func TestSocketLevelCheck(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	d := newGuardedDialer(&policy{}, newResolver(nil), 0, 0, 0, nil)
	_, err := d.raw(context.Background(), "tcp", s.Listener.Addr().String())
	var be *BlockedError
	if !errors.As(err, &be) || be.Class != "loopback" || !errors.Is(err, ErrBlocked) {
		t.Fatalf("raw dial to the stub: %v", err)
	}
	// An allow-listed host name lets every address through.
	ctx := context.WithValue(context.Background(), hostAllowedKey{}, true)
	c, err := d.raw(ctx, "tcp", s.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if err := d.control(context.Background(), "tcp4", "8.8.8.8:443", nil); err != nil {
		t.Fatalf("public address refused: %v", err)
	}
	if err := d.control(context.Background(), "tcp6", "[::ffff:169.254.169.254]:80", nil); !errors.Is(err, ErrBlocked) {
		t.Fatalf("mapped metadata address: %v", err)
	}
	if err := d.control(context.Background(), "unix", "/tmp/sock", nil); !errors.Is(err, ErrBlocked) {
		t.Fatalf("non-IP address: %v", err)
	}
}

func TestAllowList(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	port := s.port()
	res := newResolver(map[string][]string{
		"api.internal":   {"127.0.0.1"},
		"svc.corp.test":  {"127.0.0.1"},
		"corp.test":      {"127.0.0.1"},
		"other.internal": {"127.0.0.1"},
	})
	cases := []struct {
		name  string
		allow []string
		url   string
		ok    bool
	}{
		{"cidr", []string{"127.0.0.0/8"}, "http://127.0.0.1:" + port + "/", true},
		{"cidr covers mapped form", []string{"127.0.0.0/8"}, "http://[::ffff:127.0.0.1]:" + port + "/", true},
		{"ip", []string{"127.0.0.1"}, "http://127.0.0.1:" + port + "/", true},
		{"other ip", []string{"127.0.0.2"}, "http://127.0.0.1:" + port + "/", false},
		{"host name", []string{"API.Internal"}, "http://api.internal:" + port + "/", true},
		{"other host name", []string{"api.internal"}, "http://other.internal:" + port + "/", false},
		{"wildcard", []string{"*.corp.test"}, "http://svc.corp.test:" + port + "/", true},
		{"wildcard excludes apex", []string{"*.corp.test"}, "http://corp.test:" + port + "/", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := newHarness(t, Config{Allow: c.allow, Resolver: res}).runHTTP(t, map[string]any{"url": c.url}, nil)
			if c.ok {
				wantSucceeded(t, o)
			} else {
				wantFailure(t, o.http(t), ErrTypeSSRF, "blocked by SSRF protection")
			}
		})
	}
}

func TestAllowPrivateNetworksStillRefusesMetadata(t *testing.T) {
	t.Parallel()
	s := newStub(t, nil)
	res := newResolver(map[string][]string{"metadata.test": {"169.254.169.254"}})
	h := newHarness(t, Config{AllowPrivateNetworks: true, Resolver: res})
	wantSucceeded(t, h.runHTTP(t, map[string]any{"url": s.URL}, nil))
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://100.100.100.200/", "http://metadata.test/", "http://[::ffff:169.254.169.254]/"} {
		o := h.runHTTP(t, map[string]any{"url": u}, nil)
		wantFailure(t, o.http(t), ErrTypeSSRF, "cloud metadata address")
	}
	// Only an explicit allow-list entry opens a metadata address.
	fake := &fakeInternet{routes: map[string]string{"169.254.169.254:80": s.Listener.Addr().String()}}
	o := newHarness(t, Config{Allow: []string{"169.254.169.254"}, dial: fake.dial}).runHTTP(t, map[string]any{"url": "http://169.254.169.254/"}, nil)
	wantSucceeded(t, o)
}

// TestProxyIsNeverUsed: a proxy in the base transport (or the
// environment) would connect on the node's behalf; the guard drops it.
func TestProxyIsNeverUsed(t *testing.T) {
	t.Parallel()
	proxy := newStub(t, nil)
	s := newStub(t, nil)
	pu, _ := url.Parse(proxy.URL)
	cfg := allowStub()
	cfg.Transport = &http.Transport{Proxy: http.ProxyURL(pu)}
	h := newHarness(t, cfg)
	wantSucceeded(t, h.runHTTP(t, map[string]any{"url": s.URL + "/direct"}, nil))
	o := h.runHTTP(t, map[string]any{"url": "http://10.0.0.1/secret"}, nil)
	wantFailure(t, o.http(t), ErrTypeSSRF, "10.0.0.1 is a private address")
	if n := len(proxy.requests()); n != 0 {
		t.Fatalf("proxy received %d requests", n)
	}
	if s.only(t).Path != "/direct" {
		t.Fatal("direct request missing")
	}
}

// deadlineRecorder is a net.Conn recording the deadlines it is given.
type deadlineRecorder struct {
	net.Conn
	mu    sync.Mutex
	reads []time.Time
}

func (d *deadlineRecorder) SetReadDeadline(t time.Time) error {
	d.mu.Lock()
	d.reads = append(d.reads, t)
	d.mu.Unlock()
	return nil
}

func (d *deadlineRecorder) SetWriteDeadline(time.Time) error { return nil }
func (d *deadlineRecorder) Write(b []byte) (int, error)      { return len(b), nil }

// TestWriteMovesReadDeadline: after a request is written, the pending Read
// of a pooled connection may wait a full read timeout again.
func TestWriteMovesReadDeadline(t *testing.T) {
	t.Parallel()
	rec := &deadlineRecorder{}
	c := &deadlineConn{Conn: rec, read: time.Hour, write: time.Minute}
	before := time.Now()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reads) != 2 {
		t.Fatalf("read deadlines %v", rec.reads)
	}
	if d := rec.reads[0].Sub(before); d < time.Hour+time.Minute {
		t.Fatalf("read deadline during the write is %s ahead, want write+read", d)
	}
	if d := rec.reads[1].Sub(before); d < time.Hour || d > time.Hour+time.Minute {
		t.Fatalf("read deadline after the write is %s ahead, want read", d)
	}
}
