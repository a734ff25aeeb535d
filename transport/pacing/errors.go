package pacing

import (
	"errors"
	"fmt"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
)

// ErrThrottled matches every [*Error] through errors.Is.
var ErrThrottled = errors.New("pacing: throttled")

// Error is returned, with no response, for a request that would have had to
// wait longer than [Policy.MaxWait], or past its context's deadline, for
// its key's window to end (or for a token of [Policy.Rate]), and for a
// hedge that would have had to wait at all. Nothing was sent.
//
// It matches [ErrThrottled] through errors.Is and implements
// [errclass.Refusal], so retry does not retry it (unless its policy waits
// for refusals, and then for RetryIn).
type Error struct {
	// Key is the key whose window refused the request: "https://api.example.com"
	// for a host, "https://api.example.com/v1/jobs" for a route, or what
	// [Policy.Key] returned.
	Key string
	// Delay is the wait the request would have needed, counted from when
	// it was refused.
	Delay time.Duration
	// Until is when that wait would have ended.
	Until time.Time
	// Deadline reports that the request's context deadline would have
	// passed first; otherwise the wait was longer than MaxWait, or the
	// request was a hedge.
	Deadline bool

	hedge bool // a hedge, which never waits
}

// Error describes the refusal, e.g. "pacing: https://api.example.com is
// throttled for 2m0s (longer than allowed); not sent".
func (e *Error) Error() string {
	d := e.Delay
	if d >= time.Second {
		d = d.Round(time.Second)
	} else {
		d = d.Round(time.Millisecond)
	}
	why := "longer than allowed"
	switch {
	case e.Deadline:
		why = "past the request's deadline"
	case e.hedge:
		why = "a hedge does not wait"
	}
	return fmt.Sprintf("pacing: %s is throttled for %v (%s); not sent", e.Key, d, why)
}

// Is reports whether target is [ErrThrottled].
func (e *Error) Is(target error) bool { return target == ErrThrottled }

// RetryIn reports the time left until the window ends, 0 once it has. It
// makes Error an [errclass.Refusal].
func (e *Error) RetryIn() time.Duration { return max(time.Until(e.Until), 0) }

var _ errclass.Refusal = (*Error)(nil)
