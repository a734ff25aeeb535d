package idempotency

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/resilient-http/resilient/transport/errclass"
)

// Transport is an http.RoundTripper that adds a key to each POST and PATCH
// request without one (see the package doc). It is safe for concurrent
// use. Create it with [New] or [Middleware]; the zero Transport is not
// usable.
type Transport struct {
	next   http.RoundTripper
	header string // canonical
	newKey func() string
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport that sends requests through next (nil means
// http.DefaultTransport), keyed as p says. p is copied.
func New(next http.RoundTripper, p Policy) *Transport {
	if next == nil {
		next = http.DefaultTransport
	}
	t := &Transport{next: next, header: http.CanonicalHeaderKey(p.Header), newKey: p.New}
	if t.header == "" {
		t.header = DefaultHeader
	}
	if t.newKey == nil {
		t.newKey = UUIDv7
	}
	return t
}

// Middleware returns a function that wraps a RoundTripper in a Transport
// with policy p. Its type is assignable to transport.Middleware. Put it
// above retry, so that every attempt carries the same key.
func Middleware(p Policy) func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper { return New(next, p) }
}

// CloseIdleConnections closes the idle connections of the RoundTripper
// below, if it has such a method, as http.Client.CloseIdleConnections
// expects of its Transport.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// RoundTrip sends req through the RoundTripper below. A POST or PATCH
// without a key goes as a copy of req with a fresh key in the policy's
// header (req itself is not modified, and the copy is what the response's
// Request is); any other request goes as it is. The response and error
// from below come back as they are, but a (nil, nil), which becomes an
// error matching errclass.ErrNilResponse.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil || req.URL == nil {
		if req != nil && req.Body != nil {
			req.Body.Close() // RoundTrippers close the request body, even on error
		}
		return nil, fmt.Errorf("idempotency: %w: nil request or URL", errclass.ErrInvalidRequest)
	}
	if t.needsKey(req) {
		keyed := *req // shallow: the body, URL and context are the caller's, unchanged
		keyed.Header = withKey(req.Header, t.header, t.newKey())
		req = &keyed
	}
	resp, err := t.next.RoundTrip(req)
	if resp == nil && err == nil {
		return nil, fmt.Errorf("idempotency: %T: %w", t.next, errclass.ErrNilResponse)
	}
	return resp, err
}

// needsKey reports whether req is a POST or PATCH that carries no key.
func (t *Transport) needsKey(req *http.Request) bool {
	if req.Method != http.MethodPost && req.Method != http.MethodPatch {
		return false
	}
	if _, ok := req.Header[t.header]; ok {
		return false
	}
	if errclass.HasIdempotencyKey(req) {
		return false
	}
	// The caller's key may sit under a name in another case (set straight
	// into the map): net/http sends it as it is, so it is the caller's
	// key all the same, and a second one beside it would contradict it.
	for k := range req.Header {
		if strings.EqualFold(k, t.header) {
			return false
		}
	}
	return true
}

// withKey returns a copy of h with name set to key, as h.Clone would
// copy it (nil values kept nil) but with room for the key made in the
// same allocations: one map, one backing array for every value.
func withKey(h http.Header, name, key string) http.Header {
	n := 1
	for _, vv := range h {
		n += len(vv)
	}
	sv := make([]string, n)
	out := make(http.Header, len(h)+1)
	for k, vv := range h {
		if vv == nil {
			out[k] = nil
			continue
		}
		m := copy(sv, vv)
		out[k] = sv[:m:m] // capped: an append below never reaches the next value
		sv = sv[m:]
	}
	sv[0] = key
	out[name] = sv[:1:1]
	return out
}
