package retry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/tracing"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Tracing around a hedging retry layer: the hedge's attempt span carries
// a "hedge" event (the first attempt's none), and
// resilient.client.hedges counts the hedge, won. Mutations caught: the
// event on every attempt or none, the won attribute inverted.
func TestHedgeTracing(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	tr := tracing.New(tracing.Config{TracerProvider: tp, MeterProvider: mp})

	rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
		if a.Number == 1 {
			return stall(r)
		}
		return answer(200, "hedge"), nil
	}}
	rt := tr.Around(Middleware(Policy{Hedge: HedgePolicy{Delay: 5 * time.Millisecond}}))(rc)
	resp, err := rt.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/x", nil))
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	waitFor(t, "3 spans", func() bool { return len(spans.Ended()) == 3 })

	hedgeEvents := map[int]int{} // attempt number → hedge events
	for _, s := range spans.Ended() {
		for _, a := range s.Attributes() {
			if a.Key == "resilient.attempts" && a.Value.AsInt64() != 2 {
				t.Errorf("request span: resilient.attempts = %d, want 2 (the hedge counts)", a.Value.AsInt64())
			}
		}
		for _, a := range s.Attributes() {
			if a.Key == "resilient.attempt" {
				n := int(a.Value.AsInt64())
				for _, e := range s.Events() {
					if e.Name == "hedge" {
						hedgeEvents[n]++
					}
				}
			}
		}
	}
	if hedgeEvents[1] != 0 || hedgeEvents[2] != 1 {
		t.Errorf("hedge events by attempt = %v, want one on attempt 2", hedgeEvents)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	won := map[bool]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "resilient.client.hedges" {
				continue
			}
			for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := p.Attributes.Value("resilient.hedge.won")
				won[v.AsBool()] += p.Value
			}
		}
	}
	if won[true] != 1 || won[false] != 0 {
		t.Errorf("resilient.client.hedges by won = %v, want one won", won)
	}
}
