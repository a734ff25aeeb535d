package redisstate

import (
	"net/http"
	"testing"

	"github.com/resilient-http/resilient/transport/fleet"
	"github.com/resilient-http/resilient/transport/pacing"
)

type stubRT struct{ resp *http.Response }

func (s stubRT) RoundTrip(*http.Request) (*http.Response, error) { return s.resp, nil }

// BenchmarkLayers measures one request through credits → breaker → pacer
// over a stub that answers 200 at once: the per-request cost of sharing,
// with no Store, an in-process one, and a Store on a real Redis (reads
// from its mirror only; with a shared Rate, one GCRA round trip).
func BenchmarkLayers(b *testing.B) {
	srv := startRedis(b)
	store, err := New(srv.newClient(), Options{Namespace: "bench", OpTimeout: slow})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	for _, bc := range []struct {
		name  string
		store fleet.Store
		rate  float64
	}{
		{"nil", nil, 0},
		{"memory", fleet.NewMemory().Replica(), 0},
		{"redis", store, 0},
		{"nil+rate", nil, 1e9},
		{"redis+rate", store, 1e9},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := layers{Pacing: pacing.Policy{Rate: bc.rate, Burst: 1 << 20}}
			rt := l.chain(stubRT{&http.Response{StatusCode: 200, Body: http.NoBody}}, bc.store)
			req, _ := http.NewRequest("POST", "https://partner.test/v1/enhancements", nil)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := rt.RoundTrip(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
