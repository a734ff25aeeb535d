package tracing

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of the spans and metrics.
const ScopeName = "github.com/resilient-http/resilient/transport/tracing"

// Span kinds as ready-made options: building one per span would allocate,
// and so would the variadic slice of an attempt's only option.
var (
	kindInternal = trace.WithSpanKind(trace.SpanKindInternal)
	clientStart  = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
)

// defaultDetailBytes bounds how much of an error body is captured for the
// resilient.error.detail attribute.
const defaultDetailBytes = 1024

// Config configures a [Tracer]. The zero Config uses the OpenTelemetry
// globals, names spans after the method alone, and records error details.
type Config struct {
	// TracerProvider makes the spans. Nil means otel.GetTracerProvider(),
	// looked up on every request so that a provider installed later is used.
	TracerProvider trace.TracerProvider `json:"-"`

	// MeterProvider makes the instruments. Nil means
	// otel.GetMeterProvider() (whose instruments follow a provider
	// installed later).
	MeterProvider metric.MeterProvider `json:"-"`

	// Propagator injects trace context into each attempt's headers. Nil
	// means otel.GetTextMapPropagator(), looked up on every attempt.
	Propagator propagation.TextMapPropagator `json:"-"`

	// Route, if set, returns the low-cardinality route of a request, such
	// as "/v1/jobs/{id}". Spans are then named "{method} {route}" and carry
	// url.template; otherwise they are named "{method}". A route that does
	// not start with "/", such as an operation's name of a header-routed
	// API ("DynamoDB_20120810.GetItem"), names spans but sets no
	// url.template, which the conventions reserve for path templates.
	Route func(*http.Request) string `json:"-"`

	// Classifier labels each attempt's outcome. Nil means
	// [errclass.Classify]. Give it the same classifier as the retry layer.
	Classifier errclass.Classifier `json:"-"`

	// DetailBytes bounds how much of an error response's body (status >=
	// 400) is kept, as the caller reads it, to record the decoded detail on
	// the span. The body is never read ahead of the caller. Zero means 1024;
	// a negative value records no detail.
	DetailBytes int
}

// Tracer makes the two tracing layers: [Tracer.Request] for the logical
// request and [Tracer.Attempt] for each attempt. It is safe for concurrent
// use; one Tracer can serve any number of stacks. The zero Tracer behaves
// as New(Config{}): the OpenTelemetry globals, the default classifier.
type Tracer struct {
	init  sync.Once // fills in the zero Tracer's defaults
	cfg   Config
	state atomic.Pointer[tracerState]
	inst  *instruments
	names atomic.Pointer[spanNames] // of the route seen last
	prop  atomic.Pointer[propagatorState]
}

// tracerState caches the tracer of the provider in use.
type tracerState struct {
	provider trace.TracerProvider
	global   trace.TracerProvider // otel.GetTracerProvider() when resolved
	tracer   trace.Tracer         // nil: the provider records nothing
}

// New returns a Tracer configured by cfg, whose zero fields take their
// documented defaults.
func New(cfg Config) *Tracer {
	if cfg.Classifier == nil {
		cfg.Classifier = errclass.Classify
	}
	if cfg.DetailBytes == 0 {
		cfg.DetailBytes = defaultDetailBytes
	}
	t := &Tracer{cfg: cfg}
	t.lazy()
	return t
}

// lazy fills in what New would have, once: a zero Tracer gets the
// defaults. It runs when layers are made, never per request.
func (t *Tracer) lazy() {
	t.init.Do(func() {
		if t.cfg.Classifier == nil {
			t.cfg.Classifier = errclass.Classify
		}
		if t.cfg.DetailBytes == 0 {
			t.cfg.DetailBytes = defaultDetailBytes
		}
		mp := t.cfg.MeterProvider
		if mp == nil {
			mp = otel.GetMeterProvider()
		}
		t.inst = newInstruments(mp.Meter(ScopeName))
	})
}

// Around returns a middleware that traces the logical request outside inner
// (typically retry.Middleware) and each attempt inside it, so a chain needs
// one call to put both layers at their depths. A nil inner gives the two
// layers back to back.
func (t *Tracer) Around(inner func(http.RoundTripper) http.RoundTripper) func(http.RoundTripper) http.RoundTripper {
	request, attempt := t.Request(), t.Attempt()
	return func(next http.RoundTripper) http.RoundTripper {
		rt := attempt(next)
		if inner != nil {
			rt = inner(rt)
		}
		return request(rt)
	}
}

// tracer returns the tracer to use now, or nil when spans would not be
// recorded. Starting a span on a no-op tracer allocates, so no-op providers
// are recognised up front.
func (t *Tracer) tracer() trace.Tracer {
	global := otel.GetTracerProvider()
	tp := t.cfg.TracerProvider
	if tp == nil {
		tp = global
	}
	if s := t.state.Load(); s != nil && s.global == global && s.provider == tp {
		return s.tracer
	}
	s := &tracerState{provider: tp, global: global}
	if !isNoop(tp, global) {
		s.tracer = tp.Tracer(ScopeName)
	}
	if comparable(tp) && comparable(global) {
		t.state.Store(s)
	}
	return s.tracer
}

// isNoop reports whether tp never records: the noop package's provider, or
// OpenTelemetry's global placeholder while no provider has been installed
// (once one is, otel.GetTracerProvider returns it instead).
func isNoop(tp, global trace.TracerProvider) bool {
	switch tp.(type) {
	case noop.TracerProvider, *noop.TracerProvider:
		return true
	}
	return isGlobalPlaceholder(tp) && tp == global
}

// isGlobalPlaceholder reports whether v is one of OpenTelemetry's global
// placeholders, which delegate to what is installed later.
func isGlobalPlaceholder(v any) bool {
	typ := reflect.TypeOf(v)
	return typ.Kind() == reflect.Pointer && typ.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global"
}

// comparable reports whether v can be compared with == without panicking.
func comparable(v any) bool { return v == nil || reflect.TypeOf(v).Comparable() }

// propagator returns the propagator to inject with now, or nil when it
// injects no field (then no header is copied).
func (t *Tracer) propagator() propagation.TextMapPropagator {
	p := t.cfg.Propagator
	if p == nil {
		p = otel.GetTextMapPropagator()
	}
	// Fields allocates its answer on every call (TraceContext's does):
	// ask once per propagator.
	if c := t.prop.Load(); c != nil && same(c.prop, p) {
		return c.injects
	}
	var injects propagation.TextMapPropagator
	if len(p.Fields()) > 0 {
		injects = p
	}
	// OpenTelemetry's global placeholder delegates to the propagator set
	// later, whose fields may differ: not cached.
	if !isGlobalPlaceholder(p) {
		t.prop.Store(&propagatorState{prop: p, injects: injects})
	}
	return injects
}

// same reports whether a and b are the same value: equal if comparable,
// and for slices (a composite propagator is one) the same elements in
// memory, which the global propagator, stored once, keeps.
func same(a, b any) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	switch {
	case ta != tb:
		return false
	case ta == nil || ta.Comparable():
		return a == b
	case ta.Kind() == reflect.Slice:
		va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
		return va.Len() == vb.Len() && (va.Len() == 0 || va.Pointer() == vb.Pointer())
	}
	return false
}

// propagatorState caches whether a propagator injects anything.
type propagatorState struct {
	prop    propagation.TextMapPropagator
	injects propagation.TextMapPropagator // prop, or nil if it has no fields
}

// BreakerStateChanged records a circuit breaker's change of state: the
// resilient.breaker.transitions counter and the resilient.breaker.state
// gauge (see [BreakerState] for its values). Call it from the breaker
// layer's state-change callback, mapping breaker.State to [BreakerState]
// case by case; names are breaker keys. A state out of range is counted
// under "unknown" and leaves the gauge as it was.
func (t *Tracer) BreakerStateChanged(name string, from, to BreakerState) {
	t.lazy()
	t.inst.breakerChanged(name, from, to)
}

// CreditsRemaining records the count of credits left that a response of
// the route key reported, for the gauge resilient.credits.remaining{
// resilient.credits.key}. Feed it from credits.Policy.OnRemaining; the
// transport package's stack does.
func (t *Tracer) CreditsRemaining(key string, n int64) {
	t.lazy()
	t.inst.creditsRemaining(key, n)
}

// PacingWaited records that the pacing layer holds a request back for d
// before sending it, for the throttle window or rate of key: a
// "pacing.wait" event (attributes resilient.pacing.key and
// resilient.pacing.wait, in seconds) on the span in ctx, the attempt's,
// when it records, and the histogram resilient.pacing.wait.duration{
// resilient.pacing.key}. Feed it from pacing.Policy.OnWait; the transport
// package's stack does.
func (t *Tracer) PacingWaited(ctx context.Context, key string, d time.Duration) {
	t.lazy()
	t.inst.pacing(ctx, key, d, false)
}

// PacingRefused records that the pacing layer refused a request, not sent,
// that would have waited d for key: a "pacing.refused" event on the span
// in ctx (attributes as for [Tracer.PacingWaited]) and the counter
// resilient.pacing.refusals{resilient.pacing.key}. Feed it from
// pacing.Policy.OnRefuse; the transport package's stack does. The refusal
// is also counted, as every refusal is, by resilient.client.fast_fails.
func (t *Tracer) PacingRefused(ctx context.Context, key string, d time.Duration) {
	t.lazy()
	t.inst.pacing(ctx, key, d, true)
}

// roundTrip calls next.RoundTrip, turning the (nil, nil) of a broken
// RoundTripper into an error wrapping [errclass.ErrNilResponse]: neither this
// layer nor the ones above may be handed a nil response without an error,
// nor a response with one (its body is closed).
func roundTrip(next http.RoundTripper, req *http.Request) (*http.Response, error) {
	resp, err := next.RoundTrip(req)
	if resp == nil && err == nil {
		err = nilResponse(next)
	}
	if resp != nil && err != nil {
		// A RoundTripper returning both is broken: hand up the error, as
		// http.Client would take it, and close the body nobody else sees.
		if resp.Body != nil {
			resp.Body.Close()
		}
		resp = nil
	}
	return resp, err
}

// spanRoundTrip is roundTrip for a layer whose span has started: if the
// RoundTripper below panics (it, or a hook it runs: a caller's observer,
// a breaker's OnStateChange), the span ends, marked as an error, and the
// panic goes on to the caller. A span left open would never be exported.
func spanRoundTrip(span trace.Span, next http.RoundTripper, req *http.Request) (resp *http.Response, err error) {
	returned := false
	defer func() {
		if !returned {
			span.SetStatus(codes.Error, "panic in the RoundTripper below")
			span.End()
		}
	}()
	resp, err = roundTrip(next, req)
	returned = true
	return resp, err
}

func nilResponse(next http.RoundTripper) error {
	return fmt.Errorf("tracing: %T: %w", next, errclass.ErrNilResponse)
}

// closeIdle forwards CloseIdleConnections to rt when it has that method, as
// http.Client.CloseIdleConnections does with its Transport.
func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
