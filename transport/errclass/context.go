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
	// Hedge reports that this attempt is a hedge: sent while an earlier
	// attempt of the same request was still waiting for its answer, not
	// after that one failed. Delay is then the time waited for the
	// earlier attempt.
	Hedge bool
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

// StopReason says why a retry layer made no further attempt after a
// retryable outcome. Its values are snake_case names, the same in error
// texts, span attributes and metric values; the zero value means retries
// did not stop early (the outcome was not retryable).
type StopReason string

// Reasons for which a retry layer stops retrying.
const (
	// StopAttemptsExhausted: the attempt limit was reached, or the
	// policy's BackOff said stop.
	StopAttemptsExhausted StopReason = "attempts_exhausted"
	// StopBudgetExhausted: the shared retry budget refused a retry.
	StopBudgetExhausted StopReason = "budget_exhausted"
	// StopNotReplayable: the request has a body that cannot be sent again
	// (no GetBody).
	StopNotReplayable StopReason = "not_replayable"
	// StopNotIdempotent: the policy retries only idempotent requests after
	// a 5xx, and this one is not.
	StopNotIdempotent StopReason = "not_idempotent"
	// StopContextDeadline: the next attempt could not start before the
	// request context's deadline.
	StopContextDeadline StopReason = "context_deadline"
	// StopMaxElapsed: the next attempt could not start within the policy's
	// bound on the time spent retrying.
	StopMaxElapsed StopReason = "max_elapsed"
	// StopRetryAfterTooLong: the server asked for a wait (Retry-After)
	// longer than the policy honours.
	StopRetryAfterTooLong StopReason = "retry_after_too_long"
)

// Observer receives the decisions a retry layer takes for one request, for
// telemetry. Put one in the request's context with [WithObserver]; the
// retry layer reads it only once a first attempt has failed retryably.
// Methods are called on the request's goroutine and must not block. A
// method that panics stops the request there: the panic reaches the
// caller, and the response the retry layer held, which the caller then
// never gets, is closed.
type Observer interface {
	// Retrying is called when the attempt whose outcome is last will be
	// followed by next, after next.Delay.
	Retrying(last Outcome, next Attempt)
	// GaveUp is called when a retryable outcome is not retried, after
	// attempts attempts, for the given reason.
	GaveUp(last Outcome, attempts int, reason StopReason)
}

// HedgeObserver is an optional interface of an [Observer]: a retry layer
// that hedges requests (sends another attempt while one is still waiting
// for its answer) tells an Observer that also implements it about each
// hedge it sent, once the request's race is decided. It is a separate
// interface so that Observers written before hedging keep compiling; the
// observers [WithObserver] composes forward it to each one that
// implements it.
type HedgeObserver interface {
	// Hedged is called once for each hedge sent (a, with a.Hedge set),
	// when the first answer that ends the race has arrived: won reports
	// whether a's answer was that one (never when the caller's own
	// cancellation ended the race).
	Hedged(a Attempt, won bool)
}

type observerKey struct{}

// WithObserver returns a copy of ctx in which o hears the retry layer's
// decisions along with every observer already in ctx, as
// [net/http/httptrace.WithClientTrace] composes with the trace already
// there: adding an observer never silences another. Observers are called
// in the order they were added, the one already in ctx first (so a
// caller's observer hears before those added by the layers below it). A
// nil o returns ctx unchanged.
func WithObserver(ctx context.Context, o Observer) context.Context {
	if o == nil {
		return ctx
	}
	if prev := ObserverFromContext(ctx); prev != nil {
		o = &observers{first: prev, then: o}
	}
	return context.WithValue(ctx, observerKey{}, o)
}

// ObserverFromContext returns the Observer in ctx (all the observers added
// to it, as one), or nil.
func ObserverFromContext(ctx context.Context) Observer {
	o, _ := ctx.Value(observerKey{}).(Observer)
	return o
}

// observers calls first, then then.
type observers struct{ first, then Observer }

func (o *observers) Retrying(last Outcome, next Attempt) {
	o.first.Retrying(last, next)
	o.then.Retrying(last, next)
}

func (o *observers) GaveUp(last Outcome, attempts int, reason StopReason) {
	o.first.GaveUp(last, attempts, reason)
	o.then.GaveUp(last, attempts, reason)
}

func (o *observers) Hedged(a Attempt, won bool) {
	if h, ok := o.first.(HedgeObserver); ok {
		h.Hedged(a, won)
	}
	if h, ok := o.then.(HedgeObserver); ok {
		h.Hedged(a, won)
	}
}
