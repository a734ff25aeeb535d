package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/retry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// otlpExporter sends spans to an OpenTelemetry collector over OTLP/HTTP
// with the JSON encoding (Content-Type application/json). The demo carries
// its own small exporter so that the library's module depends on neither
// gRPC nor protobuf; examples/otlp checks its output against the official
// OTLP types.
//
// Its requests go through the library's own stack (retry with the OTLP
// rules, timeouts; no tracing, so the exporter never traces itself) over
// one http.Transport kept for the exporter's life, so that exports share
// a connection. The batch span processor calls ExportSpans from one
// goroutine at a time; Shutdown may run concurrently with it.
type otlpExporter struct {
	url     string
	headers http.Header
	client  *http.Client
	stopped atomic.Bool
}

// Environment variables read by otlpFromEnv, as the OpenTelemetry
// specification names them.
const (
	envEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envHeaders        = "OTEL_EXPORTER_OTLP_HEADERS"
	envTracesHeaders  = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
	envTimeout        = "OTEL_EXPORTER_OTLP_TIMEOUT"
	envTracesTimeout  = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
	envProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
)

// otlpDefaultTimeout bounds each export attempt, as the specification's
// OTEL_EXPORTER_OTLP_TIMEOUT default does.
const otlpDefaultTimeout = 10 * time.Second

// otlpFromEnv returns an exporter configured by the standard variables, or
// nil when neither OTEL_EXPORTER_OTLP_TRACES_ENDPOINT nor
// OTEL_EXPORTER_OTLP_ENDPOINT is set:
//
//   - OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the URL as is; otherwise
//     "/v1/traces" is appended to OTEL_EXPORTER_OTLP_ENDPOINT.
//   - OTEL_EXPORTER_OTLP_HEADERS and OTEL_EXPORTER_OTLP_TRACES_HEADERS are
//     comma-separated key=value lists whose keys and values are
//     percent-decoded (see parseOTLPHeaders); a key in the traces list
//     replaces the same key of the general one, other keys are kept.
//   - OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT, in milliseconds, bounds each
//     attempt (default 10s).
//
// Malformed entries are skipped with a warning on warn. Only the http/json
// protocol is spoken; another OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL gets a
// warning (collectors accept JSON on the same port).
func otlpFromEnv(warn io.Writer) (*otlpExporter, error) {
	u := os.Getenv(envTracesEndpoint)
	if u == "" {
		base := os.Getenv(envEndpoint)
		if base == "" {
			return nil, nil
		}
		u = strings.TrimSuffix(base, "/") + "/v1/traces"
	}
	if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return nil, fmt.Errorf("otlp: endpoint %q is not an http(s) URL", u)
	}
	if p := firstEnv(envTracesProtocol, envProtocol); p != "" && p != "http/json" {
		fmt.Fprintf(warn, "otlp: protocol %q is not supported, sending http/json\n", p)
	}
	h, errs := otlpHeaders(os.Getenv(envHeaders), os.Getenv(envTracesHeaders))
	for _, err := range errs {
		fmt.Fprintf(warn, "otlp: %v\n", err)
	}
	timeout := otlpDefaultTimeout
	if v := firstEnv(envTracesTimeout, envTimeout); v != "" {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 {
			timeout = time.Duration(ms) * time.Millisecond
		} else {
			fmt.Fprintf(warn, "otlp: ignoring timeout %q: want a positive number of milliseconds\n", v)
		}
	}
	client, err := newOTLPClient(timeout, otlpRetry)
	if err != nil {
		return nil, err
	}
	return &otlpExporter{url: u, headers: h, client: client}, nil
}

// firstEnv returns the first of the variables that is set and not empty.
func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// otlpHeaders builds the export's headers from the values of
// OTEL_EXPORTER_OTLP_HEADERS and OTEL_EXPORTER_OTLP_TRACES_HEADERS: the
// signal-specific list takes precedence key by key (as the JavaScript SDK
// merges them; the Go SDK's exporter instead uses the traces list alone
// when it is set, dropping every general header). Content-Type is always
// the exporter's own.
func otlpHeaders(general, traces string) (http.Header, []error) {
	h, errs := parseOTLPHeaders(general)
	t, terrs := parseOTLPHeaders(traces)
	for k, v := range t {
		h[k] = v
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", "resilient-demo-otlp-exporter")
	}
	h.Set("Content-Type", "application/json")
	return h, append(errs, terrs...)
}

// parseOTLPHeaders parses a headers variable as the OpenTelemetry
// specification defines it: the W3C Baggage format without properties,
// that is comma-separated key=value entries, blanks around keys and values
// ignored, keys and values percent-decoded ("Authorization=Basic%20abc"
// is the header "Authorization: Basic abc"). A '+' stays a '+': this is not
// a form encoding, and base64 tokens keep theirs. Empty entries are
// skipped; an entry without '=', with an invalid escape, a key that is not
// an HTTP token or a value holding control characters is skipped and
// reported. When a key repeats, the last entry wins.
func parseOTLPHeaders(s string) (http.Header, []error) {
	h := http.Header{}
	var errs []error
	for entry := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		k, v, ok := strings.Cut(entry, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("header entry %q: missing '='", entry))
			continue
		}
		key, err := url.PathUnescape(strings.TrimSpace(k))
		if err == nil && !isToken(key) {
			err = errors.New("key is not an HTTP token")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("header entry %q: %v", entry, err))
			continue
		}
		val, err := url.PathUnescape(strings.TrimSpace(v))
		if err == nil && strings.ContainsFunc(val, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			err = errors.New("value holds control characters")
		}
		if err != nil {
			// The key alone: the value may be a secret.
			errs = append(errs, fmt.Errorf("header %q: %v", key, err))
			continue
		}
		h.Set(key, val)
	}
	return h, errs
}

// isToken reports whether s is an HTTP field name (RFC 9110 §5.1).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// otlpRetry is the exporter's retry policy: up to 5 attempts, backoff
// from 500ms to 5s, Retry-After hints honoured up to 15s, 25s in all (the
// batch processor's export timeout, 30s by default, bounds it too, through
// the request's context).
var otlpRetry = retry.Policy{
	MaxAttempts:   5,
	BaseDelay:     500 * time.Millisecond,
	MaxDelay:      5 * time.Second,
	MaxRetryAfter: 15 * time.Second,
	MaxElapsed:    25 * time.Second,
}

// newOTLPClient builds the exporter's client: the library's stack over a
// transport of its own (so Shutdown closes only the exporter's
// connections), retrying as rp says and otlpClassify decides, each attempt
// bounded by attemptTimeout. Tracing is off, or every export would make
// spans to export; so is the breaker: exports to one collector are
// already serialized by the batch processor, and bounded by the retry
// budget and the timeouts.
func newOTLPClient(attemptTimeout time.Duration, rp retry.Policy) (*http.Client, error) {
	base := http.DefaultTransport.(*http.Transport).Clone()
	return transport.NewClient(&http.Client{Transport: base}, transport.Config{Default: transport.Policy{
		Retry:          rp,
		AttemptTimeout: attemptTimeout,
		Timeout:        max(30*time.Second, rp.MaxElapsed, attemptTimeout),
		Classifier:     otlpClassify,
		NoTracing:      true,
		NoBreaker:      true,
	}})
}

// otlpClassify applies the OTLP/HTTP retry rules to [errclass.Classify]:
// of the error statuses only 429, 502, 503 and 504 are retryable (with
// their Retry-After hint); the others, 500 included, are not. A network
// failure after the export was sent is retried too: repeating an export
// is harmless (spans carry their ids), as the OpenTelemetry SDKs'
// exporters assume.
func otlpClassify(req *http.Request, resp *http.Response, err error) errclass.Outcome {
	out := errclass.Classify(req, resp, err)
	if err == nil && resp != nil {
		switch resp.StatusCode {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		default:
			if out.Class == errclass.Retryable {
				out.Class = errclass.Permanent
				out.RetryAfter = 0
			}
		}
		return out
	}
	if out.Class == errclass.Permanent && out.Delivery == errclass.Ambiguous && out.ServerFault {
		out.Class = errclass.Retryable
	}
	return out
}

var _ sdktrace.SpanExporter = (*otlpExporter)(nil)

// otlpMaxResponse bounds how much of a collector's response is read.
const otlpMaxResponse = 64 << 10

// errOTLPStopped is returned by ExportSpans after Shutdown.
var errOTLPStopped = errors.New("otlp: exporter is shut down")

// ExportSpans posts spans as one OTLP ExportTraceServiceRequest, retried
// as otlpClassify says. A partial success the collector reports (spans it
// rejected) is an error too.
func (e *otlpExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.stopped.Load() {
		return errOTLPStopped
	}
	if len(spans) == 0 {
		return nil
	}
	body, err := json.Marshal(otlpBuild(spans))
	if err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	// bytes.Reader: NewRequest sets GetBody, so retries can replay it.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	req.Header = e.headers.Clone()
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	// Read the response to its end (bounded) so the connection is reused.
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, otlpMaxResponse))
	io.Copy(io.Discard, io.LimitReader(resp.Body, otlpMaxResponse))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("otlp: collector answered %s: %.200q", resp.Status, bytes.TrimSpace(b))
	}
	if rerr != nil {
		return fmt.Errorf("otlp: reading the response: %w", rerr)
	}
	var ok struct {
		PartialSuccess struct {
			RejectedSpans json.Number `json:"rejectedSpans"`
			ErrorMessage  string      `json:"errorMessage"`
		} `json:"partialSuccess"`
	}
	if json.Unmarshal(b, &ok) == nil { // an empty or protobuf body tells nothing
		if ps := ok.PartialSuccess; (ps.RejectedSpans != "" && ps.RejectedSpans != "0") || ps.ErrorMessage != "" {
			return fmt.Errorf("otlp: collector rejected %s of %d spans: %s", cmp.Or(string(ps.RejectedSpans), "0"), len(spans), ps.ErrorMessage)
		}
	}
	return nil
}

// Shutdown stops the exporter and closes its idle connections. An export
// in flight finishes; later ones fail.
func (e *otlpExporter) Shutdown(context.Context) error {
	e.stopped.Store(true)
	e.client.CloseIdleConnections()
	return nil
}

// The OTLP/JSON encoding of an ExportTraceServiceRequest
// (opentelemetry-proto, collector/trace/v1): the protobuf JSON mapping,
// except that trace and span ids are hex strings and enums are numbers.
type (
	otlpRequest struct {
		ResourceSpans []otlpResourceSpans `json:"resourceSpans"`
	}
	otlpResourceSpans struct {
		Resource   otlpResource     `json:"resource"`
		ScopeSpans []otlpScopeSpans `json:"scopeSpans"`
		SchemaURL  string           `json:"schemaUrl,omitempty"`
	}
	otlpResource struct {
		Attributes []otlpKV `json:"attributes"`
	}
	otlpScopeSpans struct {
		Scope     otlpScope  `json:"scope"`
		Spans     []otlpSpan `json:"spans"`
		SchemaURL string     `json:"schemaUrl,omitempty"`
	}
	otlpScope struct {
		Name       string   `json:"name"`
		Version    string   `json:"version,omitempty"`
		Attributes []otlpKV `json:"attributes,omitempty"`
	}
	otlpSpan struct {
		TraceID                string      `json:"traceId"`
		SpanID                 string      `json:"spanId"`
		TraceState             string      `json:"traceState,omitempty"`
		ParentSpanID           string      `json:"parentSpanId,omitempty"`
		Flags                  uint32      `json:"flags,omitempty"`
		Name                   string      `json:"name"`
		Kind                   int         `json:"kind"`
		Start                  string      `json:"startTimeUnixNano"`
		End                    string      `json:"endTimeUnixNano"`
		Attributes             []otlpKV    `json:"attributes,omitempty"`
		DroppedAttributesCount int         `json:"droppedAttributesCount,omitempty"`
		Events                 []otlpEvent `json:"events,omitempty"`
		DroppedEventsCount     int         `json:"droppedEventsCount,omitempty"`
		Links                  []otlpLink  `json:"links,omitempty"`
		DroppedLinksCount      int         `json:"droppedLinksCount,omitempty"`
		Status                 otlpStatus  `json:"status"`
	}
	otlpEvent struct {
		Time                   string   `json:"timeUnixNano"`
		Name                   string   `json:"name"`
		Attributes             []otlpKV `json:"attributes,omitempty"`
		DroppedAttributesCount int      `json:"droppedAttributesCount,omitempty"`
	}
	otlpLink struct {
		TraceID                string   `json:"traceId"`
		SpanID                 string   `json:"spanId"`
		TraceState             string   `json:"traceState,omitempty"`
		Attributes             []otlpKV `json:"attributes,omitempty"`
		DroppedAttributesCount int      `json:"droppedAttributesCount,omitempty"`
		Flags                  uint32   `json:"flags,omitempty"`
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

// Span flags (opentelemetry-proto SpanFlags): the W3C trace flags in the
// low byte, and whether the parent (or linked) span context is remote.
const (
	otlpFlagHasIsRemote = 0x100
	otlpFlagIsRemote    = 0x200
)

// otlpBuild groups spans by resource (the TracerProvider's) and
// instrumentation scope, in the order they come.
func otlpBuild(spans []sdktrace.ReadOnlySpan) otlpRequest {
	type scopeKey struct {
		res   *resource.Resource
		scope instrumentation.Scope
	}
	var req otlpRequest
	resIdx := map[*resource.Resource]int{}
	scopeIdx := map[scopeKey]int{}
	for _, s := range spans {
		res := s.Resource()
		ri, ok := resIdx[res]
		if !ok {
			ri = len(req.ResourceSpans)
			resIdx[res] = ri
			rs := otlpResourceSpans{Resource: otlpResource{Attributes: []otlpKV{}}}
			if res != nil {
				rs.Resource.Attributes = otlpAttrs(res.Attributes())
				rs.SchemaURL = res.SchemaURL()
			}
			req.ResourceSpans = append(req.ResourceSpans, rs)
		}
		rs := &req.ResourceSpans[ri]
		scope := s.InstrumentationScope()
		key := scopeKey{res, scope}
		si, ok := scopeIdx[key]
		if !ok {
			si = len(rs.ScopeSpans)
			scopeIdx[key] = si
			rs.ScopeSpans = append(rs.ScopeSpans, otlpScopeSpans{
				Scope:     otlpScope{Name: scope.Name, Version: scope.Version, Attributes: otlpAttrs(scope.Attributes.ToSlice())},
				SchemaURL: scope.SchemaURL,
			})
		}
		ss := &rs.ScopeSpans[si]
		ss.Spans = append(ss.Spans, otlpSpanOf(s))
	}
	return req
}

func otlpSpanOf(s sdktrace.ReadOnlySpan) otlpSpan {
	sc := s.SpanContext()
	out := otlpSpan{
		TraceID:                sc.TraceID().String(),
		SpanID:                 sc.SpanID().String(),
		TraceState:             sc.TraceState().String(),
		Flags:                  uint32(sc.TraceFlags()) | otlpFlagHasIsRemote,
		Name:                   s.Name(),
		Kind:                   int(s.SpanKind()), // the SDK's numbering matches OTLP's
		Start:                  strconv.FormatInt(s.StartTime().UnixNano(), 10),
		End:                    strconv.FormatInt(s.EndTime().UnixNano(), 10),
		Attributes:             otlpAttrs(s.Attributes()),
		DroppedAttributesCount: s.DroppedAttributes(),
		DroppedEventsCount:     s.DroppedEvents(),
		DroppedLinksCount:      s.DroppedLinks(),
	}
	if p := s.Parent(); p.IsValid() {
		out.ParentSpanID = p.SpanID().String()
		if p.IsRemote() {
			out.Flags |= otlpFlagIsRemote
		}
	}
	for _, ev := range s.Events() {
		out.Events = append(out.Events, otlpEvent{
			Time: strconv.FormatInt(ev.Time.UnixNano(), 10), Name: ev.Name,
			Attributes: otlpAttrs(ev.Attributes), DroppedAttributesCount: ev.DroppedAttributeCount})
	}
	for _, l := range s.Links() {
		link := otlpLink{
			TraceID: l.SpanContext.TraceID().String(), SpanID: l.SpanContext.SpanID().String(),
			TraceState: l.SpanContext.TraceState().String(), Attributes: otlpAttrs(l.Attributes),
			DroppedAttributesCount: l.DroppedAttributeCount,
			Flags:                  uint32(l.SpanContext.TraceFlags()) | otlpFlagHasIsRemote,
		}
		if l.SpanContext.IsRemote() {
			link.Flags |= otlpFlagIsRemote
		}
		out.Links = append(out.Links, link)
	}
	switch s.Status().Code {
	case codes.Ok:
		out.Status.Code = 1
	case codes.Error:
		out.Status = otlpStatus{Code: 2, Message: s.Status().Description}
	}
	return out
}

// otlpAttrs maps attributes to OTLP's JSON KeyValue form.
func otlpAttrs(kvs []attribute.KeyValue) []otlpKV {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]otlpKV, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, otlpKV{Key: string(kv.Key), Value: otlpValue(kv.Value)})
	}
	return out
}

// otlpValue maps a value to OTLP's JSON AnyValue form: 64-bit integers as
// strings and non-finite doubles as "NaN", "Infinity" or "-Infinity", as
// the protobuf JSON mapping requires; slices as arrayValue.
func otlpValue(v attribute.Value) map[string]any {
	arr := func(n int, at func(int) map[string]any) map[string]any {
		vals := make([]map[string]any, n)
		for i := range vals {
			vals[i] = at(i)
		}
		return map[string]any{"arrayValue": map[string]any{"values": vals}}
	}
	switch v.Type() {
	case attribute.BOOL:
		return map[string]any{"boolValue": v.AsBool()}
	case attribute.INT64:
		return map[string]any{"intValue": strconv.FormatInt(v.AsInt64(), 10)}
	case attribute.FLOAT64:
		return map[string]any{"doubleValue": otlpDouble(v.AsFloat64())}
	case attribute.STRING:
		return map[string]any{"stringValue": v.AsString()}
	case attribute.BOOLSLICE:
		s := v.AsBoolSlice()
		return arr(len(s), func(i int) map[string]any { return otlpValue(attribute.BoolValue(s[i])) })
	case attribute.INT64SLICE:
		s := v.AsInt64Slice()
		return arr(len(s), func(i int) map[string]any { return otlpValue(attribute.Int64Value(s[i])) })
	case attribute.FLOAT64SLICE:
		s := v.AsFloat64Slice()
		return arr(len(s), func(i int) map[string]any { return otlpValue(attribute.Float64Value(s[i])) })
	case attribute.STRINGSLICE:
		s := v.AsStringSlice()
		return arr(len(s), func(i int) map[string]any { return otlpValue(attribute.StringValue(s[i])) })
	}
	return map[string]any{"stringValue": v.String()}
}

func otlpDouble(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}
