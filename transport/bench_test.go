package transport_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/retry"
)

// canned answers 200 with one shared, empty response: a transport that costs
// nothing and allocates nothing, so the numbers are the layers' own cost.
type canned struct{}

var okResponse = &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}

func (canned) RoundTrip(r *http.Request) (*http.Response, error) { return okResponse, nil }

// partnerRoutes has a policy per partner-API endpoint; the benchmark's
// request matches one of them.
var partnerRoutes = transport.Config{Endpoints: map[string]transport.Policy{
	"POST /v1/enhancements":     {},
	"GET /v1/jobs/{id}":         {},
	"GET /v1/jobs/{id}/results": {},
	"POST /v1/lists":            {},
	"DELETE /v1/lists/{id}":     {},
	"/v1/exports/":              {},
}}

func mustStack(b *testing.B, cfg transport.Config) http.RoundTripper {
	s, err := transport.NewStack(canned{}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkStack measures the success path of each layer and of the stack
// over a stub transport: the deltas to "bare" are the library's cost.
func BenchmarkStack(b *testing.B) {
	stacks := []struct {
		name string
		rt   http.RoundTripper
	}{
		{"bare", canned{}},
		{"retry", transport.Chain(canned{}, retry.Middleware(retry.Policy{}))},
		{"breaker", transport.Chain(canned{}, breaker.Middleware(breaker.Policy{}))},
		{"retry+breaker", transport.Chain(canned{}, retry.Middleware(retry.Policy{}), breaker.Middleware(breaker.Policy{}))},
		{"stack", mustStack(b, transport.Config{})},
		{"stack+attempt-timeout", mustStack(b, transport.Config{Default: transport.Policy{AttemptTimeout: time.Second}})},
		{"stack+timeouts", mustStack(b, transport.Config{Default: transport.Policy{AttemptTimeout: time.Second, Timeout: time.Minute}})},
		{"stack+routes", mustStack(b, partnerRoutes)},
	}
	for _, s := range stacks {
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/v1/jobs/1", nil)
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp, err := s.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
		b.Run(s.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := s.rt.RoundTrip(req)
					if err != nil {
						b.Fatal(err)
					}
					resp.Body.Close()
				}
			})
		})
	}
}

// BenchmarkPattern measures routing alone, for requests whose answer the
// route cache holds.
func BenchmarkPattern(b *testing.B) {
	s, err := transport.NewStack(canned{}, partnerRoutes)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, method, url string }{
		{"wildcard", "GET", "http://127.0.0.1/v1/jobs/1"},
		{"exact", "POST", "http://127.0.0.1/v1/enhancements"},
		{"method-mismatch", "GET", "http://127.0.0.1/v1/lists"},
		{"no-match", "GET", "http://127.0.0.1/health"},
	} {
		req := httptest.NewRequest(c.method, c.url, nil)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Pattern(req)
			}
		})
	}
}

// BenchmarkPatternUncached routes requests that all miss the route cache:
// a client that never calls the same URL twice.
func BenchmarkPatternUncached(b *testing.B) {
	s, err := transport.NewStack(canned{}, partnerRoutes)
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]*http.Request, 4096) // well over the cache's 512 entries
	for i := range reqs {
		reqs[i] = httptest.NewRequest("GET", fmt.Sprintf("http://127.0.0.1/v1/jobs/%d", i), nil)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Pattern(reqs[i%len(reqs)])
		i++
	}
}
