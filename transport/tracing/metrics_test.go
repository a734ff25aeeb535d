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
