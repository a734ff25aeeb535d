package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/resilient-http/resilient/transport/retry"
	"github.com/resilient-http/resilient/transport/tracing"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

type canned struct{ resp *http.Response }

func (c canned) RoundTrip(*http.Request) (*http.Response, error) { return c.resp, nil }

// discard is a span processor that drops ended spans: the recording cost
// without an exporter's.
type discard struct{}

func (discard) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discard) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discard) Shutdown(context.Context) error                  { return nil }
func (discard) ForceFlush(context.Context) error                { return nil }

// BenchmarkTracing measures the two tracing layers around retry on the
// success path: with the (no-op) globals, the noop package, and a recording
// SDK that samples everything (two spans per request: the request's and
// its attempt's), without and with W3C trace context injected into the
// attempt's headers.
func BenchmarkTracing(b *testing.B) {
	ok := &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}
	recording := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(discard{}))
	defer recording.Shutdown(context.Background())
	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"retry-only", retry.New(canned{ok}, retry.Policy{})},
		{"globals", tracing.New(tracing.Config{}).Around(retry.Middleware(retry.Policy{}))(canned{ok})},
		{"noop", tracing.New(tracing.Config{TracerProvider: noop.NewTracerProvider()}).Around(retry.Middleware(retry.Policy{}))(canned{ok})},
		{"recording", tracing.New(tracing.Config{TracerProvider: recording}).Around(retry.Middleware(retry.Policy{}))(canned{ok})},
		{"recording+w3c", tracing.New(tracing.Config{TracerProvider: recording, Propagator: propagation.TraceContext{}}).Around(retry.Middleware(retry.Policy{}))(canned{ok})},
	} {
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/v1/jobs/1", nil)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp, err := bc.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
	}
}
