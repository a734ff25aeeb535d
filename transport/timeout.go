package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
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
// that long.
var ErrBodyIdleTimeout = errors.New("transport: response body idle too long")

type attemptTimeoutError struct {
	d     time.Duration
	cause error
}

func (e *attemptTimeoutError) Error() string {
	return fmt.Sprintf("transport: attempt timed out after %v (%v)", e.d, e.cause)
}

func (e *attemptTimeoutError) Is(target error) bool {
	return target == ErrAttemptTimeout || target == context.DeadlineExceeded
}

// attemptTimeout bounds each attempt until its response headers arrive. A
// context deadline would go on ticking while the caller reads the body and
// cut it off, so the bound is a timer that cancels the attempt's context
// and is stopped as soon as headers are in; the context itself is released
// when the body is closed or read to the end.
func attemptTimeout(d time.Duration) Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			ctx, cancel := context.WithCancelCause(req.Context())
			t := startTimer(d, cancel)
			resp, err := next.RoundTrip(req.WithContext(ctx))
			if fired := t.stop(); fired {
				parent := context.Cause(req.Context())
				if parent == nil {
					// The attempt's context is (being) canceled: even a
					// response that just made it could not be read. Report
					// the timeout.
					if err == nil {
						resp.Body.Close()
						err = context.Canceled
					}
					cancel(ErrAttemptTimeout)
					return nil, &attemptTimeoutError{d: d, cause: err}
				}
				if errors.Is(err, ErrAttemptTimeout) {
					// The caller's context ended too (its deadline or a
					// cancellation) while net/http was reporting our cut:
					// the caller's reason is the one to report.
					cancel(parent)
					return nil, fmt.Errorf("%w (%w)", parent, err)
				}
			}
			if err != nil {
				cancel(nil)
				return nil, err
			}
			resp.Body = releaseOnDone(resp.Body, releasingBody{cancelCause: cancel})
			return resp, nil
		})
	}
}

// attemptTimer cancels an attempt when it fires. Timers are pooled: making
// one allocates twice (the timer and the function it runs) and an attempt
// that gets its headers in time hands its timer back for the next.
type attemptTimer struct {
	timer  *time.Timer
	cancel context.CancelCauseFunc
}

var attemptTimers sync.Pool

func (t *attemptTimer) fire() { t.cancel(ErrAttemptTimeout) }

func startTimer(d time.Duration, cancel context.CancelCauseFunc) *attemptTimer {
	t, _ := attemptTimers.Get().(*attemptTimer)
	if t == nil {
		t = &attemptTimer{cancel: cancel}
		t.timer = time.AfterFunc(d, t.fire)
		return t
	}
	t.cancel = cancel
	t.timer.Reset(d)
	return t
}

// stop stops the timer and reports whether it fired first. Only a timer
// stopped before firing goes back to the pool: one that fired may still be
// running fire.
func (t *attemptTimer) stop() (fired bool) {
	if !t.timer.Stop() {
		return true
	}
	t.cancel = nil
	attemptTimers.Put(t)
	return false
}

// totalTimeout bounds the whole request, body included, like
// http.Client.Timeout.
func totalTimeout(d time.Duration) Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			ctx, cancel := context.WithTimeout(req.Context(), d)
			resp, err := next.RoundTrip(req.WithContext(ctx))
			if err != nil {
				cancel()
				return nil, err
			}
			resp.Body = releaseOnDone(resp.Body, releasingBody{cancel: cancel})
			return resp, nil
		})
	}
}

// releaseOnDone returns body wrapped so that it cancels b's context when
// read to the end or closed (a missing or empty body cancels at once). The
// context package's cancel functions may be called more than once, so
// nothing else guards the release; holding either kind as it is saves a
// closure per request.
func releaseOnDone(body io.ReadCloser, b releasingBody) io.ReadCloser {
	if body == nil || body == http.NoBody {
		b.release()
		return body
	}
	rb := &releasingBody{rc: body, cancel: b.cancel, cancelCause: b.cancelCause}
	if w, ok := body.(io.Writer); ok {
		return releasingRWBody{rb, w} // 101 Switching Protocols
	}
	return rb
}

// releasingBody cancels a context when its body is done: through cancel or
// cancelCause, whichever is set.
type releasingBody struct {
	rc          io.ReadCloser
	cancel      context.CancelFunc
	cancelCause context.CancelCauseFunc
}

func (b *releasingBody) release() {
	if b.cancelCause != nil {
		b.cancelCause(nil)
		return
	}
	b.cancel()
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.release()
	}
	return n, err
}

func (b *releasingBody) Close() error {
	err := b.rc.Close()
	b.release()
	return err
}

type releasingRWBody struct {
	*releasingBody
	w io.Writer
}

func (b releasingRWBody) Write(p []byte) (int, error) { return b.w.Write(p) }
