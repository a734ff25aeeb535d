package tracing_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/retry"
	"github.com/resilient-http/resilient/transport/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// refusedErr is a refusal from a layer below the attempt layer.
type refusedErr struct{}

func (*refusedErr) Error() string          { return "refused" }
func (*refusedErr) RetryIn() time.Duration { return time.Second }

// hedgeBelow stalls the first attempt until it is canceled and answers
// every other at once.
type hedgeBelow struct{}

func (hedgeBelow) RoundTrip(r *http.Request) (*http.Response, error) {
	if errclass.AttemptFromContext(r.Context()).Number == 1 {
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
}

// TestEveryDocumentedMetric drives every metric README.md lists and checks
// each is emitted under its documented name, with its unit and kind and
// the attribute keys (and a value) the README and the fault matrix name.
// Mutations caught: a renamed metric or attribute key, a changed unit, a
// StopReason that is not snake_case, a fast fail counted without
// error.type.
func TestEveryDocumentedMetric(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	// A retry, then success; a 503 not retried (attempts exhausted).
	srv := newScripted(t, `{}`, 503, 200)
	rt := f.tracer.Around(retry.Middleware(retry.Policy{BaseDelay: time.Millisecond}))(srv.Client().Transport)
	for range 2 {
		resp, err := rt.RoundTrip(httptest.NewRequest(http.MethodGet, srv.URL, nil))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	busy := newScripted(t, `{}`, 503)
	once := f.tracer.Around(retry.Middleware(retry.Policy{MaxAttempts: 1}))(busy.Client().Transport)
	resp, err := once.RoundTrip(httptest.NewRequest(http.MethodGet, busy.URL, nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// A refusal below the attempt layer.
	refuser := f.tracer.Attempt()(roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, &refusedErr{} }))
	if _, err := refuser.RoundTrip(httptest.NewRequest(http.MethodGet, srv.URL, nil)); !errors.As(err, new(*refusedErr)) {
		t.Fatalf("refusal: %v", err)
	}
	// A hedge that wins.
	hedged := f.tracer.Around(retry.Middleware(retry.Policy{Hedge: retry.HedgePolicy{Delay: time.Millisecond}}))(hedgeBelow{})
	resp, err = hedged.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The hooks the stack feeds.
	f.tracer.BreakerStateChanged("http://b", tracing.BreakerClosed, tracing.BreakerHalfOpen)
	f.tracer.CreditsRemaining("http://c", 7)
	f.tracer.PacingWaited(ctx, "http://p", time.Second)
	f.tracer.PacingRefused(ctx, "http://p", time.Minute)
	f.tracer.LimitWaited(ctx, "http://l", 2*time.Second)
	f.tracer.LimitRefused(ctx, "http://l", 3*time.Second)

	var rm metricdata.ResourceMetrics
	if err := f.reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	type metric struct {
		unit  string
		kind  string
		keys  []string // attribute keys on every point
		key   string   // one attribute
		value string   // that one attribute takes
	}
	want := map[string]metric{
		"http.client.request.duration":      {"s", "histogram", []string{"http.request.method", "server.address", "server.port"}, "http.response.status_code", "503"},
		"resilient.client.request.duration": {"s", "histogram", []string{"http.request.method", "server.address"}, "http.response.status_code", "200"},
		"resilient.client.attempts":         {"{attempt}", "sum", []string{"resilient.class"}, "resilient.class", "retryable"},
		"resilient.client.retries":          {"{retry}", "sum", []string{"resilient.class", "resilient.retry.from_retry_after"}, "resilient.class", "retryable"},
		"resilient.client.retry.delay":      {"s", "histogram", []string{"resilient.retry.from_retry_after"}, "resilient.retry.from_retry_after", "false"},
		"resilient.client.retry.give_ups":   {"{request}", "sum", []string{"resilient.retry.stop_reason"}, "resilient.retry.stop_reason", "attempts_exhausted"},
		"resilient.client.fast_fails":       {"{attempt}", "sum", []string{"error.type"}, "error.type", "*tracing_test.refusedErr"},
		"resilient.client.hedges":           {"{hedge}", "sum", []string{"resilient.hedge.won"}, "resilient.hedge.won", "true"},
		"resilient.breaker.transitions":     {"{transition}", "sum", []string{"resilient.breaker.name", "resilient.breaker.from", "resilient.breaker.to"}, "resilient.breaker.to", "half-open"},
		"resilient.breaker.state":           {"{state}", "gauge", []string{"resilient.breaker.name"}, "resilient.breaker.name", "http://b"},
		"resilient.credits.remaining":       {"{credit}", "gauge", []string{"resilient.credits.key"}, "resilient.credits.key", "http://c"},
		"resilient.pacing.wait.duration":    {"s", "histogram", []string{"resilient.pacing.key"}, "resilient.pacing.key", "http://p"},
		"resilient.pacing.refusals":         {"{request}", "sum", []string{"resilient.pacing.key"}, "resilient.pacing.key", "http://p"},
		"resilient.limit.wait.duration":     {"s", "histogram", []string{"resilient.limit.key"}, "resilient.limit.key", "http://l"},
		"resilient.limit.refusals":          {"{request}", "sum", []string{"resilient.limit.key"}, "resilient.limit.key", "http://l"},
	}
	seen := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			w, ok := want[m.Name]
			if !ok {
				t.Errorf("metric %q emitted but not documented in this test", m.Name)
				continue
			}
			seen[m.Name] = true
			if m.Unit != w.unit {
				t.Errorf("%s: unit %q, want %q", m.Name, m.Unit, w.unit)
			}
			var sets []attribute.Set
			kind := ""
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				kind = "histogram"
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			case metricdata.Sum[int64]:
				kind = "sum"
				if !d.IsMonotonic {
					kind = "updown"
				}
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			case metricdata.Gauge[int64]:
				kind = "gauge"
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			}
			if kind != w.kind {
				t.Errorf("%s: a %s (%T), want a %s", m.Name, kind, m.Data, w.kind)
			}
			found := false
			for _, s := range sets {
				for _, k := range w.keys {
					if !s.HasValue(attribute.Key(k)) {
						t.Errorf("%s: a point without %s: %v", m.Name, k, s.ToSlice())
					}
				}
				if v, ok := s.Value(attribute.Key(w.key)); ok && v.String() == w.value {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no point with %s=%s among %d", m.Name, w.key, w.value, len(sets))
			}
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("documented metric %q not emitted", name)
		}
	}
	// Every metric named in the README is one this test checks.
	readme, err := readREADME()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range documentedMetricNames(readme) {
		if _, ok := want[name]; !ok {
			t.Errorf("README.md documents metric %q, which this test does not check", name)
		}
	}
}

// documentedMetricNames returns the metric names in the README's tracing
// section: backquoted names of the transport's own metrics.
func documentedMetricNames(readme string) []string {
	var names []string
	for _, part := range strings.Split(readme, "`")[1:] {
		name, _, _ := strings.Cut(part, "{")
		switch {
		case name == "http.client.request.duration",
			strings.HasPrefix(name, "resilient.client."),
			strings.HasPrefix(name, "resilient.breaker.") && name != "resilient.breaker.from" && name != "resilient.breaker.to" && name != "resilient.breaker.name",
			strings.HasPrefix(name, "resilient.credits.remaining"),
			strings.HasPrefix(name, "resilient.pacing.") && name != "resilient.pacing.key" && name != "resilient.pacing.wait",
			strings.HasPrefix(name, "resilient.limit.") && name != "resilient.limit.key" && name != "resilient.limit.wait":
			if !strings.ContainsAny(name, " =\n") && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	return names
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func readREADME() (string, error) {
	b, err := os.ReadFile("../../README.md")
	return string(b), err
}

// TestSpanEventsCarryDocumentedAttributes checks the attributes of the
// span events tracing documents: retry (on the request span), fast_fail
// and hedge (on an attempt's), limit.wait and limit.refused (on the span
// in the context). Mutations caught: an event renamed, or one of its
// attributes dropped or renamed.
func TestSpanEventsCarryDocumentedAttributes(t *testing.T) {
	f := newFixture(t)
	srv := newScripted(t, `{}`, 503, 200)
	rt := f.tracer.Around(retry.Middleware(retry.Policy{BaseDelay: time.Millisecond}))(srv.Client().Transport)
	resp, err := rt.RoundTrip(httptest.NewRequest(http.MethodGet, srv.URL, nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	refuser := f.tracer.Attempt()(roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, &refusedErr{} }))
	refuser.RoundTrip(httptest.NewRequest(http.MethodGet, srv.URL, nil))
	hedged := f.tracer.Around(retry.Middleware(retry.Policy{Hedge: retry.HedgePolicy{Delay: time.Millisecond}}))(hedgeBelow{})
	resp, err = hedged.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// A limit below the attempt layer queues, then refuses, as the
	// stack's limit layer reports through its hooks.
	limited := f.tracer.Attempt()(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		f.tracer.LimitWaited(r.Context(), "http://l", 2*time.Second)
		f.tracer.LimitRefused(r.Context(), "http://l", 3*time.Second)
		return nil, &refusedErr{}
	}))
	limited.RoundTrip(httptest.NewRequest(http.MethodGet, srv.URL, nil))

	want := map[string][]string{
		"retry":         {"resilient.attempt", "resilient.retry.delay", "resilient.retry.from_retry_after", "resilient.class", "http.response.status_code"},
		"fast_fail":     {"error.type", "message"},
		"hedge":         {"resilient.attempt", "resilient.retry.delay"},
		"limit.wait":    {"resilient.limit.key", "resilient.limit.wait"},
		"limit.refused": {"resilient.limit.key", "resilient.limit.wait"},
	}
	seen := map[string]bool{}
	for _, s := range f.rec.Ended() {
		for _, e := range s.Events() {
			keys, ok := want[e.Name]
			if !ok {
				continue
			}
			seen[e.Name] = true
			a := attrs(e.Attributes)
			for _, k := range keys {
				if _, ok := a[attribute.Key(k)]; !ok {
					t.Errorf("%s event on span %q lacks %s: %v", e.Name, s.Name(), k, e.Attributes)
				}
			}
			switch e.Name {
			case "retry":
				if a["resilient.attempt"].AsInt64() != 2 || a["http.response.status_code"].AsInt64() != 503 {
					t.Errorf("retry event = %v, want attempt 2 after a 503", e.Attributes)
				}
			case "fast_fail":
				if a["error.type"].AsString() != "*tracing_test.refusedErr" || a["message"].AsString() != "refused" {
					t.Errorf("fast_fail event = %v", e.Attributes)
				}
			case "hedge":
				if a["resilient.attempt"].AsInt64() != 2 || a["resilient.retry.delay"].AsFloat64() <= 0 {
					t.Errorf("hedge event = %v, want attempt 2 after a wait", e.Attributes)
				}
			case "limit.wait", "limit.refused":
				if a["resilient.limit.key"].AsString() != "http://l" || a["resilient.limit.wait"].AsFloat64() < 2 {
					t.Errorf("%s event = %v", e.Name, e.Attributes)
				}
			}
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("no %s event recorded", name)
		}
	}
}
