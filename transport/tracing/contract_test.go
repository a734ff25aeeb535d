package tracing_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/tracing"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/trace/noop"
)

// brokenRT breaks the RoundTripper contract by returning (resp, err) as
// given, whatever they are.
type brokenRT struct {
	resp *http.Response
	err  error
}

func (b brokenRT) RoundTrip(*http.Request) (*http.Response, error) { return b.resp, b.err }

// layerCases are the tracing layers alone and composed, for a Tracer.
func layerCases(tr *tracing.Tracer) map[string]func(http.RoundTripper) http.RoundTripper {
	return map[string]func(http.RoundTripper) http.RoundTripper{
		"request": tr.Request(),
		"attempt": tr.Attempt(),
		"around":  tr.Around(nil),
	}
}

// tracerCases are Tracers that record spans and metrics, metrics only, and
// nothing (noop providers, and the globals this test binary never sets):
// each takes its own path through the layers.
func tracerCases(t *testing.T) map[string]*tracing.Tracer {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	return map[string]*tracing.Tracer{
		"recording":    newFixture(t).tracer,
		"metrics only": tracing.New(tracing.Config{TracerProvider: noop.NewTracerProvider(), MeterProvider: mp}),
		"noop":         tracing.New(tracing.Config{TracerProvider: noop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()}),
		"globals":      tracing.New(tracing.Config{}),
	}
}

// A RoundTripper below returning (nil, nil) is reported as an error on every
// path of both layers, never a panic nor a (nil, nil) handed up. Issue 12,
// item 5.
func TestNilResponseBecomesError(t *testing.T) {
	for tname, tr := range tracerCases(t) {
		for lname, layer := range layerCases(tr) {
			for _, rname := range []string{"request", "nil URL"} {
				t.Run(tname+"/"+lname+"/"+rname, func(t *testing.T) {
					req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/v1/jobs/1", nil)
					if rname == "nil URL" {
						req.URL = nil
					}
					rt := layer(brokenRT{})
					var resp *http.Response
					var err error
					func() {
						defer func() {
							if p := recover(); p != nil {
								t.Fatalf("RoundTrip panicked: %v", p)
							}
						}()
						resp, err = rt.RoundTrip(req)
					}()
					if resp != nil || !errors.Is(err, errclass.ErrNilResponse) {
						t.Fatalf("RoundTrip() = %v, %v; want nil and an error wrapping ErrNilResponse", resp, err)
					}
				})
			}
		}
	}
	// The recorded spans say what happened.
	f := newFixture(t)
	f.tracer.Around(nil)(brokenRT{}).RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
	spans := f.rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans ended, want 2", len(spans))
	}
	for _, s := range spans {
		if s.Status().Code != codes.Error || attrs(s.Attributes())["error.type"].AsString() == "" {
			t.Errorf("%s span: status %v, attributes %v; want an error", s.SpanKind(), s.Status(), s.Attributes())
		}
	}
}

// closeCounter is a body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closed atomic.Int32
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

// A RoundTripper below returning both a response and an error breaks the
// contract; every path of both layers hands up the error alone, as
// http.Client would take it, and closes the response's body, which
// nobody above could otherwise reach. Mutation caught: the response
// dropped unclosed (the request layer did), or passed up with the error
// (the attempt layer did).
func TestResponseWithErrorBelowIsClosed(t *testing.T) {
	broken := errors.New("broken below")
	for tname, tr := range tracerCases(t) {
		for lname, layer := range layerCases(tr) {
			t.Run(tname+"/"+lname, func(t *testing.T) {
				body := &closeCounter{Reader: strings.NewReader("x")}
				below := brokenRT{resp: &http.Response{StatusCode: 200, Header: http.Header{}, Body: body}, err: broken}
				resp, err := layer(below).RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/v1/jobs/1", nil))
				if resp != nil || err != broken {
					t.Errorf("RoundTrip() = %v, %v; want nil and the error from below", resp, err)
				}
				if n := body.closed.Load(); n != 1 {
					t.Errorf("the response's body was closed %d times, want 1", n)
				}
			})
		}
	}
}

// derefErr dereferences its receiver in Error, as most error types do.
type derefErr struct{ msg string }

func (e *derefErr) Error() string { return e.msg }

// An error holding a nil pointer (a typed nil) from below passes through
// the recording layers without a panic, though its Error method panics.
// Issue 12, item 5.
func TestTypedNilErrorPassesThrough(t *testing.T) {
	var nilURL *url.Error // its Error method dereferences it
	var nilDeref *derefErr
	for name, err := range map[string]error{"*url.Error": nilURL, "*derefErr": nilDeref} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			var got error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("RoundTrip panicked: %v", p)
					}
				}()
				_, got = f.tracer.Around(nil)(brokenRT{err: err}).RoundTrip(httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", nil))
			}()
			if got != err {
				t.Errorf("RoundTrip() error = %#v, want the error from below as is", got)
			}
			if n := len(f.rec.Ended()); n != 2 {
				t.Errorf("%d spans ended, want 2", n)
			}
		})
	}
}

// idleCounter counts CloseIdleConnections calls.
type idleCounter struct {
	brokenRT
	closed atomic.Int32
}

func (c *idleCounter) CloseIdleConnections() { c.closed.Add(1) }

// http.Client.CloseIdleConnections reaches the base transport through every
// tracing layer. Issue 12, item 11.
func TestCloseIdleConnectionsReachesBase(t *testing.T) {
	for lname, layer := range layerCases(tracing.New(tracing.Config{})) {
		base := &idleCounter{}
		(&http.Client{Transport: layer(base)}).CloseIdleConnections()
		if n := base.closed.Load(); n != 1 {
			t.Errorf("%s: base saw %d CloseIdleConnections calls, want 1", lname, n)
		}
	}
	// A RoundTripper below without the method is left alone.
	(&http.Client{Transport: tracing.New(tracing.Config{}).Around(nil)(brokenRT{})}).CloseIdleConnections()
}

// The zero Tracer behaves as New(Config{}): its layers work, no panic.
func TestZeroTracer(t *testing.T) {
	var tr tracing.Tracer
	rt := tr.Around(nil)(okRoundTripper{})
	req, _ := http.NewRequest("GET", "http://a.test/", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("RoundTrip() = %v, %v; want 200", resp, err)
	}
	resp.Body.Close()
	tr.BreakerStateChanged("x", tracing.BreakerClosed, tracing.BreakerOpen)
}

type okRoundTripper struct{}

func (okRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}
