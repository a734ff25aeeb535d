// Package otlp checks that cmd/demo's hand-written OTLP/HTTP exporter
// interoperates: a local receiver decodes its exports with the official
// OTLP types (go.opentelemetry.io/proto/otlp), which stay out of the
// library's module.
package otlp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protojson"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// receiver is an OTLP/HTTP trace receiver (JSON encoding, as the demo
// sends) that answers its first export with 503 and Retry-After: 1.
type receiver struct {
	*httptest.Server
	t     *testing.T
	conns atomic.Int64

	mu       sync.Mutex
	requests int
	arrived  []time.Time // when each request arrived
	refused  []byte      // the body of the export answered with 503
	exports  []*collectortrace.ExportTraceServiceRequest
	bodies   [][]byte
	headers  []http.Header
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			r.conns.Add(1)
		}
	}
	r.Start()
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	arrived := time.Now()
	body, err := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	r.arrived = append(r.arrived, arrived)
	switch {
	case err != nil:
		r.t.Errorf("reading an export: %v", err)
		return
	case req.Method != http.MethodPost || req.URL.Path != "/v1/traces":
		r.t.Errorf("export sent as %s %s, want POST /v1/traces", req.Method, req.URL.Path)
	case req.Header.Get("Content-Type") != "application/json":
		r.t.Errorf("export Content-Type = %q, want application/json", req.Header.Get("Content-Type"))
	}
	if r.requests == 1 {
		r.refused = body
		w.Header().Set("Retry-After", "1")
		http.Error(w, "collector busy", http.StatusServiceUnavailable)
		return
	}
	var export collectortrace.ExportTraceServiceRequest
	if err := unmarshalOTLPJSON(body, &export); err != nil {
		r.t.Errorf("export does not decode as an ExportTraceServiceRequest: %v\n%s", err, body)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.exports = append(r.exports, &export)
	r.bodies = append(r.bodies, body)
	r.headers = append(r.headers, req.Header.Clone())
	answer, _ := protojson.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/json")
	w.Write(answer)
}

// unmarshalOTLPJSON decodes the OTLP/JSON encoding, which is the protobuf
// JSON mapping except that trace and span ids are hex, not base64: it
// checks and rewrites them, then lets protojson decode the rest, rejecting
// unknown fields.
func unmarshalOTLPJSON(b []byte, m *collectortrace.ExportTraceServiceRequest) error {
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	if err := hexIDsToBase64(doc); err != nil {
		return err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return protojson.Unmarshal(b, m)
}

var idLengths = map[string]int{"traceId": 16, "spanId": 8, "parentSpanId": 8}

func hexIDsToBase64(v any) error {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if n, ok := idLengths[k]; ok {
				s, _ := x.(string)
				id, err := hex.DecodeString(s)
				if err != nil || len(id) != n || s != strings.ToLower(s) {
					return fmt.Errorf("%s %q is not %d bytes of lowercase hex", k, s, n)
				}
				v[k] = base64.StdEncoding.EncodeToString(id)
				continue
			}
			if err := hexIDsToBase64(x); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range v {
			if err := hexIDsToBase64(x); err != nil {
				return err
			}
		}
	}
	return nil
}

// buildDemo builds cmd/demo in the library's own module.
func buildDemo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "demo")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/demo")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/demo: %v\n%s", err, out)
	}
	return bin
}

// TestDemoExportsInteroperate runs the demo against the receiver and checks
// every export, decoded with the official types.
func TestDemoExportsInteroperate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo (about 4s)")
	}
	bin := buildDemo(t)
	r := newReceiver(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"OTEL_EXPORTER_OTLP_ENDPOINT="+r.URL,
		"OTEL_EXPORTER_OTLP_HEADERS=Authorization=Basic%20abc,X-Tenant=general",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS=X-Tenant=traces%2Fb",
		"OTEL_SERVICE_NAME=interop-demo",
		"OTEL_RESOURCE_ATTRIBUTES=deployment.environment=interop,team=a%20b",
		// Small, frequent batches: several exports in one run.
		"OTEL_BSP_SCHEDULE_DELAY=100",
		"OTEL_BSP_MAX_EXPORT_BATCH_SIZE=8",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("demo ran in %v", time.Since(start))
	if stderr.Len() > 0 {
		t.Errorf("demo wrote to stderr (export errors?):\n%s", stderr.String())
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.exports) < 3 {
		t.Fatalf("receiver accepted %d exports, want several (batches of 8)", len(r.exports))
	}
	if r.requests != len(r.exports)+1 {
		t.Errorf("receiver got %d requests for %d exports, want one more (the 503)", r.requests, len(r.exports))
	}
	if !bytes.Equal(r.refused, r.bodies[0]) {
		t.Errorf("the batch answered with 503 was not sent again:\nrefused: %s\nnext:    %s", r.refused, r.bodies[0])
	}
	// Retry-After: 1 is a floor for the wait (the backoff alone would
	// resend it after 250-750ms).
	if gap := r.arrived[1].Sub(r.arrived[0]); gap < time.Second {
		t.Errorf("the batch answered with 503 and Retry-After: 1 was sent again after %v, want at least 1s", gap)
	}
	if n := r.conns.Load(); n != 1 {
		t.Errorf("%d exports used %d connections, want 1", len(r.exports), n)
	}
	for i, h := range r.headers {
		if got := h.Get("Authorization"); got != "Basic abc" {
			t.Errorf("export %d: Authorization = %q, want the percent-decoded %q", i, got, "Basic abc")
		}
		if got := h.Get("X-Tenant"); got != "traces/b" {
			t.Errorf("export %d: X-Tenant = %q, want the traces-specific %q", i, got, "traces/b")
		}
	}

	spans := map[string]*tracepb.Span{} // by span id
	for _, export := range r.exports {
		for _, rs := range export.ResourceSpans {
			checkResource(t, attrs(rs.GetResource().GetAttributes()))
			for _, ss := range rs.ScopeSpans {
				if ss.GetScope().GetName() == "" {
					t.Errorf("scope without a name: %v", ss.GetScope())
				}
				for _, s := range ss.Spans {
					id := hex.EncodeToString(s.SpanId)
					if spans[id] != nil {
						t.Errorf("span %s exported twice", id)
					}
					spans[id] = s
				}
			}
		}
	}
	checkSpans(t, spans, stdout.String())
}

func checkResource(t *testing.T, res map[string]*commonpb.AnyValue) {
	t.Helper()
	for k, want := range map[string]string{
		"service.name": "interop-demo", "deployment.environment": "interop", "team": "a b",
		"telemetry.sdk.name": "opentelemetry", "telemetry.sdk.language": "go",
	} {
		if got := res[k].GetStringValue(); got != want {
			t.Errorf("resource %s = %q, want %q", k, got, want)
		}
	}
}

// printed matches the demo's trace lines: "  trace 1a2b3c4d · POST
// /v1/enhancements · 202 · 2 attempt(s) · 1.01s".
var printed = regexp.MustCompile(`(?m)^  trace ([0-9a-f]{8}) · (\S+ \S+) · .* · (\d+) attempt\(s\)`)

// checkSpans checks the spans against the traces the demo printed: each
// request span (kind INTERNAL, a root) has its attempts (kind CLIENT) as
// children in its trace, numbered from 1, and nothing is missing.
func checkSpans(t *testing.T, spans map[string]*tracepb.Span, stdout string) {
	t.Helper()
	children := map[string][]*tracepb.Span{}
	roots := map[string]*tracepb.Span{} // by the trace id's first 8 hex digits
	for _, s := range spans {
		if s.EndTimeUnixNano < s.StartTimeUnixNano || s.StartTimeUnixNano == 0 {
			t.Errorf("span %q runs from %d to %d", s.Name, s.StartTimeUnixNano, s.EndTimeUnixNano)
		}
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_INTERNAL:
			if len(s.ParentSpanId) != 0 {
				t.Errorf("request span %q has a parent", s.Name)
			}
			roots[hex.EncodeToString(s.TraceId)[:8]] = s
		case tracepb.Span_SPAN_KIND_CLIENT:
			parent := spans[hex.EncodeToString(s.ParentSpanId)]
			if parent == nil || !bytes.Equal(parent.TraceId, s.TraceId) || parent.Kind != tracepb.Span_SPAN_KIND_INTERNAL {
				t.Errorf("attempt span %q: parent %x is not a request span of its trace", s.Name, s.ParentSpanId)
				continue
			}
			children[hex.EncodeToString(s.ParentSpanId)] = append(children[hex.EncodeToString(s.ParentSpanId)], s)
		default:
			t.Errorf("span %q of kind %v", s.Name, s.Kind)
		}
	}
	lines := printed.FindAllStringSubmatch(stdout, -1)
	if len(lines) < 10 {
		t.Fatalf("demo printed %d traces:\n%s", len(lines), stdout)
	}
	total := 0
	for _, l := range lines {
		prefix, name := l[1], l[2]
		attempts, _ := strconv.Atoi(l[3])
		total++
		root := roots[prefix]
		if root == nil {
			t.Errorf("trace %s (%s) was not exported", prefix, name)
			continue
		}
		if root.Name != name {
			t.Errorf("trace %s: request span %q, the demo printed %q", prefix, root.Name, name)
		}
		kids := children[hex.EncodeToString(root.SpanId)]
		total += len(kids)
		if len(kids) != attempts || attrs(root.Attributes)["resilient.attempts"].GetIntValue() != int64(attempts) {
			t.Errorf("trace %s: %d attempt spans, resilient.attempts = %v, the demo printed %d", prefix, len(kids), attrs(root.Attributes)["resilient.attempts"], attempts)
		}
		for _, k := range kids {
			a := attrs(k.Attributes)
			if n := a["resilient.attempt"].GetIntValue(); n < 1 || n > int64(attempts) {
				t.Errorf("trace %s: attempt span with resilient.attempt = %v", prefix, a["resilient.attempt"])
			}
			if !strings.HasPrefix(name, k.Name) {
				t.Errorf("trace %s: attempt span named %q under %q", prefix, k.Name, name)
			}
			code := a["http.response.status_code"].GetIntValue()
			if wantErr := code >= 400 || code == 0; wantErr != (k.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR) {
				t.Errorf("trace %s: attempt with status %d has span status %v", prefix, code, k.Status.GetCode())
			}
		}
	}
	if total != len(spans) {
		t.Errorf("receiver got %d spans, the demo printed %d", len(spans), total)
	}

	// One trace in detail: the first submit, rate limited once.
	first := roots[lines[0][1]]
	kids := children[hex.EncodeToString(first.SpanId)]
	if first.Name != "POST /v1/enhancements" || len(kids) != 2 {
		t.Fatalf("first trace: %q with %d attempts", first.Name, len(kids))
	}
	if a := attrs(first.Attributes); a["http.response.status_code"].GetIntValue() != 202 || a["url.template"].GetStringValue() != "/v1/enhancements" {
		t.Errorf("first request span attributes: %v", first.Attributes)
	}
	a1, a2 := attrs(kids[0].Attributes), attrs(kids[1].Attributes)
	if a1["resilient.attempt"].GetIntValue() == 2 {
		a1, a2 = a2, a1
	}
	if a1["http.response.status_code"].GetIntValue() != 429 || a1["resilient.class"].GetStringValue() != "retryable" ||
		a1["resilient.retry_after"].GetDoubleValue() != 1 {
		t.Errorf("first attempt attributes: %v", a1)
	}
	if a2["http.response.status_code"].GetIntValue() != 202 || a2["resilient.retry.from_retry_after"].GetBoolValue() != true {
		t.Errorf("second attempt attributes: %v", a2)
	}
}

func attrs(kvs []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	m := make(map[string]*commonpb.AnyValue, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}
