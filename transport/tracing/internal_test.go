package tracing

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
)

// This test binary never installs a global provider, so the globals are
// OpenTelemetry's placeholders: they must be recognised as no-ops, or every
// request would pay for starting a span that records nothing.
func TestGlobalPlaceholderIsNoop(t *testing.T) {
	g := otel.GetTracerProvider()
	if !isNoop(g, g) {
		t.Fatalf("isNoop(%T) = false: OpenTelemetry's global placeholder is no longer recognised", g)
	}
	if !isNoop(noop.NewTracerProvider(), g) {
		t.Error("isNoop(noop.TracerProvider) = false")
	}
	tr := New(Config{})
	if tr.tracer() != nil {
		t.Error("tracer() with the global placeholder is not nil")
	}
}

func TestNoopProvidersDoNotAllocate(t *testing.T) {
	canned := &http.Response{StatusCode: 500, Header: http.Header{}, Body: http.NoBody}
	base := roundTripperFunc(func(*http.Request) (*http.Response, error) { return canned, nil })
	for name, cfg := range map[string]Config{
		"globals":  {},
		"noop pkg": {TracerProvider: noop.NewTracerProvider()},
	} {
		rt := New(cfg).Around(nil)(base)
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/v1/jobs/1?key=x", nil)
		if n := testing.AllocsPerRun(100, func() { rt.RoundTrip(req) }); n != 0 {
			t.Errorf("%s: tracing layers allocate %v times per request, want 0", name, n)
		}
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"https://api.example.com/v1/jobs/1":            "https://api.example.com/v1/jobs/1",
		"https://user:pw@api.example.com/x":            "https://REDACTED:REDACTED@api.example.com/x",
		"https://api.example.com/x?api_key=abc&page=2": "https://api.example.com/x?api_key=REDACTED&page=REDACTED",
		"https://api.example.com/x?sig=abc#frag":       "https://api.example.com/x?sig=REDACTED",
		"http://127.0.0.1:8080/x?a=1&a=2":              "http://127.0.0.1:8080/x?a=REDACTED&a=REDACTED",
		"https://api.example.com/x?%zz=1":              "https://api.example.com/x?REDACTED",
	}
	for in, want := range tests {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := redactURL(u); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

type rwc struct {
	io.Reader
	written bytes.Buffer
}

func (c *rwc) Write(p []byte) (int, error) { return c.written.Write(p) }
func (c *rwc) Close() error                { return nil }

func TestTrackedBodyKeepsWriterAndEndsOnce(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	_, span := tp.Tracer("t").Start(context.Background(), "s")

	body := &rwc{Reader: strings.NewReader(`{"detail":"too many"}` + strings.Repeat(" ", 100))}
	resp := &http.Response{StatusCode: 429, Header: http.Header{}, Body: body}
	tb := trackBody(resp, 21, span, endAttrs{})
	w, ok := tb.(io.Writer)
	if !ok {
		t.Fatal("tracked 101 body lost its io.Writer")
	}
	w.Write([]byte("ping"))
	if len(rec.Ended()) != 0 {
		t.Fatal("span ended before the body was read")
	}
	io.ReadAll(tb)
	tb.Close()
	ended := rec.Ended()
	if len(ended) != 1 || body.written.String() != "ping" {
		t.Fatalf("%d spans ended, written %q; want 1 and ping", len(ended), body.written.String())
	}
	var detail string
	for _, kv := range ended[0].Attributes() {
		if kv.Key == attrDetail {
			detail = kv.Value.AsString()
		}
	}
	if detail != "too many" {
		t.Errorf("detail = %q, want the one decoded from the first 21 bytes read", detail)
	}

	_, span2 := tp.Tracer("t").Start(context.Background(), "s2")
	trackBody(&http.Response{StatusCode: 200, Body: http.NoBody}, 10, span2, endAttrs{})
	if len(rec.Ended()) != 2 {
		t.Error("an empty body did not end the span at once")
	}
}

func TestDetailOf(t *testing.T) {
	if d := detailOf(422, http.Header{}, []byte(`{"detail":[{"type":"missing","loc":["body","persons",0,"name"],"msg":"Field required"}]}`)); d != "body.persons[0].name: Field required" {
		t.Errorf("detailOf(422) = %q", d)
	}
	if d := detailOf(500, http.Header{}, []byte("upstream \xff exploded")); d != "upstream \uFFFD exploded" {
		t.Errorf("detailOf(non-JSON) = %q", d)
	}
	long := detailOf(400, http.Header{}, []byte(`{"detail":"`+strings.Repeat("é", 300)+`"}`))
	if len(long) > maxDetail+len("…") || !strings.HasSuffix(long, "…") {
		t.Errorf("detailOf(long) has %d bytes, want at most %d", len(long), maxDetail+3)
	}
}

func TestSpanNameCacheMatchesSpanName(t *testing.T) {
	tr := New(Config{})
	for known := range knownMethods {
		if methodIndex(known) < 0 {
			t.Errorf("known method %s has no cached name", known)
		}
	}
	for i := range 50 {
		method := []string{"", "GET", "POST", "DELETE", "QUERY", "BREW", "PATCH"}[i%7]
		route := []string{"", "/v1/jobs/{id}", "/v1/lists"}[i%3]
		req := &http.Request{Method: method, URL: &url.URL{Path: "/x"}}
		if got, want := tr.spanName(req, route), spanName(req, route); got != want {
			t.Fatalf("cached span name for %q %q = %q, want %q", method, route, got, want)
		}
	}
}
