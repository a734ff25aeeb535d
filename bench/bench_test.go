package bench

import (
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// BenchmarkCases runs every case for every peer: the stub (the middleware's
// own cost), GET and POST 1 KiB over loopback, and 64 goroutines sharing one
// client. cmd/compare runs the same cases and prints them as ratios to bare.
func BenchmarkCases(b *testing.B) {
	env := NewEnv()
	defer env.Close()
	for _, c := range Cases {
		for _, p := range env.Peers {
			b.Run(c.Name+"/"+p.Name, func(b *testing.B) {
				b.ReportAllocs()
				c.Run(b, env, p)
			})
		}
	}
}

// BenchmarkRecordingW3C runs the stub case for the recording rows with the
// W3C trace-context propagator installed globally (both otelhttp and our
// tracing layers use the global one when given none): the recording cost
// with header injection, side by side.
func BenchmarkRecordingW3C(b *testing.B) {
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	defer otel.SetTextMapPropagator(prev)
	env := NewEnv()
	defer env.Close()
	for _, p := range env.Peers {
		switch p.Name {
		case "bare", "resilient stack (recording)", "otelhttp (recording)":
		default:
			continue
		}
		b.Run(p.Name, func(b *testing.B) {
			b.ReportAllocs()
			Cases[0].Run(b, env, p)
		})
	}
}
