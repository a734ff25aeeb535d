package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/resilient-http/resilient/transport/errclass"
)

// ErrInvalidRequest is returned, wrapped, for a request that cannot be sent
// at all (nil, or without a URL).
var ErrInvalidRequest = errors.New("retry: invalid request")

// drainLimit bounds how much of a discarded response body is read so that its
// connection can be reused; longer bodies are closed unread, which costs the
// connection but not the time to download them.
const drainLimit = 64 << 10

// Transport is an http.RoundTripper that retries failed attempts according to
// a [Policy]. It is safe for concurrent use. Create it with [New] or
// [Middleware]; the zero Transport is not usable.
type Transport struct {
	next http.RoundTripper
	p    Policy

	// Hooks for tests, in the manner of x/time/rate: real time by default.
	clock func() time.Duration // monotonic time since epoch
	sleep func(ctx context.Context, d time.Duration) error
}

// epoch anchors the monotonic clock: time.Since(epoch) reads only the
// monotonic clock, half the cost of time.Now.
var epoch = time.Now()

func monotonic() time.Duration { return time.Since(epoch) }

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport that sends attempts through next (nil means
// http.DefaultTransport) according to p, whose zero fields take their
// documented defaults.
func New(next http.RoundTripper, p Policy) *Transport {
	return newTransport(next, p.withDefaults())
}

// Middleware returns a function that wraps a RoundTripper in a Transport
// with policy p. Every Transport it makes shares one [Budget] (p.Budget, or
// one made here), so a chain built twice from it keeps a single allowance.
func Middleware(p Policy) func(http.RoundTripper) http.RoundTripper {
	p = p.withDefaults()
	return func(next http.RoundTripper) http.RoundTripper { return newTransport(next, p) }
}

func newTransport(next http.RoundTripper, p Policy) *Transport {
	if next == nil {
		next = http.DefaultTransport
	}
	return &Transport{next: next, p: p, clock: monotonic, sleep: sleep}
}

// RoundTrip sends req, and again while the outcome is retryable and the
// policy, the budget and the request's deadline allow. It returns the last
// attempt's response (err == nil, whatever its status), or an [*Error] when
// the last attempt produced no response.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil || req.URL == nil {
		if req != nil && req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("%w: nil request or URL", ErrInvalidRequest)
	}
	t.p.Budget.deposit()

	// The first attempt is the caller's request itself: no clone, no
	// context value, no backoff. Most requests end here.
	resp, err := t.next.RoundTrip(req)
	out := t.p.Classifier(req, resp, err)
	if !t.retryable(out) {
		return result(1, resp, err, nil)
	}
	return t.retry(req, resp, err, out)
}

// retry runs the attempts after the first; resp, err and out are the first
// attempt's.
func (t *Transport) retry(req *http.Request, resp *http.Response, err error, out errclass.Outcome) (*http.Response, error) {
	ctx := req.Context()
	start := t.clock() // MaxElapsed counts from here: the success path reads no clock
	obs := errclass.ObserverFromContext(ctx)
	var bo backoff.BackOff
	for n := 1; ; n++ {
		if !t.retryable(out) {
			return result(n, resp, err, nil)
		}
		delay, fromHint, reason := t.plan(req, start, n, out, &bo)
		if reason != nil {
			if obs != nil {
				obs.GaveUp(out, n, reason)
			}
			return result(n, resp, err, reason)
		}
		next := errclass.Attempt{Number: n + 1, Delay: delay, FromRetryAfter: fromHint}
		if obs != nil {
			obs.Retrying(out, next)
		}
		// Committed to another attempt: this response is never seen by the
		// caller, so free its connection before waiting.
		discard(resp)
		if serr := t.sleep(ctx, delay); serr != nil {
			return nil, &Error{Attempts: n, Err: serr}
		}
		body, berr := replayBody(req)
		if berr != nil {
			return nil, &Error{Attempts: n, Err: fmt.Errorf("retry: GetBody: %w", berr)}
		}
		// WithContext copies the request; the caller's stays untouched.
		r := req.WithContext(errclass.WithAttempt(ctx, next))
		r.Body = body
		resp, err = t.next.RoundTrip(r)
		out = t.p.Classifier(r, resp, err)
	}
}

// retryable reports whether out calls for another attempt, policy allowing.
func (t *Transport) retryable(out errclass.Outcome) bool {
	return out.Class == errclass.Retryable || t.p.WaitForBreaker && out.Refused && out.RetryAfter > 0
}

// plan decides whether attempt n, whose retryable outcome is out, is
// followed by another one, and after what wait. A non-nil reason means stop.
func (t *Transport) plan(req *http.Request, start time.Duration, n int, out errclass.Outcome, bo *backoff.BackOff) (delay time.Duration, fromHint bool, reason error) {
	switch {
	case n >= t.p.MaxAttempts:
		return 0, false, ErrExhausted
	case !replayable(req):
		return 0, false, ErrNotReplayable
	case t.p.RequireIdempotencyKey && out.StatusCode >= 500 && !errclass.Idempotent(req):
		return 0, false, ErrNotIdempotent
	case out.RetryAfter > t.p.MaxRetryAfter:
		// Sleeping for hours helps nobody; hand the 429/503 back now.
		return 0, false, ErrDeadline
	}
	if *bo == nil {
		*bo = t.p.Backoff()
	}
	delay = (*bo).NextBackOff()
	if delay == backoff.Stop {
		return 0, false, ErrExhausted
	}
	delay = max(delay, 0)
	if out.RetryAfter > delay {
		// The server's hint is a floor: never come back earlier.
		delay, fromHint = out.RetryAfter, true
	}
	now := t.clock()
	wake := now + delay // no overflow: delay <= MaxElapsed is checked first
	if delay > t.p.MaxElapsed || wake-start > t.p.MaxElapsed {
		return 0, false, ErrDeadline
	}
	if dl, ok := req.Context().Deadline(); ok && dl.Sub(epoch) <= wake {
		return 0, false, ErrDeadline
	}
	// Charge the budget now, not when the attempt is sent, so that retries
	// waiting out their backoff count too.
	if !t.p.Budget.withdraw(now) {
		return 0, false, ErrBudgetExhausted
	}
	return delay, fromHint, nil
}

// result hands the last attempt back to the caller.
func result(attempts int, resp *http.Response, err error, reason error) (*http.Response, error) {
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close() // a RoundTripper returning both is broken; don't leak it
		}
		return nil, &Error{Attempts: attempts, Err: err, Reason: reason}
	}
	return resp, nil
}

// replayable reports whether req's body can be sent again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// replayBody returns a fresh copy of req's body for another attempt.
func replayBody(req *http.Request) (io.ReadCloser, error) {
	if req.GetBody == nil {
		return req.Body, nil // nil or http.NoBody: nothing to replay
	}
	return req.GetBody()
}

// discard drains (bounded) and closes the body of a response that will not
// reach the caller, so that its connection goes back to the pool.
func discard(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	io.CopyN(io.Discard, resp.Body, drainLimit)
	resp.Body.Close()
}

// sleep waits for d or until ctx is done, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
