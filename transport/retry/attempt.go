package retry

import (
	"context"
	"time"
)

// Attempt describes one attempt of a request, for the layers below retry
// (tracing, logging).
type Attempt struct {
	// Number counts attempts from 1.
	Number int
	// Delay is the wait that preceded this attempt; zero for the first.
	Delay time.Duration
	// FromRetryAfter reports that Delay was set by the server's
	// Retry-After (or X-RateLimit-Reset) hint rather than by backoff.
	FromRetryAfter bool
}

type attemptKey struct{}

// AttemptFromContext returns the attempt that ctx belongs to. The first
// attempt carries no value in its context (that keeps the success path free
// of allocations), so a context without one reports Attempt{Number: 1}.
func AttemptFromContext(ctx context.Context) Attempt {
	if a, ok := ctx.Value(attemptKey{}).(*Attempt); ok {
		return *a
	}
	return Attempt{Number: 1}
}

func withAttempt(ctx context.Context, a Attempt) context.Context {
	return context.WithValue(ctx, attemptKey{}, &a)
}
