package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// demoService is the demo's service.name unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES names another.
const demoService = "resilient-demo"

// demoResource describes the demo to its TracerProvider, and so to the
// OTLP exporter: what resource.Default holds (the SDK's telemetry.sdk.*
// attributes, then OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, which
// win), with the demo's own service name in place of the SDK's
// "unknown_service:demo". Unlike resource.Default, it reads the
// environment on every call. A malformed OTEL_RESOURCE_ATTRIBUTES is
// reported on warn, and what could be read of it is kept.
func demoResource(ctx context.Context, warn io.Writer) *resource.Resource {
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", demoService)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil {
		fmt.Fprintf(warn, "resource: %v\n", err)
	}
	if res == nil {
		res = resource.Empty()
	}
	return res
}

// treePrinter is a span processor that keeps ended spans and prints them as
// one compact tree per trace: the request span and its attempts.
type treePrinter struct {
	mu    sync.Mutex
	spans []sdktrace.ReadOnlySpan
}

var _ sdktrace.SpanProcessor = (*treePrinter)(nil)

func (p *treePrinter) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (p *treePrinter) OnEnd(s sdktrace.ReadOnlySpan) {
	p.mu.Lock()
	p.spans = append(p.spans, s)
	p.mu.Unlock()
}
func (p *treePrinter) Shutdown(context.Context) error   { return nil }
func (p *treePrinter) ForceFlush(context.Context) error { return nil }

// flush prints the traces whose spans have ended, and forgets them.
func (p *treePrinter) flush(w io.Writer) {
	p.mu.Lock()
	spans := p.spans
	p.spans = nil
	p.mu.Unlock()

	children := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	var roots []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.SpanKind() == trace.SpanKindInternal {
			roots = append(roots, s)
		} else {
			children[s.Parent().SpanID()] = append(children[s.Parent().SpanID()], s)
		}
	}
	sort.Slice(roots, func(i, j int) bool { return roots[i].StartTime().Before(roots[j].StartTime()) })
	for _, root := range roots {
		a := attrMap(root.Attributes())
		line := fmt.Sprintf("  trace %s · %s", root.SpanContext().TraceID().String()[:8], root.Name())
		if code, ok := a["http.response.status_code"]; ok {
			line += fmt.Sprintf(" · %d", code.AsInt64())
		} else if et, ok := a["error.type"]; ok {
			line += " · error " + et.AsString()
		}
		line += fmt.Sprintf(" · %d attempt(s) · %s", a["resilient.attempts"].AsInt64(), roundDuration(root.EndTime().Sub(root.StartTime())))
		if r, ok := a["resilient.retry.stop_reason"]; ok {
			line += " · gave up: " + r.AsString()
		}
		fmt.Fprintln(w, line)
		kids := children[root.SpanContext().SpanID()]
		sort.Slice(kids, func(i, j int) bool { return kids[i].StartTime().Before(kids[j].StartTime()) })
		for i, k := range kids {
			branch := "├─"
			if i == len(kids)-1 {
				branch = "└─"
			}
			fmt.Fprintf(w, "  %s %s\n", branch, describeAttempt(k))
		}
	}
}

// describeAttempt renders one attempt span on a line.
func describeAttempt(s sdktrace.ReadOnlySpan) string {
	a := attrMap(s.Attributes())
	parts := []string{fmt.Sprintf("attempt %d", a["resilient.attempt"].AsInt64())}
	if d, ok := a["resilient.retry.delay"]; ok {
		why := "backoff"
		if a["resilient.retry.from_retry_after"].AsBool() {
			why = "Retry-After"
		}
		parts = append(parts, fmt.Sprintf("after %s (%s)", roundDuration(time.Duration(d.AsFloat64()*float64(time.Second))), why))
	}
	switch {
	case a["resilient.refused"].AsBool():
		parts = append(parts, "refused, nothing sent: "+a["error.type"].AsString())
	case a["http.response.status_code"].Type() == attribute.INT64:
		parts = append(parts, fmt.Sprint(a["http.response.status_code"].AsInt64()))
	default:
		parts = append(parts, "error "+a["error.type"].AsString())
	}
	parts = append(parts, a["resilient.class"].AsString())
	if ra, ok := a["resilient.retry_after"]; ok {
		parts = append(parts, "server asks to wait "+roundDuration(time.Duration(ra.AsFloat64()*float64(time.Second))))
	}
	if d, ok := a["resilient.error.detail"]; ok {
		parts = append(parts, fmt.Sprintf("%q", d.AsString()))
	}
	parts = append(parts, roundDuration(s.EndTime().Sub(s.StartTime())))
	return strings.Join(parts, " · ")
}

func attrMap(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}
