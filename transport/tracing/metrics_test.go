package tracing_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/retry"
	"github.com/resilient-http/resilient/transport/tracing"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
)

// giveUps returns the resilient.client.retry.give_ups points read from
// reader.
func giveUps(t *testing.T, reader *sdkmetric.ManualReader) metricdata.Sum[int64] {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "resilient.client.retry.give_ups" {
				s, _ := m.Data.(metricdata.Sum[int64])
				return s
			}
		}
	}
	return metricdata.Sum[int64]{}
}

// TestGiveUpMetricWithoutTracing guards issue 14 item 3: a retry skipped
// because the body cannot be replayed is counted, by reason, with no
// tracer recording spans; once the policy buffers small bodies, the same
// request is retried and gives up only when its attempts run out.
func TestGiveUpMetricWithoutTracing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policy   retry.Policy
		attempts int
		reason   string
	}{
		{"body not replayable", retry.Policy{BaseDelay: time.Millisecond}, 1, "not_replayable"},
		{"body buffered", retry.Policy{BaseDelay: time.Millisecond, BufferBody: 1 << 10}, 3, "attempts_exhausted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reader := sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			t.Cleanup(func() { mp.Shutdown(context.Background()) })
			tr := tracing.New(tracing.Config{TracerProvider: noop.NewTracerProvider(), MeterProvider: mp})
			srv := newScripted(t, `{"detail":"busy"}`, http.StatusServiceUnavailable)
			rt := tr.Around(retry.Middleware(tc.policy))(srv.Client().Transport)

			req := httptest.NewRequest(http.MethodPost, srv.URL, io.MultiReader(strings.NewReader(`{"op":"put"}`)))
			req.GetBody = nil
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			srv.mu.Lock()
			sent := len(srv.traceparent)
			srv.mu.Unlock()
			if sent != tc.attempts {
				t.Errorf("%d attempts, want %d", sent, tc.attempts)
			}
			s := giveUps(t, reader)
			if len(s.DataPoints) != 1 || sumOf(s, "resilient.retry.stop_reason", tc.reason) != 1 {
				t.Errorf("resilient.client.retry.give_ups = %+v, want one give-up with stop_reason %q", s.DataPoints, tc.reason)
			}
		})
	}
}

// TestPacingEventsAndMetrics guards the pacing hooks' recording: a wait
// and a refusal are events, with the key and the wait in seconds, on the
// span in the context, and a histogram and a counter by key. Mutation
// caught: events on another span, or the wait and refusal metrics swapped.
func TestPacingEventsAndMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	tr := tracing.New(tracing.Config{TracerProvider: tp, MeterProvider: mp})

	ctx, span := tp.Tracer("test").Start(context.Background(), "attempt")
	tr.PacingWaited(ctx, "https://api.test", 1500*time.Millisecond)
	tr.PacingRefused(ctx, "https://api.test", 40*time.Second)
	tr.PacingRefused(context.Background(), "https://other.test", time.Second) // no span: metrics only
	span.End()

	ended := spans.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans, want 1", len(ended))
	}
	var got []string
	for _, e := range ended[0].Events() {
		var key string
		var wait float64
		for _, a := range e.Attributes {
			switch a.Key {
			case "resilient.pacing.key":
				key = a.Value.AsString()
			case "resilient.pacing.wait":
				wait = a.Value.AsFloat64()
			}
		}
		got = append(got, fmt.Sprintf("%s %s %v", e.Name, key, wait))
	}
	if want := []string{"pacing.wait https://api.test 1.5", "pacing.refused https://api.test 40"}; !slices.Equal(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	waits, refusals := map[string]float64{}, map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				if m.Name == "resilient.pacing.wait.duration" {
					for _, p := range d.DataPoints {
						k, _ := p.Attributes.Value("resilient.pacing.key")
						waits[k.AsString()] += p.Sum
					}
				}
			case metricdata.Sum[int64]:
				if m.Name == "resilient.pacing.refusals" {
					for _, p := range d.DataPoints {
						k, _ := p.Attributes.Value("resilient.pacing.key")
						refusals[k.AsString()] += p.Value
					}
				}
			}
		}
	}
	if len(waits) != 1 || waits["https://api.test"] != 1.5 {
		t.Errorf("resilient.pacing.wait.duration sums = %v, want 1.5s for https://api.test", waits)
	}
	if len(refusals) != 2 || refusals["https://api.test"] != 1 || refusals["https://other.test"] != 1 {
		t.Errorf("resilient.pacing.refusals = %v, want one per key", refusals)
	}
}

// gaugePoints returns the points of the int64 gauge name read from reader,
// by the value of the attribute key.
func gaugePoints(t *testing.T, reader *sdkmetric.ManualReader, name, key string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	points := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			g, _ := m.Data.(metricdata.Gauge[int64])
			for _, p := range g.DataPoints {
				v, _ := p.Attributes.Value(attribute.Key(key))
				points[v.AsString()] = p.Value
			}
		}
	}
	return points
}

// The gauges stay bounded under a flood of keys and keep reporting what
// matters: a credits key seen after 1000 others is reported (the one
// updated longest ago makes room), and a flood of closed breakers never
// pushes an open one out of the state gauge.
func TestGaugesBoundedKeepRecentAndOpen(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	tr := tracing.New(tracing.Config{MeterProvider: mp, TracerProvider: noop.NewTracerProvider()})

	for i := range 1500 {
		tr.CreditsRemaining(fmt.Sprintf("POST /v1/lists/%d", i), int64(i))
	}
	tr.CreditsRemaining("POST /v1/lists/700", 7) // updated: now the most recent
	tr.CreditsRemaining("POST /v1/enhance", 0)
	left := gaugePoints(t, reader, "resilient.credits.remaining", "resilient.credits.key")
	if len(left) != 1000 {
		t.Errorf("credits gauge reports %d keys, want 1000", len(left))
	}
	if n, ok := left["POST /v1/enhance"]; !ok || n != 0 {
		t.Errorf("the newest key is not reported (%v, %v): the gauge kept the first keys it saw", n, ok)
	}
	if n, ok := left["POST /v1/lists/700"]; !ok || n != 7 {
		t.Errorf("a key updated recently was dropped or is stale: %v, %v", n, ok)
	}
	// 1500 keys into 1000 places dropped 0..499; the enhance key took 500's.
	if _, ok := left["POST /v1/lists/500"]; ok {
		t.Error("the key updated longest ago was kept over newer ones")
	}
	if _, ok := left["POST /v1/lists/501"]; !ok {
		t.Error("a key was dropped before the one updated longest ago")
	}

	tr.BreakerStateChanged("api.partner.example", tracing.BreakerClosed, tracing.BreakerOpen)
	for i := range 1500 {
		tr.BreakerStateChanged(fmt.Sprintf("host-%d", i), tracing.BreakerHalfOpen, tracing.BreakerClosed)
	}
	states := gaugePoints(t, reader, "resilient.breaker.state", "resilient.breaker.name")
	if len(states) != 1000 {
		t.Errorf("state gauge reports %d breakers, want 1000", len(states))
	}
	if v, ok := states["api.partner.example"]; !ok || v != int64(tracing.BreakerOpen) {
		t.Errorf("the open breaker's state = %v, %v: pushed out by closed ones", v, ok)
	}
	if _, ok := states["host-1499"]; !ok {
		t.Error("the newest closed breaker is not reported")
	}
}
