package breaker

import (
	"errors"
	"fmt"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
)

// ErrOpen matches every [*OpenError] through errors.Is.
var ErrOpen = errors.New("breaker: circuit open")

// ErrProbeTimeout is matched, through errors.Is, by the error of a
// half-open probe cut by Policy.ProbeTimeout before its headers arrived.
// The error also matches context.DeadlineExceeded.
var ErrProbeTimeout = errors.New("breaker: half-open probe timed out")

// OpenError is returned, with no response, when a breaker refuses a request:
// it is open, or half-open with all its probes in flight. Nothing was sent.
//
// It matches [ErrOpen] through errors.Is and unwraps to gobreaker's own
// error (gobreaker.ErrOpenState or gobreaker.ErrTooManyRequests).
type OpenError struct {
	// Name is the breaker's key, e.g. "https://api.example.com".
	Name string
	// State is StateOpen, or StateHalfOpen when the probes are taken.
	State State
	// Until is when the open breaker will let a probe through; zero when
	// half-open.
	Until time.Time
	// Shared reports a refusal by the fleet's breaker ([Policy.Fleet]):
	// another replica opened it, or is probing it.
	Shared bool

	cause error
}

// Error describes the refusal.
func (e *OpenError) Error() string {
	if e.State == StateOpen && !e.Until.IsZero() {
		return fmt.Sprintf("breaker: circuit for %s is open; next probe in %v", e.Name, max(time.Until(e.Until), 0).Round(time.Millisecond))
	}
	return fmt.Sprintf("breaker: circuit for %s is %v and its probes are in flight", e.Name, e.State)
}

// Unwrap returns gobreaker's error.
func (e *OpenError) Unwrap() error { return e.cause }

// Is reports whether target is [ErrOpen].
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// RetryIn reports the time until the breaker lets a probe through, or 0 when
// unknown. It makes OpenError an [errclass.Refusal].
func (e *OpenError) RetryIn() time.Duration {
	if e.Until.IsZero() {
		return 0
	}
	return max(time.Until(e.Until), 0)
}

var _ errclass.Refusal = (*OpenError)(nil)
