package timeout

import "time"

// Policy says how a [Transport] bounds requests. The zero Policy sets no
// bound: the Transport passes valid requests through, allocating nothing.
type Policy struct {
	// Headers bounds the wait for a response's headers, from the moment
	// RoundTrip is called. A request cut by it fails with an [*Error]
	// matching [ErrHeaders] and context.DeadlineExceeded. Once headers
	// are in it no longer applies: the body is not cut by it. The bound
	// cancels the request's context: a RoundTripper below that ignores
	// its context (net/http's honours it) returns when it returns, and
	// the answer is then discarded as cut. Zero or negative: no bound.
	Headers time.Duration

	// BodyIdle cuts a response body when a Read waits that long for a
	// byte: the Read fails with an [*Error] matching [ErrBodyIdle] and
	// context.DeadlineExceeded. Time the caller spends between reads does
	// not count. The body of a 101 Switching Protocols response is never
	// cut. Zero or negative: a body may stall forever.
	BodyIdle time.Duration

	// ReportDeadline, with Headers, makes layers below see the end of the
	// Headers bound as their context's deadline (unless the caller's
	// deadline is earlier), so a retry below does not start a wait that
	// cannot end in time, while the body is still not cut at that
	// deadline. Set it on a bound over every attempt; leave it off on a
	// bound per attempt, whose layers below have nothing to plan.
	ReportDeadline bool

	// HeadersErr, if set, names the Headers bound in errors: a cut's
	// [*Error] also matches it through errors.Is and its message starts
	// with its text. Use it to tell two bounds of one chain apart (the
	// transport package's stack uses ErrAttemptTimeout and ErrTimeout).
	// Nil: the message starts with ErrHeaders'.
	HeadersErr error `json:"-"`

	// BodyIdleErr, if set, names the BodyIdle bound in errors, as
	// HeadersErr does for Headers.
	BodyIdleErr error `json:"-"`
}
