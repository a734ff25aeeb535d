package credits

import (
	"fmt"
	"time"

	"github.com/resilient-http/resilient/transport/apierror"
	"github.com/resilient-http/resilient/transport/errclass"
)

// Error is returned, with no response, for a request refused by a latch:
// its route (or, past MaxKeys, its method and host) answered 402 Payment
// Required, or reported no credits left (see [Policy.RemainingField]), and
// no probe has released it since. Nothing was sent.
//
// It matches [apierror.ErrInsufficientCredits] through errors.Is and
// implements [errclass.Refusal], so retry fails fast on it. Its message
// says only what happened: at some APIs a 402 means a declined card, not
// missing credits.
type Error struct {
	// Key is the latch's key, as [Transport.Latched] lists it: e.g.
	// "POST https://api.example.com/v1/jobs", or "POST
	// https://api.example.com" for a host latch.
	Key string
	// Host reports a host latch, which refuses every request of its
	// method to its host.
	Host bool
	// Until is when the latch will let a probe through; zero when that
	// time has come and a probe is in flight.
	Until time.Time
	// Anticipated reports a latch set by a response that reported no
	// credits left ([Policy.RemainingHeader], [Policy.RemainingField]),
	// before any 402; false when the latest to set it was a 402, or when
	// Fleet is set.
	Anticipated bool
	// Fleet reports a latch another replica set and shared through
	// [Policy.Fleet]. What set it, a 402 or a report of no credits left,
	// is not known here.
	Fleet bool
}

// Error describes the refusal, e.g. "credits: POST
// https://api.example.com/v1/payments latched after 402 Payment Required;
// not sent (next probe in 59s)", or, when Anticipated, "credits: POST
// https://api.example.com/v1/payments latched: a response reported no
// credits left; not sent (next probe in 59s)", or, for Fleet, "credits:
// POST https://api.example.com/v1/payments latched by another replica; not
// sent (next probe in 59s)".
func (e *Error) Error() string {
	s := "credits: " + e.Key
	if e.Host {
		s += " (every path)"
	}
	switch {
	case e.Fleet:
		s += " latched by another replica; not sent"
	case e.Anticipated:
		s += " latched: a response reported no credits left; not sent"
	default:
		s += " latched after 402 Payment Required; not sent"
	}
	if e.Until.IsZero() {
		return s + " (a probe is in flight)"
	}
	d := e.RetryIn()
	if d >= time.Second {
		d = d.Round(time.Second)
	} else {
		d = d.Round(time.Millisecond)
	}
	return s + fmt.Sprintf(" (next probe in %v)", d)
}

// Is reports whether target is [apierror.ErrInsufficientCredits].
func (e *Error) Is(target error) bool { return target == apierror.ErrInsufficientCredits }

// RetryIn reports the time until the latch lets a probe through, or 0 when
// a probe is in flight and the wait is unknown. It makes Error an
// [errclass.Refusal].
func (e *Error) RetryIn() time.Duration {
	if e.Until.IsZero() {
		return 0
	}
	return max(time.Until(e.Until), 0)
}

var _ errclass.Refusal = (*Error)(nil)
