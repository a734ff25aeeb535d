package transport

import (
	"errors"
	"net/http"
	"time"

	"github.com/resilient-http/resilient/transport/internal/cutoff"
)

// ErrAttemptTimeout is matched, through errors.Is, by the error of an
// attempt cut by Policy.AttemptTimeout. The error also matches
// context.DeadlineExceeded, so classifiers see a timeout, not the caller's
// cancellation.
var ErrAttemptTimeout = errors.New("transport: attempt timed out")

// ErrTimeout is matched, through errors.Is, by the error of a request cut
// by Policy.Timeout before its final response's headers arrived. Like
// ErrAttemptTimeout, the error also matches context.DeadlineExceeded.
var ErrTimeout = errors.New("transport: request timed out")

// ErrBodyIdleTimeout is matched, through errors.Is, by the error of a
// response body read cut by Policy.BodyIdleTimeout: no byte arrived for
// that long. The error also matches context.DeadlineExceeded.
var ErrBodyIdleTimeout = errors.New("transport: response body idle too long")

// boundLayer cuts requests as its cutoff.Bound says: the attempt timeout
// and body idle timeout (at the bottom of a stack) or the total timeout
// (above retry).
type boundLayer struct {
	next http.RoundTripper
	b    cutoff.Bound
}

func (l *boundLayer) RoundTrip(req *http.Request) (*http.Response, error) {
	return cutoff.RoundTrip(l.next, req, l.b)
}

// CloseIdleConnections closes the idle connections of the RoundTripper
// below, if it keeps any.
func (l *boundLayer) CloseIdleConnections() { closeIdle(l.next) }

// attemptTimeout bounds each attempt until its headers (d) and each wait
// for a byte of its body (idle); a zero or negative bound is off.
func attemptTimeout(d, idle time.Duration) Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return &boundLayer{next: next, b: cutoff.Bound{
			Headers: d, HeadersErr: ErrAttemptTimeout,
			Idle: idle, IdleErr: ErrBodyIdleTimeout,
		}}
	}
}

// totalTimeout bounds a request, every attempt and wait included, until
// its final response's headers; the body is not cut by it. Layers below
// see the bound as their context's deadline, so retry does not start a
// wait that could not end in time.
func totalTimeout(d time.Duration) Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return &boundLayer{next: next, b: cutoff.Bound{Headers: d, HeadersErr: ErrTimeout, Deadline: true}}
	}
}

// closeIdle forwards CloseIdleConnections to rt when it has the method, as
// http.Client does with its transport.
func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
