package tracing_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/retry"
	"github.com/resilient-http/resilient/transport/tracing"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func Example() {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	// An SDK that keeps spans in memory; in production, an exporter.
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	tr := tracing.New(tracing.Config{
		TracerProvider: tp,
		Route:          func(*http.Request) string { return "/v1/jobs/{id}" },
	})
	client := &http.Client{Transport: transport.Chain(srv.Client().Transport,
		tr.Around(retry.Middleware(retry.Policy{BaseDelay: time.Millisecond})))}

	resp, err := client.Get(srv.URL + "/v1/jobs/42")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close() // ends the spans

	ended := spans.Ended()
	sort.Slice(ended, func(i, j int) bool { return ended[i].StartTime().Before(ended[j].StartTime()) })
	for _, s := range ended {
		a := map[attribute.Key]attribute.Value{}
		for _, kv := range s.Attributes() {
			a[kv.Key] = kv.Value
		}
		fmt.Printf("%-8s %s: status %d", s.SpanKind(), s.Name(), a["http.response.status_code"].AsInt64())
		if n, ok := a["http.request.resend_count"]; ok {
			fmt.Printf(", resend %d", n.AsInt64())
		}
		fmt.Println()
	}
	// Output:
	// internal GET /v1/jobs/{id}: status 200
	// client   GET /v1/jobs/{id}: status 503
	// client   GET /v1/jobs/{id}: status 200, resend 1
}
