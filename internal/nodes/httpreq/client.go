package httpreq

import (
	"crypto/tls"
	"errors"
	"net/http"
	"sync"
	"time"
)

// errTooManyRedirects is httpx's TooManyRedirects message.
var errTooManyRedirects = errors.New("Exceeded maximum allowed redirects.") //nolint:staticcheck // httpx's exact message

// transportKey identifies the transport settings a node needs. Nodes with
// the same settings share a transport and so its idle connections.
type transportKey struct {
	insecure bool
	connect  time.Duration
	read     time.Duration
	write    time.Duration
}

// maxCachedTransports bounds the transports kept for reuse; requests with
// settings beyond it get a transport of their own, closed after use.
const maxCachedTransports = 32

// clients hands out guarded HTTP clients.
type clients struct {
	cfg    Config
	policy *policy

	mu sync.Mutex
	m  map[transportKey]*http.Transport
}

func newClients(cfg Config, p *policy) *clients {
	return &clients{cfg: cfg, policy: p, m: map[transportKey]*http.Transport{}}
}

// client returns a client for k and a function to call when done with it.
func (cs *clients) client(k transportKey) (*http.Client, func()) {
	t, release := cs.transport(k)
	maxRedirects := cs.cfg.MaxRedirects
	return &http.Client{
		Transport: t,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			// via holds every request made so far: the first redirect
			// sees one. httpx follows max_redirects redirects.
			if len(via) > maxRedirects {
				return errTooManyRedirects
			}
			return nil
		},
	}, release
}

func (cs *clients) transport(k transportKey) (*http.Transport, func()) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if t, ok := cs.m[k]; ok {
		return t, func() {}
	}
	t := cs.newTransport(k)
	if len(cs.m) < maxCachedTransports {
		cs.m[k] = t
		return t, func() {}
	}
	return t, t.CloseIdleConnections
}

// closeIdle closes the idle connections of every cached transport.
func (cs *clients) closeIdle() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, t := range cs.m {
		t.CloseIdleConnections()
	}
}

func (cs *clients) newTransport(k transportKey) *http.Transport {
	var t *http.Transport
	if cs.cfg.Transport != nil {
		t = cs.cfg.Transport.Clone()
	} else {
		t = &http.Transport{
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   10,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	// The guard must see every connection: no proxy (it would connect on
	// our behalf to wherever the request says) and no custom dialers.
	t.Proxy = nil
	t.OnProxyConnectResponse = nil
	t.DialTLSContext = nil
	//lint:ignore SA1019 cleared so that it cannot bypass DialContext
	t.DialTLS = nil
	//lint:ignore SA1019 cleared so that it cannot bypass DialContext
	t.Dial = nil
	t.DialContext = newGuardedDialer(cs.policy, cs.cfg.Resolver, k.connect, k.read, k.write, cs.cfg.dial).DialContext
	// Content-Encoding is decoded by the node (as httpx does), so the
	// response headers stay as the server sent them.
	t.DisableCompression = true
	t.TLSHandshakeTimeout = k.connect
	var tc *tls.Config
	if t.TLSClientConfig != nil {
		tc = t.TLSClientConfig.Clone()
	} else {
		tc = &tls.Config{}
	}
	tc.InsecureSkipVerify = k.insecure // only a node's ssl_verify: false turns it on
	t.TLSClientConfig = tc
	return t
}
