package tracing

import (
	"net/http"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Attempt returns the layer that traces each attempt: a client span from the
// attempt to the end of its response body, W3C trace context injected into
// a copy of the attempt's headers, and http.client.request.duration. Put it
// inside retry and outside the breaker, so that refused attempts show too;
// [Tracer.Around] does.
func (t *Tracer) Attempt() func(http.RoundTripper) http.RoundTripper {
	t.lazy()
	return func(next http.RoundTripper) http.RoundTripper {
		if next == nil {
			next = http.DefaultTransport
		}
		return &attemptLayer{t: t, next: next}
	}
}

type attemptLayer struct {
	t    *Tracer
	next http.RoundTripper
}

func (l *attemptLayer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil || req.URL == nil {
		return roundTrip(l.next, req) // nothing to trace; the layers below say what is wrong
	}
	t := l.t
	ctx := req.Context()
	tracer := t.tracer()
	measure := t.inst.attemptDuration.Enabled(ctx) || t.inst.attempts.Enabled(ctx) || t.inst.fastFails.Enabled(ctx)
	if tracer == nil && !measure {
		return roundTrip(l.next, req) // nothing records: cost nothing
	}

	var start time.Time
	if measure {
		start = time.Now()
	}
	r := req
	var span trace.Span
	if tracer != nil {
		a := errclass.AttemptFromContext(ctx)
		name, base := t.describe(req)
		attrs := make([]attribute.KeyValue, len(base), len(base)+4)
		copy(attrs, base)
		attrs = append(attrs, attrAttempt.Int(a.Number))
		if a.Number > 1 {
			attrs = append(attrs, semconv.HTTPRequestResendCount(a.Number-1),
				attrDelay.Float64(a.Delay.Seconds()), attrFromRetryAfter.Bool(a.FromRetryAfter))
		}
		ctx, span = tracer.Start(ctx, name, kindClient, trace.WithAttributes(attrs...))
		r = req.WithContext(ctx)
		if prop := t.propagator(); len(prop.Fields()) > 0 {
			// RoundTrip must not modify the caller's request: inject into
			// a copy of its headers (not made when nothing is injected).
			r.Header = req.Header.Clone()
			if r.Header == nil {
				r.Header = make(http.Header)
			}
			prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
		}
	}

	resp, err := roundTrip(l.next, r)
	out := t.cfg.Classifier(r, resp, err)
	if measure {
		t.measureAttempt(r, out, err, start)
	}
	if tracer == nil {
		return resp, err
	}

	// One SetAttributes call when the span ends: each takes the span's lock
	// and dedupes.
	var end endAttrs
	end.add(attrClass.String(out.Class.String()))
	if err != nil {
		et := errorType(out, err)
		end.add(semconv.ErrorTypeKey.String(et))
		if out.Refused {
			// Nothing was sent, but the attempt happened: show why.
			end.add(attrRefused.Bool(true))
			span.AddEvent("fast_fail", trace.WithAttributes(semconv.ErrorTypeKey.String(et), attribute.String("message", errorText(err))))
		}
		span.SetAttributes(end.copied()...)
		span.SetStatus(codes.Error, errorText(err))
		span.End()
		return resp, err
	}
	end.add(semconv.HTTPResponseStatusCode(resp.StatusCode))
	if out.RetryAfter > 0 {
		end.add(attrRetryAfter.Float64(out.RetryAfter.Seconds()))
	}
	if resp.StatusCode >= 400 {
		end.add(semconv.ErrorTypeKey.String(errorType(out, nil)))
		span.SetStatus(codes.Error, "")
	}
	resp.Body = trackBody(resp, t.detailLimit(resp), span, end)
	return resp, nil
}

// CloseIdleConnections closes the idle connections of the RoundTripper
// below, when it has that method: http.Client.CloseIdleConnections reaches
// the base transport through this layer.
func (l *attemptLayer) CloseIdleConnections() { closeIdle(l.next) }

func (t *Tracer) measureAttempt(r *http.Request, out errclass.Outcome, err error, start time.Time) {
	ctx := r.Context()
	if t.inst.attemptDuration.Enabled(ctx) && !out.Refused {
		t.inst.attemptDuration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(metricAttrs(r, out, err)...))
	}
	if t.inst.attempts.Enabled(ctx) {
		t.inst.attempts.Add(ctx, 1, metric.WithAttributes(attrClass.String(out.Class.String())))
	}
	if out.Refused && t.inst.fastFails.Enabled(ctx) {
		t.inst.fastFails.Add(ctx, 1, metric.WithAttributes(semconv.ErrorTypeKey.String(errorType(out, err))))
	}
}
