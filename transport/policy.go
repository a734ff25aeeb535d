package transport

import (
	"time"

	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/credits"
	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/retry"
	"github.com/resilient-http/resilient/transport/tracing"
)

// NoTimeout turns a timeout of a [Policy] off: AttemptTimeout, Timeout or
// BodyIdleTimeout set to it (or to any negative duration) bounds nothing.
// Policy files spell it "none". Zero, in contrast, means the default.
const NoTimeout time.Duration = -1

// Defaults of the timeouts of a [Policy], applied to its zero fields.
const (
	// DefaultAttemptTimeout bounds each attempt until its response
	// headers, as the .NET standard resilience handler does.
	DefaultAttemptTimeout = 10 * time.Second
	// DefaultTimeout bounds a request, every attempt and wait included,
	// until the final response's headers (the same anchor).
	DefaultTimeout = 30 * time.Second
	// DefaultBodyIdleTimeout cuts a response body when no byte of it has
	// arrived for that long. A minute is what common proxies and load
	// balancers allow an idle connection (nginx's proxy_read_timeout, an
	// AWS load balancer's idle timeout), so a server-sent-event stream,
	// whose keep-alives must already beat them, is never cut by it.
	DefaultBodyIdleTimeout = time.Minute
)

// Policy is everything the stack does for one kind of request. The zero
// Policy is the recommended default: every layer on with its own defaults,
// and the default timeouts (nothing waits forever on a silent server).
type Policy struct {
	// Retry configures the retry layer; zero fields take retry's defaults.
	// A zero Retry.Budget shares the stack's budget (built from the
	// default policy's); a non-zero one gives this policy a budget of its
	// own, built by the stack. Retry.SharedBudget, a live budget, is shared with
	// whatever else it is given to.
	Retry retry.Policy

	// Breaker configures the circuit breakers. A zero Breaker shares the
	// default policy's breakers (one per host): a host that is down is down
	// for every endpoint. Any non-zero setting gives this policy breakers
	// of its own, with the zero fields at breaker's defaults.
	Breaker breaker.Policy

	// Credits turns on, and configures, the 402 latch for this policy (off
	// by default: a 402 means "stop submitting" for the partner API, a
	// declined card at Stripe).
	Credits Credits

	// AttemptTimeout bounds each attempt until its response headers
	// arrive. An attempt cut by it counts as a transient failure (retried
	// when safe: idempotent requests, or those with an Idempotency-Key).
	// Once headers are in, it no longer applies: reading the body is not
	// cut short by it. Zero means [DefaultAttemptTimeout] (10s);
	// [NoTimeout] means no bound of its own.
	AttemptTimeout time.Duration

	// Timeout bounds the whole request, every attempt and every wait
	// between them, until the final response's headers. Like
	// AttemptTimeout it does not cut a body being read, so streams and
	// downloads live (BodyIdleTimeout guards those; http.Client.Timeout
	// bounds the body too, if that is wanted). Zero means [DefaultTimeout]
	// (30s); [NoTimeout] means no bound beyond the caller's context.
	Timeout time.Duration

	// BodyIdleTimeout cuts a response body when no byte of it arrives for
	// that long: the read fails with an error matching
	// [ErrBodyIdleTimeout]. Zero means [DefaultBodyIdleTimeout] (1 min);
	// [NoTimeout] means a body may stall forever. The error also matches
	// timeout.ErrBodyIdle.
	BodyIdleTimeout time.Duration

	// RetryStatuses are extra status codes to retry (e.g. 409), and
	// NoRetryStatuses codes never to retry (e.g. 503 for an endpoint
	// where it means maintenance), on top of the classifier.
	RetryStatuses, NoRetryStatuses []int

	// Classifier labels outcomes for every layer of this policy, unless a
	// layer's own policy sets one. Nil means errclass.Classify.
	Classifier errclass.Classifier `json:"-"`

	// NoRetry, NoBreaker and NoTracing turn a layer off for this policy.
	NoRetry, NoBreaker, NoTracing bool
}

// Credits configures the 402 Payment Required latch of a [Policy] (see
// package credits): after a 402, or a response reporting no credits left
// (RemainingHeader, RemainingField), requests to the same route fail fast
// without reaching the network until a probe after Cooldown, or
// [Stack.ResetCredits], releases it. Routed requests are latched by their
// endpoint pattern (with the scheme and host), others by method and
// cleaned path. The zero Credits is off.
type Credits struct {
	// Enabled turns the latch on for the policy.
	Enabled bool
	// Cooldown, MaxKeys, RemainingHeader, RemainingField and the hooks
	// OnLatch and OnRemaining: see credits.Policy; zero means its defaults
	// (1 min, 1000, no signal of credits left). Policy files spell them
	// "cooldown", "max_keys", "remaining_header" and "remaining_field".
	// The stack sets Route to the matched pattern's path; a Key of your
	// own replaces both.
	credits.Policy
}

// Config describes a whole stack: a default policy and per-endpoint ones.
type Config struct {
	// Default applies to requests that match no endpoint pattern.
	Default Policy

	// Endpoints maps patterns, in the syntax of net/http.ServeMux
	// ("POST /v1/enhancements", "GET api.example.com/v1/jobs/{id}",
	// "/v1/lists/"), to the policy for the requests they match. As with
	// ServeMux, the most specific pattern wins; hosts match the request
	// URL's host without its port.
	Endpoints map[string]Policy

	// Tracing configures the spans and metrics of every policy. Its Route is
	// ignored: span names use the matched pattern's path.
	Tracing tracing.Config `json:"-"`
}

// classifier builds p's classifier: the base one with the status
// overrides applied.
func (p Policy) classifier() errclass.Classifier {
	c := p.Classifier
	if c == nil {
		c = errclass.Classify
	}
	if len(p.RetryStatuses) > 0 {
		c = c.WithStatus(errclass.Retryable, p.RetryStatuses...)
	}
	if len(p.NoRetryStatuses) > 0 {
		c = c.WithStatus(errclass.Permanent, p.NoRetryStatuses...)
	}
	return c
}
