package tracing

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Request returns the layer that traces the logical request: one span
// (kind internal) from the call to the end of the response body, with the
// retry layer's decisions as events. Put it outside retry; [Tracer.Around]
// does.
func (t *Tracer) Request() func(http.RoundTripper) http.RoundTripper {
	t.lazy()
	return func(next http.RoundTripper) http.RoundTripper {
		if next == nil {
			next = http.DefaultTransport
		}
		return &requestLayer{t: t, next: next}
	}
}

type requestLayer struct {
	t    *Tracer
	next http.RoundTripper
}

func (l *requestLayer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil || req.URL == nil {
		return roundTrip(l.next, req) // nothing to trace; the layers below say what is wrong
	}
	t := l.t
	ctx := req.Context()
	tracer := t.tracer()
	measure := t.inst.requestDuration.Enabled(ctx)
	observe := tracer != nil || t.inst.retries.Enabled(ctx) || t.inst.giveUps.Enabled(ctx) || t.inst.hedges.Enabled(ctx)
	if !measure && !observe {
		return roundTrip(l.next, req) // nothing records: cost nothing
	}

	var start time.Time
	if measure {
		start = time.Now()
	}
	var span trace.Span = noop.Span{}
	obs := &requestObserver{t: t, url: req.URL, method: req.Method}
	if tracer != nil {
		route := t.route(req)
		obs.name = t.spanName(req, route)
		obs.desc, obs.described = describeRequest(req, route), true
		// The span starts with what samplers are given (method, url.full)
		// and gets the rest with the outcome. It leaves server.address and
		// server.port to its attempts' client spans, where the conventions
		// ask for them: each attribute given at the start costs two more
		// copies, and the SDK's slice grows when the end ones arrive.
		obs.started = len(obs.desc.appendSampling(obs.kv[:0]))
		ctx, span = tracer.Start(ctx, obs.name, kindInternal, trace.WithAttributes(obs.kv[:obs.started]...))
	}
	obs.Context, obs.span = ctx, span
	// obs is the context too: it carries itself under requestKey for the
	// attempt layer, without another allocation.
	ctx = errclass.WithObserver(obs, obs)

	var resp *http.Response
	var err error
	if tracer != nil {
		resp, err = spanRoundTrip(span, l.next, req.WithContext(ctx))
	} else {
		resp, err = roundTrip(l.next, req.WithContext(ctx))
	}
	out := t.cfg.Classifier(req, resp, err)
	if measure {
		t.inst.requestDuration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(metricAttrs(req, out, err)...))
	}
	if tracer == nil { // metrics only: the span is a no-op
		if err != nil {
			return nil, err
		}
		return resp, nil
	}
	// The outcome's attributes, set now in one call (each takes the span's
	// lock) from obs.kv, after the start attributes: no slice of their own.
	end := obs.kv[obs.started:obs.started:len(obs.kv)]
	if obs.desc.template != "" {
		end = append(end, semconv.URLTemplate(obs.desc.template))
	}
	end = append(end, attrAttempts.Int(obs.retries+1), attrClass.String(out.Class.String()))
	if err != nil {
		end = append(end, semconv.ErrorTypeKey.String(errorType(out, err)))
		span.SetAttributes(end...)
		span.SetStatus(codes.Error, errorText(err))
		span.End()
		return nil, err
	}
	end = append(end, semconv.HTTPResponseStatusCode(resp.StatusCode))
	if resp.StatusCode >= 400 {
		end = append(end, semconv.ErrorTypeKey.String(errorType(out, nil)))
		span.SetStatus(codes.Error, "")
	}
	span.SetAttributes(end...)
	resp.Body = trackOuter(resp, t.detailLimit(resp), span)
	return resp, nil
}

// CloseIdleConnections closes the idle connections of the RoundTripper
// below, when it has that method: http.Client.CloseIdleConnections reaches
// the base transport through this layer.
func (l *requestLayer) CloseIdleConnections() { closeIdle(l.next) }

// detailLimit is how much of resp's body to keep for its error detail.
func (t *Tracer) detailLimit(resp *http.Response) int {
	if resp.StatusCode < 400 || t.cfg.DetailBytes < 0 {
		return 0
	}
	return t.cfg.DetailBytes
}

func (t *Tracer) route(req *http.Request) string {
	if t.cfg.Route == nil {
		return ""
	}
	return t.cfg.Route(req)
}

// metricAttrs are the conventions' attributes of http.client.request.duration.
func metricAttrs(req *http.Request, out errclass.Outcome, err error) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, semconv.HTTPRequestMethodKey.String(methodOf(req)))
	if req.URL != nil {
		attrs = append(attrs, semconv.ServerAddress(req.URL.Hostname()))
		if port := serverPort(req.URL); port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
	}
	if err == nil && out.StatusCode > 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(out.StatusCode))
	}
	if err != nil || out.StatusCode >= 400 {
		attrs = append(attrs, semconv.ErrorTypeKey.String(errorType(out, err)))
	}
	return attrs
}

func methodOf(req *http.Request) string {
	switch {
	case req.Method == "":
		return http.MethodGet
	case knownMethods[req.Method]:
		return req.Method
	}
	return "_OTHER"
}

// requestObserver turns the retry layer's decisions into span events and
// metrics. It is also the request's context (the request span's), in which
// it finds itself under requestKey: the attempt layer reads its span name
// and attributes there.
type requestObserver struct {
	context.Context
	t       *Tracer
	span    trace.Span
	retries int

	// The request's span name and description, for its attempts' spans to
	// reuse: attempts share the request's URL and method.
	url       *url.URL
	method    string
	name      string
	desc      request
	described bool // desc and name are set

	// The request span's attributes: kv[:started] it started with, then
	// those set with the outcome.
	started int
	kv      [3 + 5]attribute.KeyValue // method (2), url.full; url.template, attempts, class, status, error.type
}

// requestKey is the context key under which a requestObserver finds
// itself.
type requestKey struct{}

// Value returns o for requestKey, and otherwise the value of the context
// it wraps.
func (o *requestObserver) Value(key any) any {
	if key == (requestKey{}) {
		return o
	}
	return o.Context.Value(key)
}

// describe returns the span name and description of req, reusing
// those of its request layer when req is one of that request's attempts
// (they share the URL, by pointer).
func (t *Tracer) describe(req *http.Request) (string, *request) {
	if o, ok := req.Context().Value(requestKey{}).(*requestObserver); ok &&
		o.t == t && o.described && o.url == req.URL && o.method == req.Method {
		return o.name, &o.desc
	}
	route := t.route(req)
	d := describeRequest(req, route)
	return t.spanName(req, route), &d
}

func (o *requestObserver) Retrying(last errclass.Outcome, next errclass.Attempt) {
	o.retries++
	class := attrClass.String(last.Class.String())
	fromRA := attrFromRetryAfter.Bool(next.FromRetryAfter)
	if o.span.IsRecording() {
		attrs := []attribute.KeyValue{attrAttempt.Int(next.Number), attrDelay.Float64(next.Delay.Seconds()), fromRA, class}
		if last.StatusCode > 0 {
			attrs = append(attrs, semconv.HTTPResponseStatusCode(last.StatusCode))
		}
		o.span.AddEvent("retry", trace.WithAttributes(attrs...))
	}
	if o.t.inst.retries.Enabled(o) {
		o.t.inst.retries.Add(o, 1, metric.WithAttributes(class, fromRA))
	}
	if o.t.inst.retryDelay.Enabled(o) {
		o.t.inst.retryDelay.Record(o, next.Delay.Seconds(), metric.WithAttributes(fromRA))
	}
}

func (o *requestObserver) GaveUp(last errclass.Outcome, attempts int, reason errclass.StopReason) {
	r := attrStopReason.String(string(reason))
	if o.span.IsRecording() {
		o.span.SetAttributes(r)
		o.span.AddEvent("retry.give_up", trace.WithAttributes(r, attrAttempts.Int(attempts), attrClass.String(last.Class.String())))
	}
	if o.t.inst.giveUps.Enabled(o) {
		o.t.inst.giveUps.Add(o, 1, metric.WithAttributes(r))
	}
}
