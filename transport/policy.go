package transport

import (
	"net/http"
	"time"

	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/credits"
	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/fleet"
	"github.com/resilient-http/resilient/transport/limit"
	"github.com/resilient-http/resilient/transport/pacing"
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
	// whatever else it is given to. The retry hooks apply as they are:
	// Retry.Observer hears this policy's retry decisions along with the
	// stack's tracing, Retry.PrepareRetry prepares each later attempt
	// before it passes through the layers below retry, and requests that
	// Retry.SDKRetries or Retry.SDKRetriesMode leave to their SDK get one
	// attempt.
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

	// Pacing configures the pacing layer, on by default: requests wait
	// (up to Pacing.MaxWait, 30s by default) for the throttle window a
	// server announced (Retry-After on a 429 or 503, the RateLimit
	// fields) instead of each meeting a 429 of its own; a Rate of its own
	// is off unless set. It sits below the breaker and above the attempt
	// timeout. Policies whose Pacing is equal share one set of windows, so
	// a 429 on one endpoint paces its host for all of them; an endpoint's
	// zero Pacing shares the default policy's. With Scope
	// [pacing.ScopeRoute] the stack names each route by its endpoint
	// pattern's path (or its route name, see [Config.Route]) unless Route
	// is set. OnWait and OnRefuse still hear every wait and refusal along
	// with the stack's tracing (an event on the attempt's span, the
	// metrics resilient.pacing.wait.duration and
	// resilient.pacing.refusals). Policy files spell the fields
	// "max_wait" ("never" for a negative MaxWait: never wait),
	// "max_window", "scope" ("host" or "route"), "rate", "burst" and
	// "max_keys".
	Pacing pacing.Policy

	// Limit bounds the requests in flight at once per host (or per route,
	// with Scope [limit.ScopeRoute]), off unless Limit.Max is set: at most
	// Max requests are in flight, their response bodies open; the next
	// ones queue, first come first served, for at most Limit.MaxWait (1s
	// by default), then are refused, not sent, with a [*limit.Error] (an
	// [errclass.Refusal]). With Adaptive the limit moves between MinLimit
	// and Max: halved by a server fault, a timeout or a 429, raised by one
	// per limit's worth of successes, as this policy's classifier says. It
	// sits below pacing and above the attempt timeout. Policies whose
	// Limit is equal and has no hooks share one set of limits; an
	// endpoint's zero Limit shares the default policy's. With
	// [limit.ScopeRoute] the stack names each route by its endpoint
	// pattern's path (or its route name) unless Route is set. OnWait and
	// OnRefuse hear every wait and refusal along with the stack's tracing
	// (an event on the attempt's span, the metrics
	// resilient.limit.wait.duration and resilient.limit.refusals). Policy
	// files spell the fields "max", "max_wait" ("never" for a negative
	// MaxWait: never queue), "scope", "adaptive", "min_limit" and
	// "max_keys".
	Limit limit.Policy

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

	// NoRetry, NoBreaker, NoTracing and NoPacing turn a layer off for
	// this policy.
	NoRetry, NoBreaker, NoTracing, NoPacing bool

	// IdempotencyKey gives each POST and PATCH request without one an
	// Idempotency-Key header (a UUIDv7; see package idempotency), minted
	// once above retry, so that every attempt carries the same key. The
	// caller's request is not modified, and a key the caller set is kept.
	// With a key, errclass.Idempotent holds, so Retry.RequireIdempotencyKey
	// lets a 5xx to a POST be retried, and failures that leave it unknown
	// whether the server processed the request are retried too: turn it
	// on for endpoints whose server honours the header. Off by default
	// (and then the layer is not in the chain). Policy files spell it
	// "idempotency_key".
	IdempotencyKey bool

	// RefusalsAs503 answers a request that a layer refused without
	// sending it (an open breaker, a 402 latch, a throttle window longer
	// than Pacing.MaxWait, a full concurrency-limit queue: any
	// [errclass.Refusal]) with a synthetic 503
	// Service Unavailable instead of an error: Retry-After in whole
	// seconds, rounded up (left out when the layer cannot tell), the
	// header [errclass.RefusedHeader] naming the layer ("breaker",
	// "credits", "pacing", "limit"), a JSON body {"detail": "<the error>"}, and
	// Request set. SDKs that retry errors at once, with sleeps of their
	// own (stripe-go, openai-go), build their own "unavailable" error
	// from it and honour Retry-After. The response is made by the stack
	// itself, above every layer, so its own retry, breakers and metrics
	// see the refusal, never a server's 503; errclass.Classify gives a
	// marked response the refusal's outcome (not retried, not a server
	// fault), so a stack above this one does not count it either. A
	// refusal that comes as the caller's own context ends stays an error.
	// Off by default: a refusal is an error that errors.Is matches
	// (breaker.ErrOpen, apierror.ErrInsufficientCredits,
	// pacing.ErrThrottled, limit.ErrLimited).
	RefusalsAs503 bool `json:"refusals_as_503"`
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
	// URL's host without its port, in any case (a pattern's host is
	// written in lower case).
	//
	// A key without a "/" is not a pattern but a route name
	// ("DynamoDB_20120810.GetItem"): its policy applies to the requests
	// that RouteHeader or Route name so. Route names need one of them.
	Endpoints map[string]Policy

	// RouteHeader, if set, routes by a request header before the
	// patterns, for APIs that send every operation to one path (the AWS
	// JSON protocol: POST / with the operation in X-Amz-Target): a
	// request whose RouteHeader value is the name of an endpoint gets
	// that endpoint's policy; any other falls back to the patterns. The
	// header is found in any case (a map set directly keeps its case).
	// Policy files spell it "route_header".
	RouteHeader string

	// Route, if set, replaces RouteHeader's lookup: it returns the key
	// in Endpoints (a route name, or a pattern) whose policy req gets, or
	// "" (or a key Endpoints does not have) to fall back to the patterns. It must be safe for
	// concurrent use and cheap: it runs on every request. Code only.
	Route func(req *http.Request) string `json:"-"`

	// Fleet, if set, shares what the layers learn with the other replicas
	// of the service (see package fleet, and the module redisstate for a
	// Redis store): 402 latches, breakers and throttle windows, and a
	// configured pacing rate. It is given to every credits, breaker and
	// pacing policy that sets no Fleet of its own. Nil keeps everything
	// local. Code only: it is live state, not policy.
	Fleet fleet.Store `json:"-"`

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
