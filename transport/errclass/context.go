package errclass

import (
	"context"
	"time"
)

// Attempt describes one attempt of a request. A retry layer puts it in the
// context of every attempt after the first, so that the layers below it
// (tracing, logging) know which attempt they serve without importing it.
type Attempt struct {
	// Number counts attempts from 1.
	Number int
	// Delay is the wait that preceded this attempt; zero for the first.
	Delay time.Duration
	// FromRetryAfter reports that Delay was set by the server's Retry-After
	// (or X-RateLimit-Reset) hint, or by a refusing layer's RetryIn, rather
	// than by backoff.
	FromRetryAfter bool
}

type attemptKey struct{}

// WithAttempt returns a copy of ctx carrying a.
func WithAttempt(ctx context.Context, a Attempt) context.Context {
	return context.WithValue(ctx, attemptKey{}, &a)
}

// AttemptFromContext returns the attempt that ctx belongs to. The first
// attempt carries no value in its context (which keeps the success path free
// of allocations), so a context without one reports Attempt{Number: 1}.
func AttemptFromContext(ctx context.Context) Attempt {
	if a, ok := ctx.Value(attemptKey{}).(*Attempt); ok {
		return *a
	}
	return Attempt{Number: 1}
}

// Observer receives the decisions a retry layer takes for one request, for
// telemetry: a layer above retry (tracing) puts one in the request's context
// with [WithObserver]. Methods are called on the request's goroutine and must
// not block.
type Observer interface {
	// Retrying is called when the attempt whose outcome is last will be
	// followed by next, after next.Delay.
	Retrying(last Outcome, next Attempt)
	// GaveUp is called when a retryable outcome is not retried; reason is
	// the retry layer's sentinel error saying why (budget exhausted, no time
	// left, attempts exhausted, body not replayable, ...).
	GaveUp(last Outcome, attempts int, reason error)
}

type observerKey struct{}

// WithObserver returns a copy of ctx carrying o.
func WithObserver(ctx context.Context, o Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

// ObserverFromContext returns the Observer in ctx, or nil.
func ObserverFromContext(ctx context.Context) Observer {
	o, _ := ctx.Value(observerKey{}).(Observer)
	return o
}
