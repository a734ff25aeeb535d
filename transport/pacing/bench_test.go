package pacing

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// stub answers every request with one shared response, allocating nothing.
type stub struct{ resp *http.Response }

func (s stub) RoundTrip(*http.Request) (*http.Response, error) { return s.resp, nil }

func okResponse(rateLimit bool) *http.Response {
	h := http.Header{}
	if rateLimit {
		h.Set("RateLimit-Policy", `"default";q=100;w=60`)
		h.Set("RateLimit", `"default";r=57;t=30`)
		h.Set("X-RateLimit-Limit", "100")
		h.Set("X-RateLimit-Remaining", "57")
		h.Set("X-RateLimit-Reset", "30")
	}
	return &http.Response{StatusCode: 200, Header: h, Body: http.NoBody}
}

// With no window open and no rate set, a request through the layer
// allocates nothing, whether or not responses carry RateLimit headers, and
// a window that has ended stops costing. Mutation: computing the key on
// the success path allocates.
func TestSuccessPathAllocs(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "https://api.example.com/v1/items", nil)
	for _, rl := range []bool{false, true} {
		pt := New(stub{okResponse(rl)}, Policy{})
		if n := testing.AllocsPerRun(200, func() { pt.RoundTrip(req) }); n != 0 {
			t.Errorf("RateLimit headers %v: %v allocations per request, want 0", rl, n)
		}
	}

	// An ended window: the first request after it resets the layer to idle.
	pt := New(stub{okResponse(false)}, Policy{})
	pt.s.open("https://api.example.com", 1) // ended in 1970
	pt.RoundTrip(req)
	if pt.s.latest.Load() != 0 || !pt.s.idle() {
		t.Errorf("after an ended window: latest = %d, want 0 (idle)", pt.s.latest.Load())
	}
	if n := testing.AllocsPerRun(200, func() { pt.RoundTrip(req) }); n != 0 {
		t.Errorf("after an ended window: %v allocations per request, want 0", n)
	}
}

// BenchmarkRoundTrip compares a request sent straight to a stub ("base")
// with one through the layer, with and without RateLimit headers on the
// responses (quota left, so no window opens), and through a layer with a
// configured rate too high to wait for.
func BenchmarkRoundTrip(b *testing.B) {
	req := httptest.NewRequest(http.MethodGet, "https://api.example.com/v1/items", nil)
	cases := []struct {
		name string
		rt   http.RoundTripper
	}{
		{"base", stub{okResponse(false)}},
		{"paced", New(stub{okResponse(false)}, Policy{})},
		{"base/ratelimit-headers", stub{okResponse(true)}},
		{"paced/ratelimit-headers", New(stub{okResponse(true)}, Policy{})},
		{"paced/rate", New(stub{okResponse(false)}, Policy{Rate: 1e9, Burst: 1 << 20})},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.rt.RoundTrip(req)
			}
		})
	}
}
