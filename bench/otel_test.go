package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/resilient-http/resilient/transport/retry"
	"github.com/resilient-http/resilient/transport/tracing"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// canned answers with a fresh copy of one response (layers may replace its
// Body, so it cannot be shared): one allocation, the same for every row.
type canned struct{ resp *http.Response }

func (c canned) RoundTrip(*http.Request) (*http.Response, error) {
	r := *c.resp
	return &r, nil
}

type discard struct{}

func (discard) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discard) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discard) Shutdown(context.Context) error                  { return nil }
func (discard) ForceFlush(context.Context) error                { return nil }

func BenchmarkOTel(b *testing.B) {
	ok := &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(discard{}))
	for _, bc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"bare", canned{ok}},
		{"otelhttp-noop", otelhttp.NewTransport(canned{ok})},
		{"otelhttp-recording", otelhttp.NewTransport(canned{ok}, otelhttp.WithTracerProvider(tp))},
		{"resilient-noop", tracing.New(tracing.Config{}).Around(retry.Middleware(retry.Policy{}))(canned{ok})},
		{"resilient-recording", tracing.New(tracing.Config{TracerProvider: tp}).Around(retry.Middleware(retry.Policy{}))(canned{ok})},
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
