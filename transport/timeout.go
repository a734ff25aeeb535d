package transport

import (
	"errors"
	"net/http"
	"time"

	"github.com/resilient-http/resilient/transport/timeout"
)

// ErrAttemptTimeout is matched, through errors.Is, by the error of an
// attempt cut by Policy.AttemptTimeout. The error also matches
// timeout.ErrHeaders and context.DeadlineExceeded, so classifiers see a
// timeout, not the caller's cancellation.
var ErrAttemptTimeout = errors.New("transport: attempt timed out")

// ErrTimeout is matched, through errors.Is, by the error of a request cut
// by Policy.Timeout before its final response's headers arrived. Like
// ErrAttemptTimeout, the error also matches timeout.ErrHeaders and
// context.DeadlineExceeded.
var ErrTimeout = errors.New("transport: request timed out")

// ErrBodyIdleTimeout is matched, through errors.Is, by the error of a
// response body read cut by Policy.BodyIdleTimeout: no byte arrived for
// that long. The error also matches timeout.ErrBodyIdle and
// context.DeadlineExceeded.
var ErrBodyIdleTimeout = errors.New("transport: response body idle too long")

// attemptTimeout is the stack's timeout layer at the bottom: each attempt
// bounded until its headers (d) and each wait for a byte of its body
// (idle); a zero or negative bound is off.
func attemptTimeout(d, idle time.Duration) Middleware {
	return timeout.Middleware(timeout.Policy{
		Headers: d, HeadersErr: ErrAttemptTimeout,
		BodyIdle: idle, BodyIdleErr: ErrBodyIdleTimeout,
	})
}

// totalTimeout is the stack's timeout layer above retry: a request, every
// attempt and wait included, bounded until its final response's headers;
// the body is not cut by it. Layers below see the bound as their context's
// deadline, so retry does not start a wait that could not end in time.
func totalTimeout(d time.Duration) Middleware {
	return timeout.Middleware(timeout.Policy{Headers: d, HeadersErr: ErrTimeout, ReportDeadline: true})
}

// closeIdle forwards CloseIdleConnections to rt when it has the method, as
// http.Client does with its transport.
func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
