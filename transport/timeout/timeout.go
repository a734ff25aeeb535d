package timeout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
)

// Transport is an http.RoundTripper that bounds each request until its
// response headers arrive and each wait for a byte of its body, as its
// [Policy] says. It is safe for concurrent use. Create it with [New] or
// [Middleware]; the zero Transport is not usable.
type Transport struct {
	next http.RoundTripper
	p    Policy
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport that sends requests through next (nil means
// http.DefaultTransport), bounded as p says. p is copied.
func New(next http.RoundTripper, p Policy) *Transport {
	if next == nil {
		next = http.DefaultTransport
	}
	return &Transport{next: next, p: p}
}

// Middleware returns a function that wraps a RoundTripper in a Transport
// with policy p. Its type is assignable to transport.Middleware.
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

// RoundTrip sends req through the RoundTripper below, bounded by the
// policy. A request cut before its headers returns an [*Error] and no
// response. A response's body is wrapped so that the request's context is
// released when the body is read to its end or closed (close it, as
// always), and, with a BodyIdle bound, so that a stalled Read is cut.
// With no bound, RoundTrip passes req and the result through untouched.
// A (nil, nil) from below becomes an error matching
// errclass.ErrNilResponse.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil || req.URL == nil {
		if req != nil && req.Body != nil {
			req.Body.Close() // RoundTrippers close the request body, even on error
		}
		return nil, errInvalidRequest
	}
	p := &t.p
	if p.Headers <= 0 && p.BodyIdle <= 0 {
		resp, err := t.next.RoundTrip(req)
		if resp == nil && err == nil {
			return nil, t.nilResponse()
		}
		return resp, err
	}
	parent := req.Context()
	cctx, cancel := context.WithCancelCause(parent)
	ctx := context.Context(cctx)
	var tm *timer
	cause := p.headersCause()
	if p.Headers > 0 {
		if p.ReportDeadline {
			dl := time.Now().Add(p.Headers)
			if pdl, ok := parent.Deadline(); !ok || dl.Before(pdl) {
				ctx = &deadlineCtx{Context: cctx, deadline: dl}
			}
		}
		tm = startTimer(p.Headers, cancel, cause)
	}
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if resp == nil && err == nil {
		err = t.nilResponse()
	}
	if err != nil && resp != nil {
		// A RoundTripper returning both is broken; don't leak the body.
		if resp.Body != nil {
			resp.Body.Close()
		}
		resp = nil
	}
	if tm != nil && tm.stop() {
		if context.Cause(parent) == nil {
			// The context is (being) canceled: even a response that just
			// made it could not be read. Report the timeout.
			if resp != nil {
				if resp.Body != nil {
					resp.Body.Close()
				}
				err = context.Canceled
			}
			cancel(cause)
			return nil, &Error{Bound: ErrHeaders, Sentinel: p.HeadersErr, After: p.Headers, Cause: err}
		}
		if err != nil && errors.Is(err, cause) {
			// The caller's context ended too (its deadline or a
			// cancellation) while the layer below was reporting our cut:
			// the caller's reason is the one to report.
			cancel(context.Cause(parent))
			return nil, fmt.Errorf("%w (%w)", context.Cause(parent), err)
		}
	}
	if err != nil {
		cancel(nil)
		return nil, err
	}
	resp.Body = releaseOnDone(resp.Body, cancel, p)
	return resp, nil
}

// headersCause is the cause the request's context is canceled with when
// the Headers bound fires.
func (p *Policy) headersCause() error {
	if p.HeadersErr != nil {
		return p.HeadersErr
	}
	return ErrHeaders
}

var errInvalidRequest = fmt.Errorf("timeout: %w: nil request or URL", errclass.ErrInvalidRequest)

// nilResponse is the error returned in place of next's (nil, nil), which
// breaks the RoundTripper contract.
func (t *Transport) nilResponse() error {
	return fmt.Errorf("%T: %w", t.next, errclass.ErrNilResponse)
}

// deadlineCtx reports a deadline its Done channel does not keep: the bound
// it stands for ends at the headers. Done, Err and Value are the cancel
// context's, so contexts derived from it are canceled with it without a
// goroutine of their own.
type deadlineCtx struct {
	context.Context
	deadline time.Time
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// timer cancels a request when it fires. Timers are pooled: making one
// allocates twice (the timer and the function it runs), and a request
// whose headers come in time hands its timer back for the next.
type timer struct {
	t      *time.Timer
	cancel context.CancelCauseFunc
	cause  error
}

var timers sync.Pool

func (t *timer) fire() { t.cancel(t.cause) }

func startTimer(d time.Duration, cancel context.CancelCauseFunc, cause error) *timer {
	t, _ := timers.Get().(*timer)
	if t == nil {
		t = &timer{cancel: cancel, cause: cause}
		t.t = time.AfterFunc(d, t.fire)
		return t
	}
	t.cancel, t.cause = cancel, cause
	t.t.Reset(d)
	return t
}

// stop stops the timer and reports whether it fired first. Only a timer
// stopped before firing goes back to the pool: one that fired may still be
// running fire.
func (t *timer) stop() (fired bool) {
	if !t.t.Stop() {
		return true
	}
	t.cancel, t.cause = nil, nil
	timers.Put(t)
	return false
}
