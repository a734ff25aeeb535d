package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// otlpExporter sends spans to an OpenTelemetry collector over OTLP/HTTP
// with the JSON encoding. The demo carries its own small exporter so that
// the library's module does not depend on gRPC and protobuf.
type otlpExporter struct {
	url     string
	headers http.Header
	service string
	client  *http.Client
}

// otlpFromEnv returns an exporter configured by the standard variables
// (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME), or nil when no endpoint
// is set.
func otlpFromEnv() *otlpExporter {
	url := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if url == "" {
		base := os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
		if base == "" {
			return nil
		}
		url = strings.TrimSuffix(base, "/") + "/v1/traces"
	}
	h := http.Header{"Content-Type": {"application/json"}}
	for _, kv := range strings.Split(os.Getenv("OTEL_EXPORTER_OTLP_HEADERS"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			h.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	service := os.Getenv("OTEL_SERVICE_NAME")
	if service == "" {
		service = "resilient-demo"
	}
	return &otlpExporter{url: url, headers: h, service: service, client: &http.Client{Timeout: 10 * time.Second}}
}

var _ sdktrace.SpanExporter = (*otlpExporter)(nil)

// ExportSpans posts spans as one OTLP ExportTraceServiceRequest.
func (e *otlpExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	body, err := json.Marshal(e.request(spans))
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = e.headers.Clone()
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("otlp: collector answered %s", resp.Status)
	}
	return nil
}

// Shutdown releases the exporter's connections.
func (e *otlpExporter) Shutdown(context.Context) error {
	e.client.CloseIdleConnections()
	return nil
}

type (
	otlpRequest struct {
		ResourceSpans []otlpResourceSpans `json:"resourceSpans"`
	}
	otlpResourceSpans struct {
		Resource   otlpResource     `json:"resource"`
		ScopeSpans []otlpScopeSpans `json:"scopeSpans"`
	}
	otlpResource struct {
		Attributes []otlpKV `json:"attributes"`
	}
	otlpScopeSpans struct {
		Scope otlpScope  `json:"scope"`
		Spans []otlpSpan `json:"spans"`
	}
	otlpScope struct {
		Name string `json:"name"`
	}
	otlpSpan struct {
		TraceID      string      `json:"traceId"`
		SpanID       string      `json:"spanId"`
		ParentSpanID string      `json:"parentSpanId,omitempty"`
		Name         string      `json:"name"`
		Kind         int         `json:"kind"`
		Start        string      `json:"startTimeUnixNano"`
		End          string      `json:"endTimeUnixNano"`
		Attributes   []otlpKV    `json:"attributes,omitempty"`
		Events       []otlpEvent `json:"events,omitempty"`
		Status       otlpStatus  `json:"status"`
	}
	otlpEvent struct {
		Time       string   `json:"timeUnixNano"`
		Name       string   `json:"name"`
		Attributes []otlpKV `json:"attributes,omitempty"`
	}
	otlpStatus struct {
		Code    int    `json:"code,omitempty"`
		Message string `json:"message,omitempty"`
	}
	otlpKV struct {
		Key   string         `json:"key"`
		Value map[string]any `json:"value"`
	}
)

func (e *otlpExporter) request(spans []sdktrace.ReadOnlySpan) otlpRequest {
	scopes := map[string]*otlpScopeSpans{}
	var order []string
	for _, s := range spans {
		name := s.InstrumentationScope().Name
		ss, ok := scopes[name]
		if !ok {
			ss = &otlpScopeSpans{Scope: otlpScope{Name: name}}
			scopes[name] = ss
			order = append(order, name)
		}
		os := otlpSpan{
			TraceID: s.SpanContext().TraceID().String(),
			SpanID:  s.SpanContext().SpanID().String(),
			Name:    s.Name(),
			Kind:    int(s.SpanKind()), // the SDK's numbering matches OTLP's
			Start:   strconv.FormatInt(s.StartTime().UnixNano(), 10),
			End:     strconv.FormatInt(s.EndTime().UnixNano(), 10),
		}
		if s.Parent().IsValid() {
			os.ParentSpanID = s.Parent().SpanID().String()
		}
		os.Attributes = otlpAttrs(s.Attributes())
		for _, ev := range s.Events() {
			os.Events = append(os.Events, otlpEvent{
				Time: strconv.FormatInt(ev.Time.UnixNano(), 10), Name: ev.Name, Attributes: otlpAttrs(ev.Attributes)})
		}
		switch s.Status().Code {
		case codes.Ok:
			os.Status.Code = 1
		case codes.Error:
			os.Status = otlpStatus{Code: 2, Message: s.Status().Description}
		}
		ss.Spans = append(ss.Spans, os)
	}
	rs := otlpResourceSpans{Resource: otlpResource{Attributes: otlpAttrs([]attribute.KeyValue{attribute.String("service.name", e.service)})}}
	for _, name := range order {
		rs.ScopeSpans = append(rs.ScopeSpans, *scopes[name])
	}
	return otlpRequest{ResourceSpans: []otlpResourceSpans{rs}}
}

// otlpAttrs maps attributes to OTLP's JSON AnyValue form (64-bit integers
// as strings, as the protobuf JSON mapping requires).
func otlpAttrs(kvs []attribute.KeyValue) []otlpKV {
	out := make([]otlpKV, 0, len(kvs))
	for _, kv := range kvs {
		var v map[string]any
		switch kv.Value.Type() {
		case attribute.BOOL:
			v = map[string]any{"boolValue": kv.Value.AsBool()}
		case attribute.INT64:
			v = map[string]any{"intValue": strconv.FormatInt(kv.Value.AsInt64(), 10)}
		case attribute.FLOAT64:
			v = map[string]any{"doubleValue": kv.Value.AsFloat64()}
		default:
			v = map[string]any{"stringValue": kv.Value.String()}
		}
		out = append(out, otlpKV{Key: string(kv.Key), Value: v})
	}
	return out
}
