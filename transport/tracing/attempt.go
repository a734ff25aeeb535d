package tracing

import (
	"net/http"
	"time"

	"github.com/resilient-http/resilient/transport/internal/header"

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
	var end attemptEnd
	if tracer != nil {
		// No attributes at the start (see attemptEnd): samplers decide on
		// the request span, which has them; an attempt's span follows its
		// parent's decision with the default, parent-based, sampler.
		var name string
		name, end.req = t.describe(req)
		end.attempt = errclass.AttemptFromContext(ctx)
		ctx, span = tracer.Start(ctx, name, clientStart...)
		if span.IsRecording() {
			// The key the server deduplicates by (the caller's, or the
			// idempotency layer's): the same on every attempt of a request.
			if k := idempotencyKey(req.Header); k != "" {
				span.SetAttributes(attrIdempotencyKey.String(k))
			}
		}
		if end.attempt.Hedge {
			// Sent while an earlier attempt still waited: say so, and after
			// how long.
			span.AddEvent(eventHedge, trace.WithAttributes(attrAttempt.Int(end.attempt.Number), attrDelay.Float64(end.attempt.Delay.Seconds())))
		}
		r = req.WithContext(ctx)
		if prop := t.propagator(); prop != nil {
			// RoundTrip must not modify the caller's request: inject into
			// a copy of its headers (not made when nothing is injected).
			r.Header = req.Header.Clone()
			if r.Header == nil {
				r.Header = make(http.Header)
			}
			prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
		}
	}

	var resp *http.Response
	var err error
	if tracer != nil {
		resp, err = spanRoundTrip(span, l.next, r)
	} else {
		resp, err = roundTrip(l.next, r)
	}
	out := t.cfg.Classifier(r, resp, err)
	if measure {
		t.measureAttempt(r, out, err, start)
	}
	if tracer == nil {
		return resp, err
	}

	end.class = out.Class
	if err != nil {
		end.errType = errorType(out, err)
		if out.Refused {
			// Nothing was sent, but the attempt happened: show why.
			end.refused = true
			span.AddEvent("fast_fail", trace.WithAttributes(semconv.ErrorTypeKey.String(end.errType), attribute.String("message", errorText(err))))
		}
		span.SetStatus(codes.Error, errorText(err))
		endSpan(span, end.attrs(""), nil)
		return resp, err
	}
	end.status, end.retryAfter = resp.StatusCode, out.RetryAfter
	if resp.StatusCode >= 400 {
		end.errType = errorType(out, nil)
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

// idempotencyKey returns the key h carries under either name that
// [errclass.HasIdempotencyKey] honours, in any case: net/http sends a name
// set directly in the map as it is. "" when there is none.
func idempotencyKey(h http.Header) string {
	k, _ := header.Lookup(h, "Idempotency-Key", "X-Idempotency-Key")
	return k
}
