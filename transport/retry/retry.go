package retry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/internal/registry"
	"github.com/resilient-http/resilient/transport/internal/window"
)

// drainLimit bounds how much of a discarded response body is read so that its
// connection can be reused; longer bodies are closed unread, which costs the
// connection but not the time to download them. A chunked body of exactly
// drainLimit bytes shows its end only to a read beyond them: an empty Read
// finds it without reading more data.
const drainLimit = 64 << 10

// drainTimeout bounds how long discarding a response waits for its body to
// arrive. Draining only pays while it is cheaper than the new connection that
// closing costs: a fresh TCP and TLS 1.3 connection takes two round trips,
// about 100ms at the 50ms RTT of a partner API in another region. A healthy
// server writes a small error body with its headers, so it is drained in
// microseconds; one still arriving after 100ms comes from a server in
// trouble, whose connection is not worth keeping. The time spent draining
// counts toward the backoff wait that follows.
const drainTimeout = 100 * time.Millisecond

// closeTimeout bounds the wait, after Close, for the goroutine reading a
// discarded body. Close unblocks a Read of net/http's bodies at once; a
// body whose Read ignores Close is left to its goroutine rather than hang
// the request.
const closeTimeout = 100 * time.Millisecond

// Transport is an http.RoundTripper that retries failed attempts according to
// a [Policy]. It is safe for concurrent use. Create it with [New] or
// [Middleware]; the zero Transport is not usable.
type Transport struct {
	next http.RoundTripper
	p    Policy
	lat  *registry.Registry[hedgeKey, *latencies] // per-route latencies for p.Hedge.Quantile; nil without

	// Hooks for tests, in the manner of x/time/rate: real time by default.
	clock     func() time.Duration // monotonic time since epoch
	sleep     func(ctx context.Context, d time.Duration) error
	drainWait time.Duration // drainTimeout
}

// monotonic reads the clock the Transport and its Budget share with the
// breaker: time since the process epoch, on the monotonic clock only.
func monotonic() time.Duration { return window.Now() }

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport that sends attempts through next (nil means
// http.DefaultTransport) according to p, whose zero fields take their
// documented defaults.
func New(next http.RoundTripper, p Policy) *Transport {
	return newTransport(next, p.withDefaults())
}

// Middleware returns a function that wraps a RoundTripper in a Transport
// with policy p. Every Transport it makes shares one [Budget] (p.SharedBudget, or
// one made here), so a chain built twice from it keeps a single allowance.
func Middleware(p Policy) func(http.RoundTripper) http.RoundTripper {
	p = p.withDefaults()
	return func(next http.RoundTripper) http.RoundTripper { return newTransport(next, p) }
}

func newTransport(next http.RoundTripper, p Policy) *Transport {
	if next == nil {
		next = http.DefaultTransport
	}
	t := &Transport{next: next, p: p, clock: monotonic, sleep: sleep, drainWait: drainTimeout}
	if p.Hedge.Quantile > 0 {
		t.lat = registry.New[hedgeKey, *latencies](hedgeRoutes, nil)
	}
	return t
}

// CloseIdleConnections closes the idle connections of the RoundTripper
// below, when it has such a method (as *http.Transport does), so that
// http.Client.CloseIdleConnections reaches through the Transport.
func (t *Transport) CloseIdleConnections() {
	type closeIdler interface{ CloseIdleConnections() }
	if c, ok := t.next.(closeIdler); ok {
		c.CloseIdleConnections()
	}
}

// RoundTrip sends req, and again while the outcome is retryable and the
// policy, the budget and the request's deadline allow. It returns the last
// attempt's response (err == nil, whatever its status), or an [*Error] when
// the last attempt produced no response. A nil request, or one without a
// URL, is not sent: the error matches [errclass.ErrInvalidRequest].
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil || req.URL == nil {
		if req != nil && req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("retry: %w: nil request or URL", errclass.ErrInvalidRequest)
	}
	t.p.SharedBudget.deposit()
	if t.p.BufferBody > 0 && !replayable(req) && t.limit(req) > 1 {
		req = bufferBody(req, t.p.BufferBody) // a copy: the caller's stays as it is
	}
	if t.p.Hedge.Max > 0 {
		if n := t.hedges(req); n > 0 {
			return t.hedged(req, n)
		}
	}

	// The first attempt is the caller's request itself (unless its body
	// was just buffered): no clone, no context value, no backoff. Most
	// requests end here.
	resp, err := t.next.RoundTrip(req)
	if resp == nil && err == nil {
		err = fmt.Errorf("retry: %T: %w", t.next, errclass.ErrNilResponse)
	}
	out := t.p.Classifier(req, resp, err)
	if !t.retryable(out) {
		return result(1, resp, err, "")
	}
	return t.retry(req, resp, err, out, 1)
}

// retry runs the attempts after the first n; resp, err and out are the
// last one's.
func (t *Transport) retry(req *http.Request, resp *http.Response, err error, out errclass.Outcome, n int) (*http.Response, error) {
	ctx := req.Context()
	// MaxElapsed counts from here: the success path reads no clock. The
	// first decision is made at this same instant, so that a first wait of
	// the whole MaxElapsed (a Retry-After equal to both defaults, 30s) fits.
	start := t.clock()
	now := start
	obs := t.observer(ctx)
	limit := t.limit(req)
	var bo backoff.BackOff
	for ; ; n++ {
		if !t.retryable(out) {
			return result(n, resp, err, "")
		}
		delay, fromHint, reason := t.plan(req, start, now, n, limit, out, &bo)
		if reason != "" {
			if obs != nil {
				gaveUp(obs, resp, out, n, reason)
			}
			return result(n, resp, err, reason)
		}
		next := errclass.Attempt{Number: n + 1, Delay: delay, FromRetryAfter: fromHint}
		if obs != nil {
			retrying(obs, resp, out, next)
		}
		// Committed to another attempt: this response is never seen by the
		// caller, so free its connection before waiting. Draining is part of
		// the wait, so the next attempt starts when plan said it would.
		if resp != nil {
			drainStart := t.clock()
			t.discard(ctx, resp)
			delay -= t.clock() - drainStart
		}
		if serr := t.sleep(ctx, delay); serr != nil {
			return nil, &Error{Attempts: n, Err: serr}
		}
		body, berr := replayBody(req)
		if berr != nil {
			return nil, &Error{Attempts: n, Err: fmt.Errorf("retry: GetBody: %w", berr)}
		}
		r := t.attemptRequest(req, errclass.WithAttempt(ctx, next), body)
		if t.p.PrepareRetry != nil {
			if perr := t.prepare(r, next.Number); perr != nil {
				return nil, &Error{Attempts: n, Err: &PrepareError{Attempt: next.Number, Err: perr}}
			}
		}
		resp, err = t.next.RoundTrip(r)
		if resp == nil && err == nil {
			err = fmt.Errorf("retry: %T: %w", t.next, errclass.ErrNilResponse)
		}
		out = t.p.Classifier(r, resp, err)
		now = t.clock()
	}
}

// limit returns the number of attempts req may take: a call's own
// [WithMaxAttempts], else 1 when the policy leaves req to its SDK, else
// the policy's MaxAttempts.
func (t *Transport) limit(req *http.Request) int {
	if n, ok := maxAttempts(req.Context()); ok {
		return n
	}
	if t.p.SDKRetriesMode.leaves(req) || t.p.SDKRetries != nil && t.p.SDKRetries(req) {
		return 1
	}
	return t.p.MaxAttempts
}

// observer returns the observers of a request with context ctx: that of
// ctx, then the policy's; nil if neither is set.
func (t *Transport) observer(ctx context.Context) errclass.Observer {
	obs := errclass.ObserverFromContext(ctx)
	switch {
	case obs == nil:
		return t.p.Observer
	case t.p.Observer != nil:
		return observers{obs, t.p.Observer}
	}
	return obs
}

// observers calls first, then then: the observer of the request's
// context, then the policy's.
// gaveUp tells obs of a give-up. Should obs panic, resp, which the
// caller then never gets, is closed on the way up.
func gaveUp(obs errclass.Observer, resp *http.Response, out errclass.Outcome, n int, reason errclass.StopReason) {
	told := false
	defer closeUntold(resp, &told)
	obs.GaveUp(out, n, reason)
	told = true
}

// retrying tells obs of a retry, closing resp should obs panic.
func retrying(obs errclass.Observer, resp *http.Response, out errclass.Outcome, next errclass.Attempt) {
	told := false
	defer closeUntold(resp, &told)
	obs.Retrying(out, next)
	told = true
}

// closeUntold closes resp's body unless the observer was told: it
// panicked.
func closeUntold(resp *http.Response, told *bool) {
	if !*told && resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
}

type observers struct{ first, then errclass.Observer }

func (o observers) Hedged(a errclass.Attempt, won bool) {
	if h, ok := o.first.(errclass.HedgeObserver); ok {
		h.Hedged(a, won)
	}
	if h, ok := o.then.(errclass.HedgeObserver); ok {
		h.Hedged(a, won)
	}
}

func (o observers) Retrying(last errclass.Outcome, next errclass.Attempt) {
	o.first.Retrying(last, next)
	o.then.Retrying(last, next)
}

func (o observers) GaveUp(last errclass.Outcome, attempts int, reason errclass.StopReason) {
	o.first.GaveUp(last, attempts, reason)
	o.then.GaveUp(last, attempts, reason)
}

// attemptRequest returns the copy of req an attempt (a retry or a hedge)
// sends, with ctx and body; the caller's request stays untouched. When
// PrepareRetry may change the copy it is a deep one: the header map and
// URL are the caller's otherwise.
func (t *Transport) attemptRequest(req *http.Request, ctx context.Context, body io.ReadCloser) *http.Request {
	var r *http.Request
	if t.p.PrepareRetry != nil {
		r = req.Clone(ctx)
	} else {
		r = req.WithContext(ctx)
	}
	r.Body = body
	return r
}

// prepare runs PrepareRetry for r, attempt number attempt. When it fails,
// or panics (the panic goes on to the caller), r's body is closed: the
// attempt is not sent.
func (t *Transport) prepare(r *http.Request, attempt int) (err error) {
	prepared := false
	defer func() {
		if !prepared && r.Body != nil {
			r.Body.Close()
		}
	}()
	err = t.p.PrepareRetry(r, attempt)
	prepared = err == nil
	return err
}

// retryable reports whether out calls for another attempt, policy allowing.
func (t *Transport) retryable(out errclass.Outcome) bool {
	return out.Class == errclass.Retryable || t.p.WaitForBreaker && out.Refused && out.RetryAfter > 0
}

// plan decides, at now, whether attempt n (of at most limit), whose
// retryable outcome is out, is followed by another one, and after what
// wait. A non-empty reason means stop.
func (t *Transport) plan(req *http.Request, start, now time.Duration, n, limit int, out errclass.Outcome, bo *backoff.BackOff) (delay time.Duration, fromHint bool, reason errclass.StopReason) {
	switch {
	case n >= limit:
		return 0, false, errclass.StopAttemptsExhausted
	case !replayable(req):
		return 0, false, errclass.StopNotReplayable
	case t.p.RequireIdempotencyKey && out.Delivery != errclass.NotSent && (out.StatusCode >= 500 || out.Advised) && !errclass.Idempotent(req):
		// A refusal made into a 503 below was never sent: like a refused
		// connection, it is safe to repeat.
		return 0, false, errclass.StopNotIdempotent
	case out.RetryAfter > t.p.MaxRetryAfter:
		// Sleeping for hours helps nobody; hand the 429/503 back now.
		return 0, false, errclass.StopRetryAfterTooLong
	}
	if *bo == nil {
		*bo = t.p.Backoff()
	}
	delay = (*bo).NextBackOff()
	if delay == backoff.Stop {
		return 0, false, errclass.StopAttemptsExhausted
	}
	delay = max(delay, 0)
	if out.RetryAfter > delay {
		// The server's hint is a floor: never come back earlier.
		delay, fromHint = out.RetryAfter, true
	}
	// The next attempt must start within MaxElapsed and before the
	// context's deadline; when it fits neither, the tighter bound is named.
	left := t.p.MaxElapsed - (now - start)
	if delay > left {
		reason = errclass.StopMaxElapsed
	}
	if dl, ok := req.Context().Deadline(); ok {
		if until := window.At(dl) - now; delay >= until && (reason == "" || until <= left) {
			reason = errclass.StopContextDeadline
		}
	}
	if reason != "" {
		return 0, false, reason
	}
	// Charge the budget now, not when the attempt is sent, so that retries
	// waiting out their backoff count too.
	if !t.p.SharedBudget.withdraw(now) {
		return 0, false, errclass.StopBudgetExhausted
	}
	return delay, fromHint, ""
}

// result hands the last attempt back to the caller.
func result(attempts int, resp *http.Response, err error, reason errclass.StopReason) (*http.Response, error) {
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close() // a RoundTripper returning both is broken; don't leak it
		}
		return nil, &Error{Attempts: attempts, Err: err, Reason: reason}
	}
	return resp, nil
}

// discard closes the body of a response that will not reach the caller,
// first draining what arrives within t.drainWait (up to drainLimit bytes)
// so that its connection can go back to the pool. It never waits on the
// network for longer than t.drainWait plus closeTimeout, nor once ctx is
// done: a body still arriving is closed, losing its connection.
//
// Close may be called while the draining goroutine is in Read, as net/http
// allows for its bodies; it runs on a goroutine of its own, since some
// bodies drain on Close. A body from a custom RoundTripper whose Read or
// Close keeps blocking after Close leaves its goroutine behind, blocked
// until it returns: a leak bounded to that broken body, instead of a hung
// request.
func (t *Transport) discard(ctx context.Context, resp *http.Response) {
	body := resp.Body
	if body == nil {
		return
	}
	if body == http.NoBody || resp.ContentLength == 0 || ctx.Err() != nil {
		body.Close() // nothing to drain, or nobody to wait for it
		return
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		if n, err := io.CopyN(io.Discard, body, drainLimit); n == drainLimit && err == nil {
			body.Read(nil) // reads a chunked body's end, if it has come, and no data
		}
	}()
	timer := time.NewTimer(t.drainWait)
	defer timer.Stop()
	select {
	case <-drained:
	case <-timer.C:
	case <-ctx.Done():
	}
	// Close unblocks the Read of net/http's bodies. It runs apart too: a
	// body whose Close drains the rest (a common wrapper) would otherwise
	// wait on the network here. Wait for both, but not for a body that
	// ignores Close.
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		body.Close()
	}()
	timer.Reset(closeTimeout)
	for drained != nil || closed != nil {
		select {
		case <-drained:
			drained = nil
		case <-closed:
			closed = nil
		case <-timer.C:
			return
		}
	}
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
