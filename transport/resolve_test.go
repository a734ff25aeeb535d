package transport

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/retry"
)

// TestResolveImplies guards issue 12 items 2 and 7: every bound comes back
// explicit, the defaults move within the values set, and a resolved policy
// resolves to itself.
func TestResolveImplies(t *testing.T) {
	const s, m = time.Second, time.Minute
	type bounds struct{ retryAfter, elapsed, total, attempt, bodyIdle time.Duration }
	withRetry := func(retryAfter, elapsed, total time.Duration) Policy {
		return Policy{Retry: retry.Policy{MaxRetryAfter: retryAfter, MaxElapsed: elapsed}, Timeout: total}
	}
	tests := []struct {
		name string
		p    Policy
		want bounds
	}{
		{"zero", Policy{}, bounds{30 * s, 30 * s, 30 * s, 10 * s, m}},
		{"retry-after raises the rest", withRetry(60*s, 0, 0), bounds{60 * s, 60 * s, 60 * s, 10 * s, m}},
		{"timeout lowers the rest", withRetry(0, 0, 10*s), bounds{10 * s, 10 * s, 10 * s, 10 * s, m}},
		{"no timeout", withRetry(0, 0, NoTimeout), bounds{30 * s, 30 * s, NoTimeout, 10 * s, m}},
		{"no timeout, long retry-after", withRetry(2*m, 0, NoTimeout), bounds{2 * m, 2 * m, NoTimeout, 10 * s, m}},
		{"short elapsed lowers retry-after", withRetry(0, 5*s, 0), bounds{5 * s, 5 * s, 30 * s, 10 * s, m}},
		{"long elapsed raises timeout", withRetry(0, 2*m, 0), bounds{30 * s, 2 * m, 2 * m, 10 * s, m}},
		{"elapsed between the set ones", withRetry(10*s, 0, 20*s), bounds{10 * s, 20 * s, 20 * s, 10 * s, m}},
		{"elapsed default fits", withRetry(10*s, 0, 5*m), bounds{10 * s, 30 * s, 5 * m, 10 * s, m}},
		{"equal bounds", withRetry(10*s, 10*s, 10*s), bounds{10 * s, 10 * s, 10 * s, 10 * s, m}},
		{"negative timeouts are NoTimeout", Policy{Timeout: -5 * s, AttemptTimeout: -1, BodyIdleTimeout: -m},
			bounds{30 * s, 30 * s, NoTimeout, NoTimeout, NoTimeout}},
		{"negative retry bounds are unset", withRetry(-s, -s, 0), bounds{30 * s, 30 * s, 30 * s, 10 * s, m}},
		{"set timeouts kept", Policy{AttemptTimeout: 3 * s, BodyIdleTimeout: 4 * s}, bounds{30 * s, 30 * s, 30 * s, 3 * s, 4 * s}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.p.resolve("default")
			if err != nil {
				t.Fatalf("resolve() error = %v", err)
			}
			got := bounds{p.Retry.MaxRetryAfter, p.Retry.MaxElapsed, p.Timeout, p.AttemptTimeout, p.BodyIdleTimeout}
			if got != tc.want {
				t.Errorf("resolve() = %+v, want %+v", got, tc.want)
			}
			again, err := p.resolve("default")
			if err != nil {
				t.Fatalf("resolve() again error = %v", err)
			}
			if g := (bounds{again.Retry.MaxRetryAfter, again.Retry.MaxElapsed, again.Timeout, again.AttemptTimeout, again.BodyIdleTimeout}); g != got {
				t.Errorf("resolve() again = %+v, want %+v", g, got)
			}
		})
	}
}

// TestResolveConflicts guards issue 12 item 7 for Configs built in code:
// two set bounds out of order are an error naming both.
func TestResolveConflicts(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name                    string
		retryAfter, elapsed, to time.Duration
		field, msg              string
	}{
		{"retry-after over elapsed", 60 * s, 30 * s, 0, `endpoints["POST /x"].retry.max_retry_after`,
			`1m0s exceeds endpoints["POST /x"].retry.max_elapsed (30s): the longest Retry-After honoured must fit in the time retries may take`},
		{"elapsed over timeout", 0, 60 * s, 30 * s, `endpoints["POST /x"].retry.max_elapsed`,
			`1m0s exceeds endpoints["POST /x"].timeout (30s): the time retries may take must fit in the total timeout`},
		{"retry-after over timeout", 60 * s, 0, 30 * s, `endpoints["POST /x"].retry.max_retry_after`,
			`1m0s exceeds endpoints["POST /x"].timeout (30s)`},
		{"all three", 60 * s, 90 * s, 80 * s, `endpoints["POST /x"].retry.max_elapsed`, `1m30s exceeds endpoints["POST /x"].timeout (1m20s)`},
		{"just over", 30*s + 1, 30 * s, 0, `endpoints["POST /x"].retry.max_retry_after`, "30.000000001s exceeds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Policy{Retry: retry.Policy{MaxRetryAfter: tc.retryAfter, MaxElapsed: tc.elapsed}, Timeout: tc.to}
			_, err := p.resolve(`endpoints["POST /x"]`)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("resolve() error = %v, want a *ConfigError", err)
			}
			if ce.Field != tc.field || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("resolve() error = %q (field %q), want field %q and %q", err, ce.Field, tc.field, tc.msg)
			}
		})
	}
	// No timeout bounds nothing: any retry bounds fit.
	p := Policy{Retry: retry.Policy{MaxRetryAfter: time.Hour, MaxElapsed: 2 * time.Hour}, Timeout: NoTimeout}
	if _, err := p.resolve("default"); err != nil {
		t.Errorf("resolve(no timeout) error = %v", err)
	}
}

// TestRouteRedirectIsNoMatch guards issue 12 item 10: a request ServeMux
// would redirect to another path is no match for the pattern of that
// path; one it would only clean gets the cleaned path's pattern.
func TestRouteRedirectIsNoMatch(t *testing.T) {
	var attempts atomic.Int32
	stub := RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		attempts.Add(1)
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	})
	s, err := NewStack(stub, Config{
		Default: Policy{Retry: retry.Policy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}},
		Endpoints: map[string]Policy{
			"/v1/exports/":          {NoRetry: true},
			"POST /v1/enhancements": {NoRetry: true},
			"GET /v1/jobs/{id}":     {NoRetry: true},
			"GET api.test/{$}":      {NoRetry: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ method, url, want string }{
		{"POST", "http://api.test/v1/exports", ""}, // → /v1/exports/
		{"GET", "http://api.test/v1/exports", ""},
		{"GET", "http://api.test/v1/exports?page=2", ""},
		{"GET", "http://api.test/v1/exports/", "/v1/exports/"},
		{"GET", "http://api.test/v1/exports/x", "/v1/exports/"},
		{"GET", "http://api.test/v1//exports", ""}, // cleaned, then → /v1/exports/
		{"GET", "http://api.test/v1//exports/x", "/v1/exports/"},
		{"GET", "http://api.test/v1//jobs/x", "GET /v1/jobs/{id}"},
		{"GET", "http://api.test/v1/jobs/./x", "GET /v1/jobs/{id}"},
		{"GET", "http://api.test/v1/x/../jobs/x", "GET /v1/jobs/{id}"},
		{"GET", "http://api.test/v1//jobs/a%2Fb", "GET /v1/jobs/{id}"}, // %2F stays in its segment
		{"GET", "http://api.test/v1/jobs/a/b", ""},
		{"POST", "http://api.test/v1//enhancements", "POST /v1/enhancements"},
		{"POST", "http://api.test/v1/enhancements/", ""},
		{"GET", "http://api.test", "GET api.test/{$}"}, // sent as "/"
		{"GET", "http://api.test/", "GET api.test/{$}"},
		{"GET", "http://other.test/", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.url, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // the second answer comes from the route cache
				if got := s.Pattern(req); got != tc.want {
					t.Errorf("Pattern() = %q, want %q", got, tc.want)
				}
			}
		})
	}

	// RoundTrip follows Pattern: the redirected request gets the default
	// policy's retries, not the exports' none.
	for _, tc := range []struct {
		url      string
		attempts int32
	}{{"http://api.test/v1/exports", 3}, {"http://api.test/v1/exports/x", 1}} {
		attempts.Store(0)
		req, _ := http.NewRequest(http.MethodPost, tc.url, nil)
		resp, err := s.RoundTrip(req)
		if err != nil {
			t.Fatalf("RoundTrip(%s) error = %v", tc.url, err)
		}
		resp.Body.Close()
		if got := attempts.Load(); got != tc.attempts {
			t.Errorf("RoundTrip(POST %s) attempts = %d, want %d", tc.url, got, tc.attempts)
		}
	}
}

// TestRouteHostAnyCase: a host names the same server in any case (RFC
// 3986 §3.2.2), as pacing, credits and limit key it, so a request to
// API.Example.com gets the "api.example.com/..." endpoint's policy, not
// a host-less pattern's or the default's; a pattern whose host is not in
// lower case, which could then never match, is rejected.
func TestRouteHostAnyCase(t *testing.T) {
	var attempts atomic.Int32
	stub := RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		attempts.Add(1)
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Body: http.NoBody, Request: r}, nil
	})
	s, err := NewStack(stub, Config{
		Default: Policy{Retry: retry.Policy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}},
		Endpoints: map[string]Policy{
			"GET api.example.com/v1/jobs/{id}": {NoRetry: true},
			"GET /v1/jobs/{id}":                {},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{"https://API.Example.COM/v1/jobs/1", "https://api.EXAMPLE.com:8443/v1/jobs/1"} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for range 2 { // the second answer comes from the route cache
			if got, want := s.Pattern(req), "GET api.example.com/v1/jobs/{id}"; got != want {
				t.Errorf("Pattern(%s) = %q, want %q", url, got, want)
			}
		}
		host, reqHost := req.URL.Host, req.Host
		attempts.Store(0)
		resp, err := s.RoundTrip(req)
		if err != nil {
			t.Fatalf("RoundTrip(%s) error = %v", url, err)
		}
		resp.Body.Close()
		if got := attempts.Load(); got != 1 {
			t.Errorf("RoundTrip(%s) attempts = %d, want 1 (the host's endpoint retries nothing)", url, got)
		}
		if req.URL.Host != host || req.Host != reqHost {
			t.Errorf("RoundTrip changed the caller's request: URL.Host %q, Host %q", req.URL.Host, req.Host)
		}
	}

	for _, pattern := range []string{"GET API.example.com/v1/", "Api.Example.com/"} {
		_, err := NewStack(stub, Config{Endpoints: map[string]Policy{pattern: {}}})
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "lower case") {
			t.Errorf("NewStack(%q) error = %v, want a *ConfigError asking for lower case", pattern, err)
		}
		if _, err := ParseConfig([]byte(`{"endpoints": {"` + pattern + `": {}}}`)); !errors.As(err, &ce) {
			t.Errorf("ParseConfig(%q) error = %v, want a *ConfigError", pattern, err)
		}
	}
}

// TestNewStackBadPatternIsConfigError: NewStack fails with a *ConfigError
// naming the endpoint, as its doc says, for a pattern ServeMux rejects, two
// that conflict, and a host with a port, as ParseConfig does.
func TestNewStackBadPatternIsConfigError(t *testing.T) {
	for _, tc := range []struct {
		name      string
		endpoints map[string]Policy
		field     string
	}{
		{"rejected", map[string]Policy{"GET /x/{": {}}, `endpoints["GET /x/{"]`},
		{"conflicting", map[string]Policy{"GET /x/{id}": {}, "GET /x/{name}": {}}, `endpoints["GET /x/{name}"]`},
		{"host with a port", map[string]Policy{"GET h.test:80/x": {}}, `endpoints["GET h.test:80/x"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewStack(okStub{}, Config{Endpoints: tc.endpoints})
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("NewStack() error = %v (%T), want a *ConfigError for %s", err, err, tc.field)
			}
			if strings.Count(err.Error(), "transport:") != 1 {
				t.Errorf("NewStack() error = %q, want one \"transport:\" prefix", err)
			}
		})
	}
}
