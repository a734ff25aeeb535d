// Package cutoff lets the breaker bound its half-open probes and hear how
// a watched body ended, using package timeout (whose [timeout.Transport]
// holds the mechanism) without making either hook part of timeout's API.
package cutoff

import (
	"net/http"
	"time"

	"github.com/resilient-http/resilient/transport/timeout"
)

// A Reporter hears how a watched body ended: cut by its idle bound (cut
// is true), or otherwise (read to the end, failed, or closed). token is
// what the Reporter passed to [Notifier.NotifyCut]. It is an alias of an
// interface literal so that package timeout's bodies implement [Notifier]
// without importing this package.
type Reporter = interface {
	BodyDone(token uint64, cut bool)
}

// A Notifier is a body that may be cut by an idle bound: the bodies of
// responses through a [timeout.Transport]. NotifyCut asks it to tell r,
// once, how it ends, and reports whether it will: false when it has no
// idle bound (nothing to watch) or has ended already. A breaker uses it to
// count a response only once its body is done.
type Notifier interface {
	NotifyCut(r Reporter, token uint64) bool
}

// Bound describes how RoundTrip cuts a request (see [timeout.Policy]).
type Bound struct {
	// Headers bounds the wait for response headers; 0 or less: none.
	Headers time.Duration
	// HeadersErr is the sentinel for Headers (timeout.Policy.HeadersErr).
	HeadersErr error
	// Idle cuts the body when no byte arrives for that long; 0 or less:
	// none.
	Idle time.Duration
	// IdleErr is the sentinel for Idle (timeout.Policy.BodyIdleErr).
	IdleErr error
	// Deadline is timeout.Policy.ReportDeadline.
	Deadline bool
}

// RoundTrip sends req through next, bounded by b, as a [timeout.Transport]
// would.
func RoundTrip(next http.RoundTripper, req *http.Request, b Bound) (*http.Response, error) {
	return timeout.New(next, timeout.Policy{
		Headers: b.Headers, HeadersErr: b.HeadersErr,
		BodyIdle: b.Idle, BodyIdleErr: b.IdleErr,
		ReportDeadline: b.Deadline,
	}).RoundTrip(req)
}
