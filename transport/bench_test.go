package transport_test

import (
	"fmt"
	"io"
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

// cannedBody answers 200 with a response whose body is not http.NoBody
// (an empty one, shared and stateless): the body wrappers of the timeouts
// show up in its rows.
type cannedBody struct{}

type emptyBody struct{}

func (emptyBody) Read([]byte) (int, error) { return 0, io.EOF }
func (emptyBody) Close() error             { return nil }

var okBodyResponse = &http.Response{StatusCode: 200, Header: http.Header{}, Body: emptyBody{}}

func (cannedBody) RoundTrip(r *http.Request) (*http.Response, error) {
	resp := *okBodyResponse // layers wrap resp.Body: each request needs a response of its own (1 allocation, in "bare+body" too)
	return &resp, nil
}

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

// off is the default policy with every timeout turned off: the layers'
// own cost, without the timers.
var off = transport.Policy{AttemptTimeout: transport.NoTimeout, Timeout: transport.NoTimeout, BodyIdleTimeout: transport.NoTimeout}

// routesWith is partnerRoutes with every policy p.
func routesWith(p transport.Policy) transport.Config {
	cfg := transport.Config{Default: p, Endpoints: map[string]transport.Policy{}}
	for pattern := range partnerRoutes.Endpoints {
		cfg.Endpoints[pattern] = p
	}
	return cfg
}

func mustStack(b *testing.B, cfg transport.Config) http.RoundTripper {
	return mustStackOver(b, canned{}, cfg)
}

func mustStackOver(b *testing.B, base http.RoundTripper, cfg transport.Config) http.RoundTripper {
	s, err := transport.NewStack(base, cfg)
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
		{"stack", mustStack(b, transport.Config{Default: off})},
		{"stack+attempt-timeout", mustStack(b, transport.Config{Default: transport.Policy{AttemptTimeout: time.Second, Timeout: transport.NoTimeout, BodyIdleTimeout: transport.NoTimeout}})},
		{"stack+total-timeout", mustStack(b, transport.Config{Default: transport.Policy{AttemptTimeout: transport.NoTimeout, Timeout: time.Minute, BodyIdleTimeout: transport.NoTimeout}})},
		{"stack+defaults", mustStack(b, transport.Config{})},
		{"stack+routes", mustStack(b, routesWith(off))},
		{"stack+routes+defaults", mustStack(b, partnerRoutes)},
		{"bare+body", cannedBody{}},
		{"stack+body", mustStackOver(b, cannedBody{}, transport.Config{Default: off})},
		{"stack+defaults+body", mustStackOver(b, cannedBody{}, transport.Config{})},
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
