package limit

import (
	"errors"
	"fmt"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
)

// ErrLimited matches every [*Error] through errors.Is.
var ErrLimited = errors.New("limit: too many requests in flight")

// Error is returned, with no response, for a request that found no free
// slot within [Policy.MaxWait], and for a hedge that found no free slot at
// once (a hedge never queues). Nothing was sent.
//
// It matches [ErrLimited] through errors.Is and implements
// [errclass.Refusal], so retry does not retry it (unless its policy waits
// for refusals, and then for RetryIn).
type Error struct {
	// Key is the key whose limit refused the request:
	// "https://api.example.com" for a host,
	// "https://api.example.com/v1/jobs" for a route.
	Key string
	// Limit is the key's limit when the request was refused: Max, or
	// less for an adaptive limit.
	Limit int
	// Waited is how long the request queued.
	Waited time.Duration

	hedge bool // a hedge, which never queues
}

// Error describes the refusal, e.g. "limit: https://api.example.com is at
// its limit of 5 requests in flight, no slot within 1s; not sent".
func (e *Error) Error() string {
	if e.hedge {
		return fmt.Sprintf("limit: %s is at its limit of %d requests in flight, and a hedge does not queue; not sent", e.Key, e.Limit)
	}
	return fmt.Sprintf("limit: %s is at its limit of %d requests in flight, no slot within %v; not sent",
		e.Key, e.Limit, e.Waited.Round(time.Millisecond))
}

// Is reports whether target is [ErrLimited].
func (e *Error) Is(target error) bool { return target == ErrLimited }

// RetryIn is a hint of when a slot may be free: as long again as the
// request queued, at least a millisecond (a request refused without
// queueing, MaxWait negative, gets that millisecond). It makes Error an
// [errclass.Refusal].
func (e *Error) RetryIn() time.Duration { return max(e.Waited, time.Millisecond) }

var _ errclass.Refusal = (*Error)(nil)
