package timeout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// ErrHeaders is matched, through errors.Is, by the error of every request
// cut by a [Policy.Headers] bound: no response headers arrived in time.
var ErrHeaders = errors.New("timeout: response headers timed out")

// ErrBodyIdle is matched, through errors.Is, by the error of every body
// Read cut by a [Policy.BodyIdle] bound: no byte arrived for that long.
var ErrBodyIdle = errors.New("timeout: response body idle too long")

// Error is the error of a request or body cut by a bound. Through
// errors.Is it matches its Bound ([ErrHeaders] or [ErrBodyIdle]), its
// Sentinel when the policy named one, and context.DeadlineExceeded, so
// classifiers see a timeout, not the caller's cancellation. It does not
// unwrap to Cause, which is usually the context.Canceled the layer below
// returned while being torn down: errors.Is(err, context.Canceled) stays
// false. It is a net.Error whose Timeout reports true.
type Error struct {
	// Bound is ErrHeaders or ErrBodyIdle: which bound cut.
	Bound error
	// Sentinel is the policy's HeadersErr or BodyIdleErr for that bound,
	// or nil.
	Sentinel error
	// After is the bound's duration.
	After time.Duration
	// Cause is what the layer below returned once cut.
	Cause error
}

// Error names the bound (by its Sentinel if set), its duration and what
// the layer below said: "timeout: response headers timed out after 2s
// (context canceled)".
func (e *Error) Error() string {
	name := e.Sentinel
	if name == nil {
		name = e.Bound
	}
	return fmt.Sprintf("%v after %v (%v)", name, e.After, e.Cause)
}

// Is reports whether target is e.Bound, e.Sentinel or
// context.DeadlineExceeded.
func (e *Error) Is(target error) bool {
	return target == e.Bound || target == context.DeadlineExceeded ||
		(e.Sentinel != nil && target == e.Sentinel)
}

// Timeout reports true, as net.Error's method does.
func (e *Error) Timeout() bool { return true }

// Temporary reports true, as context.DeadlineExceeded's does. With Timeout
// it makes an Error a net.Error, so that errors.As(err, &netErr) finds it,
// as it finds the timeouts of net/http.
func (e *Error) Temporary() bool { return true }

var _ net.Error = (*Error)(nil)
