package httpreq

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
)

// dnsFailing fails every lookup the way the system resolver does, naming
// the DNS server that answered.
type dnsFailing struct{}

func (dnsFailing) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: host, Server: "10.0.0.2:53", IsNotFound: true}
}

// TestErrorsHideInternalAddresses: a failed lookup reports the host and
// the reason, never the address of the DNS server that answered.
func TestErrorsHideInternalAddresses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Resolver: dnsFailing{}, dial: noDial(t)})
	o := h.runHTTP(t, map[string]any{"url": "http://nowhere.test/x"}, nil)
	n := o.http(t)
	wantFailure(t, n, ErrTypeNode, "lookup nowhere.test: no such host")
	if strings.Contains(n.Error, "10.0.0.2") {
		t.Fatalf("error names the DNS server: %s", n.Error)
	}
}

// TestErrorsQuoteABoundedURL: a URL built from a long input is quoted
// only in part.
func TestErrorsQuoteABoundedURL(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Resolver: dnsFailing{}, dial: noDial(t)})
	long := strings.Repeat("a", 100_000)
	o := h.runHTTP(t, map[string]any{"url": "http://nowhere.test/{{#start.q#}}"}, map[string]any{"q": long})
	n := o.http(t)
	if n.Status != "failed" || len(n.Error) > 1000 || !strings.Contains(n.Error, "characters)") {
		t.Fatalf("%s error of %d bytes: %.300s", n.Status, len(n.Error), n.Error)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	err := &url.Error{Op: "Get", URL: "http://svc.test/" + strings.Repeat("p", 5000), Err: errors.Join(
		&net.OpError{Op: "read", Net: "tcp", Source: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 41234}, Addr: &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 80}, Err: errors.New("connection reset by peer")},
		&net.DNSError{Err: "server misbehaving", Name: "svc.test", Server: "127.0.0.53:53"},
	)}
	redact(err)
	msg := err.Error()
	for _, leak := range []string{"10.0.0.5", "41234", "127.0.0.53", strings.Repeat("p", 300)} {
		if strings.Contains(msg, leak) {
			t.Fatalf("%q leaks %q", msg, leak)
		}
	}
	for _, keep := range []string{"read tcp 203.0.113.7:80: connection reset by peer", "lookup svc.test: server misbehaving"} {
		if !strings.Contains(msg, keep) {
			t.Fatalf("%q lacks %q", msg, keep)
		}
	}
}
