// Package cutoff bounds a RoundTrip until its response headers arrive,
// without cutting the body the caller reads afterwards, and optionally
// cuts a body that stops arriving. The transport package's attempt and
// total timeouts and the breaker's half-open probe bound share it.
//
// A context deadline cannot do this: it goes on ticking while the caller
// reads the body, and cuts it. So the bound is a timer that cancels the
// request's context and is stopped as soon as headers are in; the context
// itself is released when the body is read to the end or closed.
package cutoff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
)

// TimeoutError is the error of a request or body cut by a bound. It
// matches its Sentinel and context.DeadlineExceeded through errors.Is (so
// classifiers see a timeout, not the caller's cancellation), but does not
// unwrap to the error the layer below produced while being torn down,
// which is usually context.Canceled.
type TimeoutError struct {
	// Sentinel names the bound that fired, e.g. transport.ErrAttemptTimeout.
	Sentinel error
	// After is the bound.
	After time.Duration
	// Cause is what the layer below returned once cut.
	Cause error
}

// Error names the bound and what the layer below said.
func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%v after %v (%v)", e.Sentinel, e.After, e.Cause)
}

// Is reports whether target is the sentinel or context.DeadlineExceeded.
func (e *TimeoutError) Is(target error) bool {
	return target == e.Sentinel || target == context.DeadlineExceeded
}

// Timeout reports true, as net.Error's method does.
func (e *TimeoutError) Timeout() bool { return true }

// A Reporter hears how a watched body ended: cut by its idle bound (cut
// is true), or otherwise (read to the end, failed, or closed). token is
// what the Reporter passed to [Notifier.NotifyCut].
type Reporter interface {
	BodyDone(token uint64, cut bool)
}

// A Notifier is a body that may be cut by an idle bound. NotifyCut asks it
// to tell r, once, how it ends, and reports whether it will: false when
// it has no idle bound (nothing to watch) or has ended already. The
// transport package's bodies implement it; a breaker uses it to count a
// response only once its body is done.
type Notifier interface {
	NotifyCut(r Reporter, token uint64) bool
}

// Bound describes how RoundTrip cuts a request.
type Bound struct {
	// Headers bounds the wait for response headers; 0 or less: none.
	Headers time.Duration
	// HeadersErr is the sentinel of a TimeoutError for Headers.
	HeadersErr error
	// Idle cuts the body when no byte arrives for that long; 0 or less:
	// none.
	Idle time.Duration
	// IdleErr is the sentinel of a TimeoutError for Idle.
	IdleErr error
	// Deadline, when set with Headers, makes the context report the end
	// of the Headers bound as its deadline, so that layers below (a retry
	// deciding whether a wait is worth starting, a dialer) see it, while
	// the body is still not cut by it.
	Deadline bool
}

// RoundTrip sends req through next, bounded by b. A (nil, nil) from next
// becomes an error wrapping errclass.ErrNilResponse. With no bound it adds
// nothing.
func RoundTrip(next http.RoundTripper, req *http.Request, b Bound) (*http.Response, error) {
	if b.Headers <= 0 && b.Idle <= 0 {
		resp, err := next.RoundTrip(req)
		if resp == nil && err == nil {
			return nil, nilResponse(next)
		}
		return resp, err
	}
	parent := req.Context()
	cctx, cancel := context.WithCancelCause(parent)
	ctx := context.Context(cctx)
	var t *timer
	if b.Headers > 0 {
		if b.Deadline {
			dl := time.Now().Add(b.Headers)
			if pdl, ok := parent.Deadline(); !ok || dl.Before(pdl) {
				ctx = &deadlineCtx{Context: cctx, deadline: dl}
			}
		}
		t = startTimer(b.Headers, cancel, b.HeadersErr)
	}
	resp, err := next.RoundTrip(req.WithContext(ctx))
	if resp == nil && err == nil {
		err = nilResponse(next)
	}
	if err != nil && resp != nil {
		// A RoundTripper returning both is broken; don't leak the body.
		if resp.Body != nil {
			resp.Body.Close()
		}
		resp = nil
	}
	if t != nil && t.stop() {
		if context.Cause(parent) == nil {
			// The context is (being) canceled: even a response that just
			// made it could not be read. Report the timeout.
			if resp != nil {
				if resp.Body != nil {
					resp.Body.Close()
				}
				err = context.Canceled
			}
			cancel(b.HeadersErr)
			return nil, &TimeoutError{Sentinel: b.HeadersErr, After: b.Headers, Cause: err}
		}
		if err != nil && errors.Is(err, b.HeadersErr) {
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
	resp.Body = releaseOnDone(resp.Body, cancel, b)
	return resp, nil
}

// nilResponse is the error for a RoundTripper that returned neither a
// response nor an error.
func nilResponse(next http.RoundTripper) error {
	return fmt.Errorf("%T: %w", next, errclass.ErrNilResponse)
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

// releaseOnDone returns body wrapped so that it cancels its request's
// context when read to the end or closed (a missing or empty body cancels
// at once), and, with an idle bound, cuts it when no byte arrives for that
// long.
func releaseOnDone(rc io.ReadCloser, cancel context.CancelCauseFunc, b Bound) io.ReadCloser {
	if rc == nil || rc == http.NoBody {
		cancel(nil)
		return rc
	}
	body := &Body{rc: rc, cancel: cancel}
	if w, ok := rc.(io.Writer); ok {
		// 101 Switching Protocols: a connection of another protocol, whose
		// silences are its own business; no idle bound.
		return rwBody{body, w}
	}
	if b.Idle > 0 {
		body.idle, body.idleErr = b.Idle, b.IdleErr
		// Armed only while a Read waits: a caller that is slow between
		// reads is not the server's silence.
		body.idleTimer = time.AfterFunc(b.Idle, body.cut)
		body.idleTimer.Stop()
	}
	return body
}

// Body is a response body that releases its request's context when done
// and may be cut when idle. It is safe for a Close to race with a Read.
type Body struct {
	rc     io.ReadCloser
	cancel context.CancelCauseFunc

	idle      time.Duration
	idleErr   error
	idleTimer *time.Timer // nil without an idle bound
	cutDone   atomic.Bool

	mu       sync.Mutex // guards what follows, set and read on two goroutines
	reporter Reporter
	token    uint64
	ended    bool // the body is done (or cut); the reporter was told
	eof      bool // the body was read to its end
}

// NotifyCut makes the body tell r, once, how it ends (see [Notifier]).
func (b *Body) NotifyCut(r Reporter, token uint64) bool {
	if b.idleTimer == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return false
	}
	b.reporter, b.token = r, token
	return true
}

// cut runs when the idle timer fires: no byte for b.idle.
func (b *Body) cut() {
	if b.cutDone.Swap(true) {
		return
	}
	// Tell the reporter first: the blocked Read returns once the context
	// is canceled, and by then the cut is counted.
	b.end(true)
	b.cancel(b.idleErr)
}

// end tells the reporter, if any and once, how the body ended.
func (b *Body) end(cut bool) {
	b.mu.Lock()
	r, token, told := b.reporter, b.token, b.ended
	b.ended = true
	b.mu.Unlock()
	if r != nil && !told {
		r.BodyDone(token, cut)
	}
}

func (b *Body) release() {
	if b.idleTimer != nil {
		b.idleTimer.Stop()
		b.end(false)
	}
	b.cancel(nil)
}

// Read reads from the body. With an idle bound, a Read that waits longer
// than it for its first byte cuts the body and fails with a TimeoutError.
func (b *Body) Read(p []byte) (int, error) {
	if b.idleTimer == nil {
		n, err := b.rc.Read(p)
		if err != nil {
			b.done(err)
		}
		return n, err
	}
	if !b.cutDone.Load() {
		b.idleTimer.Reset(b.idle)
	}
	n, err := b.rc.Read(p)
	b.idleTimer.Stop()
	if b.cutDone.Load() && err != io.EOF {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		err = &TimeoutError{Sentinel: b.idleErr, After: b.idle, Cause: err}
	}
	if err != nil {
		b.done(err)
	}
	return n, err
}

// done releases the body after a Read returned err.
func (b *Body) done(err error) {
	if err == io.EOF {
		b.mu.Lock()
		b.eof = true
		b.mu.Unlock()
	}
	b.release()
}

// Close closes the body and releases its context. A body closed before
// its end has its request's context canceled first, so that a body below
// whose Close reads on (to drain it) does not wait on the network.
func (b *Body) Close() error {
	b.mu.Lock()
	eof := b.eof
	b.mu.Unlock()
	if !eof {
		b.cancel(nil)
	}
	err := b.rc.Close()
	b.release()
	return err
}

type rwBody struct {
	*Body
	w io.Writer
}

func (b rwBody) Write(p []byte) (int, error) { return b.w.Write(p) }
