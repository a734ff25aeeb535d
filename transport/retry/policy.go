package retry

import (
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/resilient-http/resilient/transport/errclass"
)

// Defaults applied to the zero fields of a [Policy].
const (
	DefaultMaxAttempts   = 3
	DefaultBaseDelay     = 100 * time.Millisecond
	DefaultMaxDelay      = 5 * time.Second
	DefaultMaxElapsed    = 30 * time.Second
	DefaultMaxRetryAfter = 30 * time.Second
)

// Policy configures a [Transport]. The zero Policy is ready to use: three
// attempts, exponential backoff with jitter starting at 100ms, at most 30
// seconds in all, the default classifier and a budget of its own (see
// [Budget]).
type Policy struct {
	// MaxAttempts bounds attempts, the first included. Zero means 3; 1
	// disables retries. One call can override it through its context:
	// see [WithMaxAttempts].
	MaxAttempts int

	// BaseDelay is the mean first wait of the exponential backoff; each
	// later wait doubles, with ±50% jitter. Zero means 100ms.
	BaseDelay time.Duration

	// MaxDelay caps any single backoff wait, jitter included (Retry-After
	// hints are capped by MaxRetryAfter instead). Zero means 5s.
	MaxDelay time.Duration

	// MaxElapsed bounds the time from the end of the first attempt to the
	// start of the last: a wait that would end later is not started. (The
	// request's context deadline, if any, bounds the whole.) Zero means 30s.
	MaxElapsed time.Duration

	// MaxRetryAfter is the longest server-requested wait (Retry-After,
	// X-RateLimit-Reset) the Transport will honour. A longer hint ends the
	// request at once with the response that carried it. Zero means 30s.
	MaxRetryAfter time.Duration

	// RequireIdempotencyKey restricts retries of 5xx responses, and of
	// responses retryable only because the server advised it (see
	// [errclass.Outcome.Advised]), to requests that are idempotent by
	// method or carry an Idempotency-Key header (see
	// [errclass.Idempotent]). 429 responses and failures before the
	// request was sent stay retryable: the server did not process them.
	// The default (false) follows the partner-API contract and retries 5xx
	// for any method whose body can be replayed.
	RequireIdempotencyKey bool

	// WaitForBreaker makes a request refused by a layer below (an open
	// circuit breaker: see [errclass.Refusal]) wait until that layer expects
	// to let requests through, then try again, as long as the wait fits
	// MaxRetryAfter, the deadlines and the budget, and an attempt is left.
	// The default (false) fails fast: an open breaker ends the request at
	// once with its error.
	WaitForBreaker bool

	// SDKRetriesMode leaves the requests it names to the SDK that sent
	// them, which retries by itself: for those the Transport makes one
	// attempt, so that the SDK's retries and ours do not multiply (three
	// each make nine requests). [SDKStainless] names the requests of
	// Stainless-generated SDKs (see [StainlessSDK]), [SDKAlways] every
	// request; the zero value, [SDKNone], none. Policy files spell it
	// "sdk_retries". It combines with SDKRetries: a request either one
	// names is left to the SDK. A call's [WithMaxAttempts] still wins.
	SDKRetriesMode SDKRetriesMode `json:"sdk_retries"`

	// SDKRetries, if set, reports the requests to leave to the SDK that
	// sent them, as SDKRetriesMode does, for SDKs a mode does not name. It
	// is called only once a first attempt has failed retryably (or before
	// it, to decide whether BufferBody or Hedge applies), and must be safe for
	// concurrent use. Code only: policy files set SDKRetriesMode.
	SDKRetries func(req *http.Request) bool `json:"-"`

	// BufferBody, when positive, makes a request body that has no GetBody
	// replayable if it holds at most BufferBody bytes: it is read into
	// memory before the first attempt (the request is copied; the
	// caller's is never changed) and each attempt sends it again. A larger
	// body is read no further than BufferBody+1 bytes: those and the rest
	// go out once, as one intact body, and retries are skipped as without
	// BufferBody (the give-up reason is [errclass.StopNotReplayable]). A
	// body whose ContentLength is known to be larger is not read at all.
	// Zero (the default) buffers nothing: a body without GetBody is sent
	// once. Policy files spell it "buffer_body", a number of bytes or a
	// size such as "64KiB".
	BufferBody int64

	// PrepareRetry, if set, is called before each attempt after the first
	// with that attempt's request and number (2 for the first retry),
	// after the wait and with the attempt's fresh body, to change what
	// must differ between attempts: a signature with a timestamp (AWS
	// SigV4, HMAC schemes), an attempt counter header (amz-sdk-request).
	// The request is a deep copy ([http.Request.Clone]) made for that
	// attempt alone: changing its headers or URL never reaches the
	// caller's request nor another attempt. An error ends the request: an
	// [*Error] that unwraps to it. It runs on the request's goroutine and
	// must be safe for concurrent use. Code only.
	PrepareRetry func(req *http.Request, attempt int) error `json:"-"`

	// Observer, if set, hears the Transport's decisions about every
	// request (each retry, and why retries stopped: a body that could not
	// be replayed among them) as an [errclass.Observer] in the request's
	// context does, and after it: the two compose. Use it to count or log
	// skipped retries without tracing. Its methods must be safe for
	// concurrent use. Code only.
	Observer errclass.Observer `json:"-"`

	// Hedge turns on hedging for the requests that may be sent twice
	// (see [HedgePolicy]): when the first attempt has no answer after a
	// delay, another is sent, and the first answer that is not retryable
	// wins. The zero HedgePolicy, the default, hedges nothing and costs
	// nothing. Policy files spell it "hedge".
	Hedge HedgePolicy

	// Backoff, if set, makes the BackOff for one request, replacing
	// BaseDelay and MaxDelay. It is called only when a first retry is
	// needed, and the BackOff it returns is used by that request alone.
	// Returning backoff.Stop from NextBackOff ends the retries.
	Backoff func() backoff.BackOff `json:"-"`

	// Classifier decides which outcomes are retried. Nil means
	// [errclass.Classify].
	Classifier errclass.Classifier `json:"-"`

	// Budget describes the retry budget: how many retries the Transport
	// may add to its traffic. Each Transport builds a live [*Budget] of
	// its own from it (as does each transport.Stack), so that two built
	// from one Policy share nothing. The zero BudgetPolicy means the
	// defaults. Policy files spell it "budget".
	Budget BudgetPolicy

	// SharedBudget, if set, is a live budget to use instead of one built
	// from Budget, which it overrides: give the same SharedBudget to
	// several Transports (or Stacks) to make them share it. Code only: it
	// is state, not policy, and policy files cannot set it.
	SharedBudget *Budget `json:"-"`
}

// withDefaults returns p with its zero fields filled in.
func (p Policy) withDefaults() Policy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = DefaultMaxElapsed
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if p.Classifier == nil {
		p.Classifier = errclass.Classify
	}
	if p.SharedBudget == nil {
		p.SharedBudget = p.Budget.New()
	}
	p.Hedge = p.Hedge.withDefaults()
	if p.Backoff == nil {
		base, maxDelay := p.BaseDelay, p.MaxDelay
		p.Backoff = func() backoff.BackOff {
			// Elapsed time is bounded by the Transport (MaxElapsed and the
			// context's deadline), not by the BackOff.
			return capped{backoff.NewExponentialBackOff(
				backoff.WithInitialInterval(base),
				backoff.WithMaxInterval(maxDelay),
				backoff.WithMultiplier(2),
				backoff.WithRandomizationFactor(0.5),
				backoff.WithMaxElapsedTime(0),
			), maxDelay}
		}
	}
	return p
}

// capped caps the waits of a BackOff: the exponential BackOff caps its
// interval before jitter, so a wait could reach 1.5 × MaxDelay.
type capped struct {
	backoff.BackOff
	max time.Duration
}

func (c capped) NextBackOff() time.Duration {
	d := c.BackOff.NextBackOff()
	if d != backoff.Stop && d > c.max {
		d = c.max
	}
	return d
}
