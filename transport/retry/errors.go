package retry

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/resilient-http/resilient/transport/errclass"
)

// ErrGaveUp is matched by every [*Error] whose Reason is set: a retryable
// failure that was not retried. errors.Is(err, ErrGaveUp) asks "did retry
// give up?"; the sentinels below, or Error.Reason, say why.
var ErrGaveUp = errors.New("retry: gave up")

// Reasons for giving up, matched by an [*Error] through [errors.Is]; each
// stands for one [errclass.StopReason]. There is no umbrella for running
// out of time: ask for ErrContextDeadline or ErrMaxElapsed (or both).
var (
	// ErrExhausted means the policy allowed no further attempt: the
	// attempt limit was reached or the BackOff said stop
	// ([errclass.StopAttemptsExhausted]).
	ErrExhausted = errors.New("retry: attempts exhausted")
	// ErrBudgetExhausted means the shared retry budget refused a retry
	// ([errclass.StopBudgetExhausted]).
	ErrBudgetExhausted = errors.New("retry: retry budget exhausted")
	// ErrNotReplayable means the request has a body but no GetBody, so it
	// could be sent only once ([errclass.StopNotReplayable]).
	ErrNotReplayable = errors.New("retry: request body cannot be replayed (no GetBody)")
	// ErrNotIdempotent means a retryable failure was not retried because
	// the request is not idempotent (see Policy.RequireIdempotencyKey and
	// [errclass.StopNotIdempotent]).
	ErrNotIdempotent = errors.New("retry: request is not idempotent")
	// ErrContextDeadline means the next attempt could not start before the
	// request context's deadline ([errclass.StopContextDeadline]).
	ErrContextDeadline = errors.New("retry: no time left before the context's deadline")
	// ErrMaxElapsed means the next attempt could not start within
	// Policy.MaxElapsed ([errclass.StopMaxElapsed]).
	ErrMaxElapsed = errors.New("retry: no time left within MaxElapsed")
	// ErrRetryAfterTooLong means the server asked for a wait longer than
	// Policy.MaxRetryAfter ([errclass.StopRetryAfterTooLong]).
	ErrRetryAfterTooLong = errors.New("retry: server asked to wait longer than MaxRetryAfter")
)

// sentinel returns the sentinel error that stands for r, or nil.
func sentinel(r errclass.StopReason) error {
	switch r {
	case errclass.StopAttemptsExhausted:
		return ErrExhausted
	case errclass.StopBudgetExhausted:
		return ErrBudgetExhausted
	case errclass.StopNotReplayable:
		return ErrNotReplayable
	case errclass.StopNotIdempotent:
		return ErrNotIdempotent
	case errclass.StopContextDeadline:
		return ErrContextDeadline
	case errclass.StopMaxElapsed:
		return ErrMaxElapsed
	case errclass.StopRetryAfterTooLong:
		return ErrRetryAfterTooLong
	}
	return nil
}

// Error is returned by [Transport.RoundTrip] when the last attempt ended
// without a response. It unwraps to the last attempt's error, so
// errors.Is(err, context.DeadlineExceeded) and errors.As(err, &netErr) see
// through it; when retries stopped early, errors.Is(err, ErrGaveUp) holds,
// and so does errors.Is with the sentinel of its Reason (ErrBudgetExhausted,
// ...).
type Error struct {
	// Attempts is the number of attempts made, the first included.
	Attempts int
	// Err is the last attempt's error (or the context's error when a wait
	// between attempts was canceled).
	Err error
	// Reason says why a retryable failure was not retried; empty when the
	// error was not retryable, or a wait between attempts was canceled.
	Reason errclass.StopReason
}

// Error describes the attempts made, the reason they stopped and the last
// cause: "retry: 3 attempts (attempts_exhausted): dial tcp ...".
func (e *Error) Error() string {
	s := "retry: " + strconv.Itoa(e.Attempts) + " attempt"
	if e.Attempts != 1 {
		s += "s"
	}
	if e.Reason != "" {
		s += " (" + string(e.Reason) + ")"
	}
	if e.Err == nil {
		return s
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the last attempt's error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is [ErrGaveUp] or the sentinel of e.Reason.
func (e *Error) Is(target error) bool {
	if e.Reason == "" {
		return false
	}
	return target == ErrGaveUp || target == sentinel(e.Reason)
}

// Timeout reports whether the last attempt's error is a timeout: one in
// its chain has a Timeout method that says so (an attempt timeout, a
// net.Error, context.DeadlineExceeded). http.Client's *url.Error and
// os.IsTimeout ask the error they hold for Timeout without unwrapping it,
// so without this method a request that gave up on timeouts would not
// read as timed out.
func (e *Error) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// PrepareError is the error of a [Policy.PrepareRetry] hook, which ended
// the request before the attempt it was preparing: an [*Error] wraps it,
// and it unwraps to the hook's error, so errors.Is and errors.As see
// through both.
type PrepareError struct {
	// Attempt is the number of the attempt that was not sent (2 for the
	// first retry).
	Attempt int
	// Err is the hook's error.
	Err error
}

// Error names the attempt and the hook's error: "retry: preparing
// attempt 2: ...".
func (e *PrepareError) Error() string {
	return "retry: preparing attempt " + strconv.Itoa(e.Attempt) + ": " + fmt.Sprint(e.Err)
}

// Unwrap returns the hook's error.
func (e *PrepareError) Unwrap() error { return e.Err }
