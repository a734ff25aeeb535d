package bench

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TraceShape is what one tracing setup recorded for a GET answered 500,
// 500, 200, sent without a span in the caller's context.
type TraceShape struct {
	Peer string

	Spans        int // spans ended once the body was read
	ClientSpans  int // of which kind client: one per attempt, ideally
	Traces       int // distinct trace ids among them: 1 ties the attempts together
	ResendCounts bool
	RetryEvents  int // retry decisions recorded on a span (with their wait)
	ServerTraces int // distinct trace ids in the traceparent headers the server saw
}

// TracingPeers are the peers that trace, by name.
var TracingPeers = []string{"resilient stack (recording)", "otelhttp (recording)", "go-retryablehttp + otelhttp (recording)"}

// MeasureTraces runs the trace-shape scenario for every tracing peer, one
// after another. It sets the global propagator to W3C trace context (the
// peers read it), and leaves it set.
func MeasureTraces() []TraceShape {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	var out []TraceShape
	for _, name := range TracingPeers {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(rec))
		for _, p := range Peers(tp) {
			if p.Name == name {
				out = append(out, measureTrace(p, rec))
			}
		}
		tp.Shutdown(context.Background())
	}
	return out
}

func measureTrace(p Peer, rec *tracetest.SpanRecorder) TraceShape {
	var mu sync.Mutex
	var parents []string
	s := newServer(func(n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		parents = append(parents, r.Header.Get("Traceparent"))
		mu.Unlock()
		if n <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Write([]byte("ok"))
	})
	defer s.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()

	req, _ := http.NewRequest(http.MethodGet, s.URL+"/v1/jobs/1", nil)
	ctxDo(p.New(base), req, longHintLimit) // reads and closes the body

	shape := TraceShape{Peer: p.Name}
	traces := map[trace.TraceID]bool{}
	for _, sp := range rec.Ended() {
		shape.Spans++
		traces[sp.SpanContext().TraceID()] = true
		if sp.SpanKind() == trace.SpanKindClient {
			shape.ClientSpans++
		}
		for _, kv := range sp.Attributes() {
			if kv.Key == "http.request.resend_count" {
				shape.ResendCounts = true
			}
		}
		for _, ev := range sp.Events() {
			if ev.Name == "retry" {
				shape.RetryEvents++
			}
		}
	}
	shape.Traces = len(traces)
	seen := map[string]bool{}
	for _, tp := range parents {
		if f := strings.Split(tp, "-"); len(f) == 4 {
			seen[f[1]] = true
		}
	}
	shape.ServerTraces = len(seen)
	return shape
}

// TraceTable renders trace shapes as a markdown table.
func TraceTable(rows []TraceShape) string {
	var sb strings.Builder
	sb.WriteString("| peer | spans | client (attempt) spans | traces they form | resend count on retries | retry decisions recorded | traces the server saw |\n")
	sb.WriteString("|---|---:|---:|---:|---|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "| %s | %d | %d | %d | %v | %d | %d |\n", r.Peer, r.Spans, r.ClientSpans, r.Traces, r.ResendCounts, r.RetryEvents, r.ServerTraces)
	}
	return sb.String()
}
