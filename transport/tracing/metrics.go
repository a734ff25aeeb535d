package tracing

import (
	"context"
	"sync"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys of our own, where the OpenTelemetry conventions stop.
const (
	attrClass          = attribute.Key("resilient.class")
	attrAttempt        = attribute.Key("resilient.attempt")
	attrAttempts       = attribute.Key("resilient.attempts")
	attrDelay          = attribute.Key("resilient.retry.delay")
	attrRetryAfter     = attribute.Key("resilient.retry_after")
	attrFromRetryAfter = attribute.Key("resilient.retry.from_retry_after")
	attrStopReason     = attribute.Key("resilient.retry.stop_reason")
	attrRefused        = attribute.Key("resilient.refused")
	attrIdempotencyKey = attribute.Key("resilient.idempotency_key")
	attrDetail         = attribute.Key("resilient.error.detail")
	attrBreaker        = attribute.Key("resilient.breaker.name")
	attrFrom           = attribute.Key("resilient.breaker.from")
	attrTo             = attribute.Key("resilient.breaker.to")
	attrCreditsKey     = attribute.Key("resilient.credits.key")
	attrPacingKey      = attribute.Key("resilient.pacing.key")
	attrPacingWait     = attribute.Key("resilient.pacing.wait")
	attrLimitKey       = attribute.Key("resilient.limit.key")
	attrLimitWait      = attribute.Key("resilient.limit.wait")
	attrWon            = attribute.Key("resilient.hedge.won")
)

// Span events of the pacing layer, on the attempt's span.
const (
	eventPacingWait    = "pacing.wait"
	eventPacingRefused = "pacing.refused"
)

// Span events of the concurrency limit, on the attempt's span.
const (
	eventLimitWait    = "limit.wait"
	eventLimitRefused = "limit.refused"
)

// eventHedge marks the span of an attempt that is a hedge.
const eventHedge = "hedge"

// giveUpsDescription describes resilient.client.retry.give_ups with the
// values its resilient.retry.stop_reason attribute takes.
const giveUpsDescription = "Retryable failures not retried, by resilient.retry.stop_reason: " +
	string(errclass.StopAttemptsExhausted) + ", " + string(errclass.StopBudgetExhausted) + ", " +
	string(errclass.StopNotReplayable) + ", " + string(errclass.StopNotIdempotent) + ", " +
	string(errclass.StopContextDeadline) + ", " + string(errclass.StopMaxElapsed) + ", " +
	string(errclass.StopRetryAfterTooLong) + "."

// durationBuckets are the OpenTelemetry HTTP conventions' advised
// boundaries for http.client.request.duration.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// maxGauged bounds the keys each gauge reports (breaker names, credits
// keys).
const maxGauged = 1000

// lastValues holds the last value of each key an observable gauge reports,
// for at most maxGauged keys: when full, a new key takes the place of the
// key updated longest ago, one whose value is idle (a closed breaker) first.
// A key that came back after being dropped is reported again. The zero
// value is ready to use.
type lastValues struct {
	m   map[string]lastValue
	seq uint64
}

type lastValue struct {
	v   int64
	seq uint64 // when v was set
}

// set records v for key. idle, if not nil, says which values are
// dropped first.
func (g *lastValues) set(key string, v int64, idle func(int64) bool) {
	if g.m == nil {
		g.m = make(map[string]lastValue)
	}
	g.seq++
	if _, known := g.m[key]; !known && len(g.m) >= maxGauged {
		g.evict(idle)
	}
	g.m[key] = lastValue{v, g.seq}
}

// evict drops the key updated longest ago, among the idle ones when there
// are any. It walks every key: it runs only when a new key arrives at a
// full gauge.
func (g *lastValues) evict(idle func(int64) bool) {
	var oldest string
	var oldestSeq uint64
	oldestIdle, found := false, false
	for k, e := range g.m {
		isIdle := idle != nil && idle(e.v)
		if !found || isIdle && !oldestIdle || isIdle == oldestIdle && e.seq < oldestSeq {
			oldest, oldestSeq, oldestIdle, found = k, e.seq, isIdle, true
		}
	}
	delete(g.m, oldest)
}

// instruments are the metrics a Tracer records. Every recording first asks
// Enabled, so no-op instruments cost no allocation.
type instruments struct {
	attemptDuration metric.Float64Histogram // http.client.request.duration
	requestDuration metric.Float64Histogram
	attempts        metric.Int64Counter
	retries         metric.Int64Counter
	retryDelay      metric.Float64Histogram
	giveUps         metric.Int64Counter
	fastFails       metric.Int64Counter
	transitions     metric.Int64Counter
	pacingWaits     metric.Float64Histogram
	pacingRefusals  metric.Int64Counter
	limitWaits      metric.Float64Histogram
	limitRefusals   metric.Int64Counter
	hedges          metric.Int64Counter

	mu        sync.Mutex
	states    lastValues // breaker name → its BreakerState
	remaining lastValues // credits latch key → the last count of credits left
}

func newInstruments(m metric.Meter) *instruments {
	// Errors from instrument creation leave a working no-op instrument in
	// place; they are reported to the global error handler by the SDK.
	in := &instruments{}
	in.attemptDuration, _ = m.Float64Histogram("http.client.request.duration",
		metric.WithUnit("s"), metric.WithDescription("Duration of HTTP client requests: one per attempt, until response headers."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	in.requestDuration, _ = m.Float64Histogram("resilient.client.request.duration",
		metric.WithUnit("s"), metric.WithDescription("Duration of logical requests, all attempts and waits included, until response headers."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	in.attempts, _ = m.Int64Counter("resilient.client.attempts",
		metric.WithUnit("{attempt}"), metric.WithDescription("Attempts sent or refused, by errclass class."))
	in.retries, _ = m.Int64Counter("resilient.client.retries",
		metric.WithUnit("{retry}"), metric.WithDescription("Retries decided, by the class of the attempt that failed."))
	in.retryDelay, _ = m.Float64Histogram("resilient.client.retry.delay",
		metric.WithUnit("s"), metric.WithDescription("Waits before retries."),
		metric.WithExplicitBucketBoundaries(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30))
	in.giveUps, _ = m.Int64Counter("resilient.client.retry.give_ups",
		metric.WithUnit("{request}"), metric.WithDescription(giveUpsDescription))
	in.fastFails, _ = m.Int64Counter("resilient.client.fast_fails",
		metric.WithUnit("{attempt}"), metric.WithDescription("Attempts refused without being sent (open breaker, 402 latch)."))
	in.transitions, _ = m.Int64Counter("resilient.breaker.transitions",
		metric.WithUnit("{transition}"), metric.WithDescription("Circuit breaker state changes."))
	in.pacingWaits, _ = m.Float64Histogram("resilient.pacing.wait.duration",
		metric.WithUnit("s"), metric.WithDescription("Waits before sending, for a throttle window a server announced or a configured rate, by resilient.pacing.key."),
		metric.WithExplicitBucketBoundaries(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30))
	in.pacingRefusals, _ = m.Int64Counter("resilient.pacing.refusals",
		metric.WithUnit("{request}"), metric.WithDescription("Requests refused, not sent, because their throttle window or rate would have kept them waiting too long, by resilient.pacing.key."))
	in.limitWaits, _ = m.Float64Histogram("resilient.limit.wait.duration",
		metric.WithUnit("s"), metric.WithDescription("Time requests queued for a slot of their concurrency limit before they were sent, by resilient.limit.key."),
		metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5))
	in.limitRefusals, _ = m.Int64Counter("resilient.limit.refusals",
		metric.WithUnit("{request}"), metric.WithDescription("Requests refused, not sent, because no slot of their concurrency limit came free within its queue wait, by resilient.limit.key."))
	in.hedges, _ = m.Int64Counter("resilient.client.hedges",
		metric.WithUnit("{hedge}"), metric.WithDescription("Hedges sent (attempts sent while an earlier one still waited), by resilient.hedge.won: whether the hedge's answer was the one the caller got."))
	if left, err := m.Int64ObservableGauge("resilient.credits.remaining",
		metric.WithUnit("{credit}"), metric.WithDescription("Credits left, as the last response of each route reported them "+
			"(credits.Policy.RemainingHeader or RemainingField).")); err == nil {
		m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			in.mu.Lock()
			defer in.mu.Unlock()
			for key, e := range in.remaining.m {
				o.ObserveInt64(left, e.v, metric.WithAttributes(attrCreditsKey.String(key)))
			}
			return nil
		}, left)
	}
	state, err := m.Int64ObservableGauge("resilient.breaker.state",
		metric.WithUnit("{state}"), metric.WithDescription("Current circuit breaker state: "+
			"0 closed, 1 half-open, 2 open."))
	if err == nil {
		m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			in.mu.Lock()
			defer in.mu.Unlock()
			for name, e := range in.states.m {
				o.ObserveInt64(state, e.v, metric.WithAttributes(attrBreaker.String(name)))
			}
			return nil
		}, state)
	}
	return in
}

// creditsRemaining records key's last count for the gauge (see
// lastValues: the keys updated longest ago make room for new ones).
func (in *instruments) creditsRemaining(key string, n int64) {
	in.mu.Lock()
	in.remaining.set(key, n, nil)
	in.mu.Unlock()
}

// closedBreaker says which breaker states the gauge drops first: a closed
// breaker's absence hides nothing.
func closedBreaker(v int64) bool { return v == int64(BreakerClosed) }

// pacing records a wait (refused false) or a refusal of the pacing layer:
// an event on the attempt's span in ctx, if it records, and the metric.
func (in *instruments) pacing(ctx context.Context, key string, d time.Duration, refused bool) {
	name, hist := eventPacingWait, in.pacingWaits
	if refused {
		name = eventPacingRefused
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(name, trace.WithAttributes(attrPacingKey.String(key), attrPacingWait.Float64(d.Seconds())))
	}
	switch {
	case refused && in.pacingRefusals.Enabled(ctx):
		in.pacingRefusals.Add(ctx, 1, metric.WithAttributes(attrPacingKey.String(key)))
	case !refused && hist.Enabled(ctx):
		hist.Record(ctx, d.Seconds(), metric.WithAttributes(attrPacingKey.String(key)))
	}
}

// limit records a queue wait (refused false) or a refusal of the
// concurrency limit: an event on the attempt's span in ctx, if it records,
// and the metric.
func (in *instruments) limit(ctx context.Context, key string, d time.Duration, refused bool) {
	name := eventLimitWait
	if refused {
		name = eventLimitRefused
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(name, trace.WithAttributes(attrLimitKey.String(key), attrLimitWait.Float64(d.Seconds())))
	}
	switch {
	case refused && in.limitRefusals.Enabled(ctx):
		in.limitRefusals.Add(ctx, 1, metric.WithAttributes(attrLimitKey.String(key)))
	case !refused && in.limitWaits.Enabled(ctx):
		in.limitWaits.Record(ctx, d.Seconds(), metric.WithAttributes(attrLimitKey.String(key)))
	}
}

// LimitWaited records that the concurrency limit queued a request for d
// before it got a slot of key: a "limit.wait" event on the span in ctx
// (the attempt's, below tracing's attempt layer) with the attributes
// resilient.limit.key and resilient.limit.wait (seconds), and the
// histogram resilient.limit.wait.duration{resilient.limit.key}. Feed it
// from limit.Policy.OnWait; the transport package's stack does.
func (t *Tracer) LimitWaited(ctx context.Context, key string, d time.Duration) {
	t.lazy()
	t.inst.limit(ctx, key, d, false)
}

// LimitRefused records that the concurrency limit refused a request, not
// sent, after it queued d for a slot of key: a "limit.refused" event on
// the span in ctx (attributes as for [Tracer.LimitWaited]) and the counter
// resilient.limit.refusals{resilient.limit.key}. Feed it from
// limit.Policy.OnRefuse; the transport package's stack does. The refusal
// is also counted, as every refusal is, by resilient.client.fast_fails.
func (t *Tracer) LimitRefused(ctx context.Context, key string, d time.Duration) {
	t.lazy()
	t.inst.limit(ctx, key, d, true)
}

func (in *instruments) breakerChanged(name string, from, to BreakerState) {
	if to.valid() {
		in.mu.Lock()
		in.states.set(name, int64(to), closedBreaker)
		in.mu.Unlock()
	}
	ctx := context.Background()
	if in.transitions.Enabled(ctx) {
		in.transitions.Add(ctx, 1, metric.WithAttributes(attrBreaker.String(name), attrFrom.String(from.String()), attrTo.String(to.String())))
	}
}

// BreakerState is a circuit breaker's state as tracing records it. Its
// numeric value is what the resilient.breaker.state gauge reports (0
// closed, 1 half-open, 2 open) and its String is the value of the
// resilient.breaker.from and resilient.breaker.to attributes. Tracing does
// not import the breaker layer: whoever connects the two maps
// breaker.State to these constants explicitly, one case per state, as the
// transport package's stack does.
type BreakerState int8

// The states of a circuit breaker.
const (
	// BreakerClosed lets every request through.
	BreakerClosed BreakerState = 0
	// BreakerHalfOpen lets a few probe requests through.
	BreakerHalfOpen BreakerState = 1
	// BreakerOpen refuses every request without sending it.
	BreakerOpen BreakerState = 2
)

// String returns "closed", "half-open" or "open", and "unknown" for a value
// out of range.
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerHalfOpen:
		return "half-open"
	case BreakerOpen:
		return "open"
	}
	return "unknown"
}

func (s BreakerState) valid() bool { return s >= BreakerClosed && s <= BreakerOpen }

// Hedged counts a hedge the retry layer sent, once its race is decided:
// the requestObserver is an [errclass.HedgeObserver].
// A hedge is an attempt: the request span's resilient.attempts counts it.
// Hedged runs on the request's goroutine, as Retrying does.
func (o *requestObserver) Hedged(_ errclass.Attempt, won bool) {
	o.retries++
	if o.t.inst.hedges.Enabled(o) {
		o.t.inst.hedges.Add(o, 1, metric.WithAttributes(attrWon.Bool(won)))
	}
}
