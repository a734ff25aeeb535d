package transport

import "net/http"

// Middleware wraps a RoundTripper in another. Layer packages return plain
// func(http.RoundTripper) http.RoundTripper values, which convert to
// Middleware implicitly.
type Middleware func(http.RoundTripper) http.RoundTripper

// RoundTripperFunc adapts an ordinary function to the http.RoundTripper
// interface, as http.HandlerFunc does for handlers.
type RoundTripperFunc func(*http.Request) (*http.Response, error)

// RoundTrip calls f(req).
func (f RoundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// Chain wraps base in mws: the first middleware listed is the outermost, the
// one a request meets first. A nil base means http.DefaultTransport; nil
// middlewares are skipped.
func Chain(base http.RoundTripper, mws ...Middleware) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	rt := base
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] != nil {
			rt = mws[i](rt)
		}
	}
	return rt
}

// Wrap returns a copy of c whose transport is c's own (or
// http.DefaultTransport) wrapped in mws, as by [Chain]. The copy keeps c's
// Jar, Timeout and CheckRedirect; c itself is not modified. A nil c means
// a zero http.Client.
func Wrap(c *http.Client, mws ...Middleware) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	}
	out.Transport = Chain(out.Transport, mws...)
	return &out
}
