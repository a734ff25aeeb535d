package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestOTLPExporterFromEnv(t *testing.T) {
	var mu sync.Mutex
	var exports []otlpRequest
	var path, auth, ctype string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		path, auth, ctype = r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		var req otlpRequest
		if err := json.Unmarshal(b, &req); err != nil {
			t.Errorf("collector got invalid JSON: %v", err)
		}
		exports = append(exports, req)
	}))
	defer collector.Close()

	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL+"/")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer t0ken")
	t.Setenv("OTEL_SERVICE_NAME", "demo-test")
	exp := otlpFromEnv()
	if exp == nil {
		t.Fatal("otlpFromEnv() = nil with OTEL_EXPORTER_OTLP_ENDPOINT set")
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ctx, parent := tp.Tracer("scope").Start(context.Background(), "GET /v1/jobs/{id}")
	_, child := tp.Tracer("scope").Start(ctx, "GET", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.Int("http.response.status_code", 503), attribute.Bool("resilient.refused", false)))
	child.SetStatus(codes.Error, "")
	child.End()
	parent.End()
	tp.Shutdown(context.Background())

	mu.Lock()
	defer mu.Unlock()
	if path != "/v1/traces" || auth != "Bearer t0ken" || ctype != "application/json" {
		t.Errorf("request to %q with Authorization %q, Content-Type %q", path, auth, ctype)
	}
	if len(exports) != 2 {
		t.Fatalf("collector got %d exports, want 2 (one per span, synchronous)", len(exports))
	}
	got := exports[0]
	if len(got.ResourceSpans) != 1 || len(got.ResourceSpans[0].ScopeSpans) != 1 {
		t.Fatalf("export = %+v", got)
	}
	res := got.ResourceSpans[0].Resource.Attributes
	if len(res) != 1 || res[0].Key != "service.name" || res[0].Value["stringValue"] != "demo-test" {
		t.Errorf("resource = %+v", res)
	}
	spans := got.ResourceSpans[0].ScopeSpans[0].Spans
	if len(spans) != 1 {
		t.Fatalf("first export holds %d spans, want the child alone", len(spans))
	}
	if p := exports[1].ResourceSpans[0].ScopeSpans[0].Spans[0]; p.ParentSpanID != "" || p.Kind != 1 || p.SpanID != spans[0].ParentSpanID {
		t.Errorf("parent span = %+v", p)
	}
	s := spans[0]
	if len(s.TraceID) != 32 || len(s.SpanID) != 16 || len(s.ParentSpanID) != 16 || s.Kind != 3 || s.Status.Code != 2 {
		t.Errorf("span = %+v", s)
	}
	if s.Attributes[0].Key != "http.response.status_code" || s.Attributes[0].Value["intValue"] != "503" {
		t.Errorf("attributes = %+v", s.Attributes)
	}
}

func TestOTLPOffWithoutEndpoint(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	if exp := otlpFromEnv(); exp != nil {
		t.Errorf("otlpFromEnv() = %+v without an endpoint", exp)
	}
}
