package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestParseOTLPHeaders(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    http.Header
		invalid int
	}{
		{"empty", "", http.Header{}, 0},
		{"percent-decoded value", "Authorization=Basic%20abc", http.Header{"Authorization": {"Basic abc"}}, 0},
		{"plus and equals kept", "api-key=a+b/c==", http.Header{"Api-Key": {"a+b/c=="}}, 0},
		{"blanks trimmed, empty entries skipped", " a = 1 ,, b=2%2C3 ,", http.Header{"A": {"1"}, "B": {"2,3"}}, 0},
		{"percent-decoded key", "x%2Dtenant=7", http.Header{"X-Tenant": {"7"}}, 0},
		{"last repeat wins", "k=1,K=2", http.Header{"K": {"2"}}, 0},
		{"empty value", "k=", http.Header{"K": {""}}, 0},
		{"no equals", "k=1,oops", http.Header{"K": {"1"}}, 1},
		{"bad escape", "k=%zz,j=1", http.Header{"J": {"1"}}, 1},
		{"key not a token", "bad key=1,=2", http.Header{}, 2},
		{"control character", "k=a%0D%0AX-Evil:%201", http.Header{}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := parseOTLPHeaders(tc.in)
			if !equalHeaders(got, tc.want) || len(errs) != tc.invalid {
				t.Errorf("parseOTLPHeaders(%q) = %v, %v; want %v, %d error(s)", tc.in, got, errs, tc.want, tc.invalid)
			}
		})
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestOTLPHeadersMerge(t *testing.T) {
	h, errs := otlpHeaders("Authorization=Basic%20abc,X-Tenant=a,Content-Type=text/plain", "x-tenant=b,X-Extra=1,broken")
	want := http.Header{
		"Authorization": {"Basic abc"}, // kept from the general list
		"X-Tenant":      {"b"},         // the traces list wins
		"X-Extra":       {"1"},
		"Content-Type":  {"application/json"}, // the exporter's own
		"User-Agent":    {"resilient-demo-otlp-exporter"},
	}
	if !equalHeaders(h, want) || len(errs) != 1 {
		t.Errorf("otlpHeaders() = %v, %v; want %v and the broken entry reported", h, errs, want)
	}
	if h, _ := otlpHeaders("", "User-Agent=mine"); h.Get("User-Agent") != "mine" {
		t.Errorf("User-Agent = %q, want the configured one", h.Get("User-Agent"))
	}
}

func TestOTLPClassify(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "http://collector/v1/traces", nil)
	for code, want := range map[int]errclass.Class{
		200: errclass.Success, 429: errclass.Retryable, 502: errclass.Retryable, 503: errclass.Retryable,
		504: errclass.Retryable, 500: errclass.Permanent, 425: errclass.Permanent, 400: errclass.Permanent,
	} {
		resp := &http.Response{StatusCode: code, Header: http.Header{"Retry-After": {"2"}}}
		out := otlpClassify(req, resp, nil)
		if out.Class != want {
			t.Errorf("otlpClassify(%d).Class = %v, want %v", code, out.Class, want)
		}
		if want == errclass.Retryable && out.RetryAfter != 2*time.Second {
			t.Errorf("otlpClassify(%d).RetryAfter = %v, want the 2s hint", code, out.RetryAfter)
		}
	}
	// A POST whose connection was reset after it was written: an export
	// may be repeated.
	reset := &net.OpError{Op: "read", Net: "tcp", Err: io.ErrUnexpectedEOF}
	if out := otlpClassify(req, nil, reset); out.Class != errclass.Retryable {
		t.Errorf("otlpClassify(reset).Class = %v, want retryable", out.Class)
	}
	if out := errclass.Classify(req, nil, reset); out.Class != errclass.Permanent {
		t.Errorf("errclass.Classify(reset POST).Class = %v: this test no longer shows the exporter's rule", out.Class)
	}
}

// collector is a scripted OTLP/HTTP receiver: it answers each request with
// the next status of script (then 200) and counts connections.
type collector struct {
	*httptest.Server
	conns atomic.Int64

	mu      sync.Mutex
	script  []int
	hits    int
	exports []otlpRequest // accepted ones
	headers []http.Header
	answer  string // body of 200 answers
}

func newCollector(t *testing.T, script ...int) *collector {
	c := &collector{script: script}
	c.Server = httptest.NewUnstartedServer(http.HandlerFunc(c.serve(t)))
	c.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.conns.Add(1)
		}
	}
	c.Start()
	t.Cleanup(c.Close)
	return c
}

func (c *collector) serve(t *testing.T) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.hits++
		if len(c.script) > 0 {
			code := c.script[0]
			c.script = c.script[1:]
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			io.WriteString(w, `{"code":14,"message":"busy"}`)
			return
		}
		var req otlpRequest
		if err := json.Unmarshal(b, &req); err != nil {
			t.Errorf("collector got invalid JSON: %v", err)
		}
		if r.URL.Path != "/v1/traces" {
			t.Errorf("export sent to %q, want /v1/traces", r.URL.Path)
		}
		c.exports = append(c.exports, req)
		c.headers = append(c.headers, r.Header.Clone())
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, cmpOr(c.answer, "{}"))
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// testExporter returns the exporter otlpFromEnv makes for c, with short
// retry delays.
func testExporter(t *testing.T, c *collector) *otlpExporter {
	t.Helper()
	t.Setenv(envTracesEndpoint, "")
	t.Setenv(envEndpoint, c.URL+"/")
	exp, err := otlpFromEnv(io.Discard)
	if err != nil || exp == nil {
		t.Fatalf("otlpFromEnv() = %v, %v", exp, err)
	}
	fast := otlpRetry
	fast.BaseDelay, fast.MaxDelay = time.Millisecond, 5*time.Millisecond
	if exp.client, err = newOTLPClient(time.Second, fast); err != nil {
		t.Fatal(err)
	}
	return exp
}

func TestOTLPExporterFromEnv(t *testing.T) {
	c := newCollector(t, http.StatusBadGateway) // the first export is retried
	t.Setenv(envHeaders, "Authorization=Basic%20abc,X-Tenant=general")
	t.Setenv(envTracesHeaders, "X-Tenant=traces")
	t.Setenv("OTEL_SERVICE_NAME", "demo-test")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test,team=a%20b")
	exp := testExporter(t, c)
	var warn strings.Builder
	res := demoResource(context.Background(), &warn)
	if warn.Len() > 0 {
		t.Errorf("demoResource warned: %s", warn.String())
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(res))
	ctx, parent := tp.Tracer("scope").Start(context.Background(), "GET /v1/jobs/{id}")
	_, child := tp.Tracer("scope").Start(ctx, "GET", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.Int("http.response.status_code", 503), attribute.Float64("d", math.Inf(1)),
			attribute.StringSlice("s", []string{"x", "y"})))
	child.SetStatus(codes.Error, "")
	child.End()
	parent.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.exports) != 2 || c.hits != 3 {
		t.Fatalf("collector accepted %d exports of %d requests, want 2 of 3 (one span each, the first after a 502)", len(c.exports), c.hits)
	}
	if n := c.conns.Load(); n != 1 {
		t.Errorf("exports used %d connections, want 1", n)
	}
	for _, h := range c.headers {
		if h.Get("Authorization") != "Basic abc" || h.Get("X-Tenant") != "traces" || h.Get("Content-Type") != "application/json" {
			t.Errorf("export headers = %v", h)
		}
	}
	rs := c.exports[0].ResourceSpans
	if len(rs) != 1 || len(rs[0].ScopeSpans) != 1 {
		t.Fatalf("export = %+v", c.exports[0])
	}
	resAttrs := map[string]any{}
	for _, kv := range rs[0].Resource.Attributes {
		resAttrs[kv.Key] = kv.Value["stringValue"]
	}
	for k, v := range map[string]any{"service.name": "demo-test", "deployment.environment": "test", "team": "a b", "telemetry.sdk.language": "go"} {
		if resAttrs[k] != v {
			t.Errorf("resource %s = %v, want %v (all: %v)", k, resAttrs[k], v, resAttrs)
		}
	}
	spans := rs[0].ScopeSpans[0].Spans
	if len(spans) != 1 {
		t.Fatalf("first export holds %d spans, want the child alone", len(spans))
	}
	if p := c.exports[1].ResourceSpans[0].ScopeSpans[0].Spans[0]; p.ParentSpanID != "" || p.Kind != 1 || p.SpanID != spans[0].ParentSpanID {
		t.Errorf("parent span = %+v", p)
	}
	s := spans[0]
	if len(s.TraceID) != 32 || len(s.SpanID) != 16 || len(s.ParentSpanID) != 16 || s.Kind != 3 || s.Status.Code != 2 || s.Flags != 0x101 {
		t.Errorf("span = %+v", s)
	}
	got, _ := json.Marshal(s.Attributes)
	want := `[{"key":"http.response.status_code","value":{"intValue":"503"}},{"key":"d","value":{"doubleValue":"Infinity"}},` +
		`{"key":"s","value":{"arrayValue":{"values":[{"stringValue":"x"},{"stringValue":"y"}]}}}]`
	if attrs := string(got); attrs != want {
		t.Errorf("attributes = %s, want %s", attrs, want)
	}
}

func TestOTLPExportFailures(t *testing.T) {
	span := func(tp *sdktrace.TracerProvider) {
		_, s := tp.Tracer("scope").Start(context.Background(), "op")
		s.End()
	}
	t.Run("500 is not retried", func(t *testing.T) {
		c := newCollector(t, http.StatusInternalServerError)
		exp := testExporter(t, c)
		errs := exportOnce(t, exp, span)
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.hits != 1 || len(errs) != 1 || !strings.Contains(errs[0].Error(), "500") {
			t.Errorf("collector hit %d times, export errors %v; want 1 hit and a 500 error", c.hits, errs)
		}
	})
	t.Run("partial success is an error", func(t *testing.T) {
		c := newCollector(t)
		c.answer = `{"partialSuccess":{"rejectedSpans":"1","errorMessage":"too old"}}`
		exp := testExporter(t, c)
		errs := exportOnce(t, exp, span)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "rejected 1 of 1 spans: too old") {
			t.Errorf("export errors = %v, want the rejection", errs)
		}
	})
	t.Run("after shutdown", func(t *testing.T) {
		exp := testExporter(t, newCollector(t))
		exp.Shutdown(context.Background())
		if err := exp.ExportSpans(context.Background(), make([]sdktrace.ReadOnlySpan, 1)); err != errOTLPStopped {
			t.Errorf("ExportSpans after Shutdown = %v, want %v", err, errOTLPStopped)
		}
	})
}

// exportOnce records what one span's synchronous export returns.
func exportOnce(t *testing.T, exp *otlpExporter, span func(*sdktrace.TracerProvider)) []error {
	t.Helper()
	rec := &recorder{exp: exp}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(rec))
	span(tp)
	tp.Shutdown(context.Background())
	return rec.errs
}

// recorder keeps the errors of the exporter it wraps: the SDK's span
// processors hand them to the global error handler instead.
type recorder struct {
	exp  *otlpExporter
	errs []error
}

func (r *recorder) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := r.exp.ExportSpans(ctx, spans); err != nil {
		r.errs = append(r.errs, err)
	}
	return nil
}

func (r *recorder) Shutdown(ctx context.Context) error { return r.exp.Shutdown(ctx) }

func TestDemoResourceMalformed(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "team=a,broken")
	var warn strings.Builder
	res := demoResource(context.Background(), &warn)
	got := map[attribute.Key]string{}
	for _, kv := range res.Attributes() {
		got[kv.Key] = kv.Value.String()
	}
	if got["service.name"] != demoService || got["team"] != "a" || !strings.Contains(warn.String(), "broken") {
		t.Errorf("demoResource() = %v, warned %q; want the demo's name, team=a and a warning", got, warn.String())
	}
}

func TestOTLPFromEnvEndpoints(t *testing.T) {
	tests := []struct{ general, traces, want string }{
		{"", "", ""},
		{"http://c:4318", "", "http://c:4318/v1/traces"},
		{"http://c:4318/base/", "", "http://c:4318/base/v1/traces"},
		{"http://c:4318", "https://t.example/custom", "https://t.example/custom"},
	}
	for _, tc := range tests {
		t.Setenv(envEndpoint, tc.general)
		t.Setenv(envTracesEndpoint, tc.traces)
		exp, err := otlpFromEnv(io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if exp != nil {
			got = exp.url
			exp.Shutdown(context.Background())
		}
		if got != tc.want {
			t.Errorf("endpoint (%q, %q) = %q, want %q", tc.general, tc.traces, got, tc.want)
		}
	}
	t.Setenv(envTracesEndpoint, "")
	t.Setenv(envEndpoint, "collector:4318")
	if _, err := otlpFromEnv(io.Discard); err == nil {
		t.Error("otlpFromEnv() accepted an endpoint without a scheme")
	}
}
