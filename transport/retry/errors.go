package retry

import (
	"errors"
	"strconv"
	"strings"
)

// Reasons for giving up, matched by an [*Error] through [errors.Is].
var (
	// ErrExhausted means the policy allowed no further attempt: the
	// attempt limit was reached or the BackOff said stop.
	ErrExhausted = errors.New("retry: attempts exhausted")
	// ErrBudgetExhausted means the shared retry budget refused a retry.
	ErrBudgetExhausted = errors.New("retry: retry budget exhausted")
	// ErrNotReplayable means the request has a body but no GetBody, so it
	// could be sent only once.
	ErrNotReplayable = errors.New("retry: request body cannot be replayed (no GetBody)")
	// ErrDeadline means the next attempt could not start in time: waiting
	// would pass the context's deadline or Policy.MaxElapsed, or the server
	// asked for a wait longer than Policy.MaxRetryAfter.
	ErrDeadline = errors.New("retry: no time left for another attempt")
	// ErrNotIdempotent means a retryable failure was not retried because
	// the request is not idempotent (see Policy.RequireIdempotencyKey).
	ErrNotIdempotent = errors.New("retry: request is not idempotent")
)

// Error is returned by [Transport.RoundTrip] when the last attempt ended
// without a response. It unwraps to the last attempt's error, so
// errors.Is(err, context.DeadlineExceeded) and errors.As(err, &netErr) see
// through it, and errors.Is(err, ErrBudgetExhausted) (or another reason)
// tells why no further attempt was made.
type Error struct {
	// Attempts is the number of attempts made, the first included.
	Attempts int
	// Err is the last attempt's error (or the context's error when a wait
	// between attempts was canceled).
	Err error
	// Reason says why no further attempt was made: one of the package's
	// sentinel errors, or nil when the error was not retryable.
	Reason error
}

// Error describes the attempts made, the reason they stopped and the last
// cause. Any Reason works, not only the package's sentinels: their
// "retry: " prefix is dropped, another text is kept whole.
func (e *Error) Error() string {
	s := "retry: " + strconv.Itoa(e.Attempts) + " attempt"
	if e.Attempts != 1 {
		s += "s"
	}
	if e.Reason != nil {
		reason, _ := strings.CutPrefix(e.Reason.Error(), "retry: ")
		s += " (" + reason + ")"
	}
	if e.Err == nil {
		return s
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the last attempt's error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the reason retries stopped.
func (e *Error) Is(target error) bool { return e.Reason != nil && target == e.Reason }
