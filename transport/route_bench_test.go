package transport

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func BenchmarkPattern(b *testing.B) {
	s, err := NewStack(nil, Config{Endpoints: map[string]Policy{
		"POST /v1/enhancements":     {},
		"GET /v1/jobs/{id}":         {},
		"GET /v1/jobs/{id}/results": {},
		"POST /v1/lists":            {},
		"DELETE /v1/lists/{id}":     {},
		"/v1/exports/":              {},
	}})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, method, url string }{
		{"wildcard", "GET", "http://127.0.0.1/v1/jobs/1"},
		{"exact", "POST", "http://127.0.0.1/v1/lists"},
		{"method-mismatch", "GET", "http://127.0.0.1/v1/lists"},
		{"no-match", "GET", "http://127.0.0.1/health"},
	} {
		req := httptest.NewRequest(c.method, c.url, nil)
		req.Host = ""
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Pattern(req)
			}
		})
	}
}

// BenchmarkPatternUncached routes requests that all miss the cache: a
// client that never calls the same URL twice.
func BenchmarkPatternUncached(b *testing.B) {
	s, err := NewStack(nil, Config{Endpoints: map[string]Policy{
		"GET /v1/jobs/{id}": {},
		"POST /v1/lists":    {},
	}})
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]*http.Request, 4*routeCacheSize)
	for i := range reqs {
		reqs[i] = httptest.NewRequest("GET", fmt.Sprintf("http://127.0.0.1/v1/jobs/%d", i), nil)
		reqs[i].Host = ""
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Pattern(reqs[i%len(reqs)])
		i++
	}
}
