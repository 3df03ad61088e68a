package httpreq

import (
	"errors"
	"net"
	"net/url"

	"github.com/flowrun/flowrun/internal/run"
)

// redact strips what a request's error must not tell the workflow, its
// user or its run record: the address of the DNS server that answered
// (net.DNSError.Server, "lookup x on 10.0.0.2:53: …"), the service's own
// local address (net.OpError.Source, "read tcp 10.0.0.5:41234->…"), and
// all but a bounded prefix of the URL, which a workflow may build from
// megabytes of input. It changes the errors in place: they are the fresh
// values of one request, which nobody else holds.
func redact(err error) {
	walkErrors(err, func(e error) {
		switch x := e.(type) {
		case *net.DNSError:
			x.Server = ""
		case *net.OpError:
			x.Source = nil
		case *url.Error:
			x.URL = run.Clip(x.URL)
		}
	})
}

// walkErrors calls f on every error in err's tree.
func walkErrors(err error, f func(error)) {
	for err != nil {
		f(err)
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walkErrors(e, f)
			}
			return
		default:
			err = errors.Unwrap(err)
		}
	}
}
