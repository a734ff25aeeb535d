package transport

// Issue 14 items 5 and 6, and the pacing layer, through the whole stack:
// refusals answered as a marked 503, routing by header, unmatched
// patterns, and one set of throttle windows per pacing policy.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/pacing"
	"github.com/resilient-http/resilient/transport/retry"
	"github.com/resilient-http/resilient/transport/tracing"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// scripted answers each request with what answer returns for its path,
// recording the paths sent.
type scripted struct {
	mu     sync.Mutex
	sent   []string
	answer func(r *http.Request) (int, http.Header)
}

func (s *scripted) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.sent = append(s.sent, r.URL.Path)
	s.mu.Unlock()
	code, h := http.StatusOK, http.Header{}
	if s.answer != nil {
		code, h = s.answer(r)
	}
	return &http.Response{StatusCode: code, Header: h, Body: http.NoBody, Request: r}, nil
}

func (s *scripted) paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// throttledJobs answers 429 with Retry-After: 5 for the paths under
// /v1/jobs/, 200 for the others.
func throttledJobs(r *http.Request) (int, http.Header) {
	if strings.HasPrefix(r.URL.Path, "/v1/jobs/") {
		return http.StatusTooManyRequests, http.Header{"Retry-After": {"5"}}
	}
	return http.StatusOK, http.Header{}
}

// get sends a GET of url through rt, closing any body.
func get(t *testing.T, rt http.RoundTripper, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

// TestPacingSharedAcrossEndpoints guards the pacing layer's wiring: every
// policy with the same pacing shares one set of windows (a 429 on
// /v1/jobs holds /v1/exports back, by host), an endpoint with pacing of
// its own or NoPacing does not, and a request that would wait longer than
// MaxWait is refused, unsent, with a pacing.Error. Mutation caught: one
// pacing middleware per endpoint (exports is sent), pacing placed above
// retry or off by default.
func TestPacingSharedAcrossEndpoints(t *testing.T) {
	base := &scripted{answer: throttledJobs}
	one := retry.Policy{MaxAttempts: 1}
	s, err := NewStack(base, Config{
		Default: Policy{Retry: one, Pacing: pacing.Policy{MaxWait: 50 * time.Millisecond}},
		Endpoints: map[string]Policy{
			"GET /v1/jobs/{id}": {Retry: one},                                                        // zero Pacing: the default's
			"/v1/exports/":      {Retry: one, Pacing: pacing.Policy{MaxWait: 50 * time.Millisecond}}, // equal: shared
			"/v1/own/":          {Retry: one, Pacing: pacing.Policy{MaxWait: 40 * time.Millisecond}}, // its own windows
			"/v1/unpaced/":      {Retry: one, NoPacing: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := get(t, s, "https://api.test/v1/jobs/1"); err != nil || resp.StatusCode != 429 {
		t.Fatalf("first request: %v, %v; want the 429", resp, err)
	}
	for _, path := range []string{"/v1/jobs/2", "/v1/exports/a", "/other"} {
		_, err := get(t, s, "https://api.test"+path)
		var pe *pacing.Error
		if !errors.As(err, &pe) || !errors.Is(err, pacing.ErrThrottled) || pe.Key != "https://api.test" {
			t.Errorf("GET %s after a 429 on /v1/jobs: error = %v, want a pacing.Error for https://api.test", path, err)
		}
	}
	for _, path := range []string{"/v1/own/a", "/v1/unpaced/a"} {
		if _, err := get(t, s, "https://api.test"+path); err != nil {
			t.Errorf("GET %s: %v, want it sent (pacing of its own, or none)", path, err)
		}
	}
	if got, want := base.paths(), []string{"/v1/jobs/1", "/v1/own/a", "/v1/unpaced/a"}; !slices.Equal(got, want) {
		t.Errorf("sent %v, want %v", got, want)
	}
}

// TestPacingZeroSharesDefaultWithHooks: an endpoint whose Pacing is zero
// shares the default policy's windows even when the default's pacing has
// hooks of its own (which make it unique), and the hook hears refusals of
// both. Mutation caught: the endpoint built a pacer of its own from the
// default's settings.
func TestPacingZeroSharesDefaultWithHooks(t *testing.T) {
	base := &scripted{answer: throttledJobs}
	var refused []string
	one := retry.Policy{MaxAttempts: 1}
	s, err := NewStack(base, Config{
		Default: Policy{Retry: one, Pacing: pacing.Policy{MaxWait: time.Millisecond,
			OnRefuse: func(_ context.Context, key string, _ time.Duration) { refused = append(refused, key) }}},
		Endpoints: map[string]Policy{"GET /v1/jobs/{id}": {Retry: one}},
	})
	if err != nil {
		t.Fatal(err)
	}
	get(t, s, "https://api.test/v1/jobs/1")
	for _, path := range []string{"/other", "/v1/jobs/2"} {
		if _, err := get(t, s, "https://api.test"+path); !errors.Is(err, pacing.ErrThrottled) {
			t.Errorf("GET %s: %v, want throttled", path, err)
		}
	}
	if len(refused) != 2 {
		t.Errorf("the default's OnRefuse heard %v, want two refusals", refused)
	}
}

// TestPacingRouteScopeUsesPattern guards the Route the stack gives pacing:
// under ScopeRoute a window covers an endpoint's pattern, every job id
// alike, and no other endpoint. Mutation caught: no Route (the window is
// /v1/jobs/1's path alone).
func TestPacingRouteScopeUsesPattern(t *testing.T) {
	base := &scripted{answer: throttledJobs}
	p := Policy{Retry: retry.Policy{MaxAttempts: 1}, Pacing: pacing.Policy{Scope: pacing.ScopeRoute, MaxWait: time.Millisecond}}
	s, err := NewStack(base, Config{Default: p, Endpoints: map[string]Policy{"GET /v1/jobs/{id}": p, "/v1/exports/": p}})
	if err != nil {
		t.Fatal(err)
	}
	get(t, s, "https://api.test/v1/jobs/1")
	_, err = get(t, s, "https://api.test/v1/jobs/2")
	var pe *pacing.Error
	if !errors.As(err, &pe) || pe.Key != "https://api.test/v1/jobs/{id}" {
		t.Errorf("GET /v1/jobs/2 error = %v, want refused for the key https://api.test/v1/jobs/{id}", err)
	}
	if _, err := get(t, s, "https://api.test/v1/exports/a"); err != nil {
		t.Errorf("GET /v1/exports/a: %v, want it sent (another route)", err)
	}
}

// TestPacingTraced guards the hooks the stack gives pacing: a wait and a
// refusal are events on the attempt's span and metrics, and the policy's
// own OnWait and OnRefuse still hear them. Mutation caught: hooks not
// wired, or the user's replaced.
func TestPacingTraced(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	var mu sync.Mutex
	var heard []string
	hear := func(what string) func(context.Context, string, time.Duration) {
		return func(_ context.Context, key string, _ time.Duration) {
			mu.Lock()
			heard = append(heard, what+" "+key)
			mu.Unlock()
		}
	}
	// Rate 50/s, burst 1: /v1/jobs/1, sent right after /a, waits about
	// 20ms for a token; its 429 opens a 5s window, longer than MaxWait, so
	// /c is refused.
	base := &scripted{answer: throttledJobs}
	s, err := NewStack(base, Config{
		Default: Policy{Retry: retry.Policy{MaxAttempts: 1}, Pacing: pacing.Policy{
			Rate: 50, Burst: 1, MaxWait: 100 * time.Millisecond, OnWait: hear("wait"), OnRefuse: hear("refuse")}},
		Tracing: tracing.Config{TracerProvider: tp, MeterProvider: mp},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/a", "/v1/jobs/1", "/c"} {
		get(t, s, "https://api.test"+path)
	}
	mu.Lock()
	if want := []string{"wait https://api.test", "refuse https://api.test"}; !slices.Equal(heard, want) {
		t.Errorf("the policy's hooks heard %v, want %v", heard, want)
	}
	mu.Unlock()

	events := map[string]int{}
	for _, sp := range spans.Ended() {
		for _, e := range sp.Events() {
			if strings.HasPrefix(e.Name, "pacing.") {
				events[e.Name]++
				if sp.SpanKind().String() != "client" {
					t.Errorf("%s on a %s span, want the attempt's (client) span", e.Name, sp.SpanKind())
				}
			}
		}
	}
	if events["pacing.wait"] != 1 || events["pacing.refused"] != 1 {
		t.Errorf("span events = %v, want 1 pacing.wait and 1 pacing.refused", events)
	}
	waits, refusals := waitsAndRefusals(t, reader, "pacing", "https://api.test")
	if waits != 1 || refusals != 1 {
		t.Errorf("resilient.pacing.wait.duration count = %d, resilient.pacing.refusals = %d; want 1 and 1", waits, refusals)
	}
}

// TestRefusalsAs503 guards issue 14 item 5 through NewClient: with the
// option, an open breaker's refusal comes back as a 503 with Retry-After
// (rounded up), the marker naming the layer and a JSON detail, nothing
// sent; a stack above it neither retries it nor counts it as a server
// fault; without the option it is an error. Mutations caught: the
// synthetic response made inside the layers (the breaker or retry would
// see a 503), the marker not recognised by errclass (the outer stack
// retries and trips), Retry-After rounded down.
func TestRefusalsAs503(t *testing.T) {
	base := &scripted{answer: func(*http.Request) (int, http.Header) { return http.StatusInternalServerError, http.Header{} }}
	inner := func(as503 bool) *http.Client {
		c, err := NewClient(&http.Client{Transport: base}, Config{Default: Policy{
			Retry:         retry.Policy{MaxAttempts: 1},
			Breaker:       breaker.Policy{ConsecutiveFailures: 1, OpenTimeout: 2500 * time.Millisecond},
			RefusalsAs503: as503,
		}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := inner(true)
	if resp, err := get(t, c.Transport, "https://api.test/v1/jobs/1"); err != nil || resp.StatusCode != 500 {
		t.Fatalf("first request: %v, %v; want the server's 500", resp, err)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://api.test/v1/jobs/1", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("refused request: error %v, want a 503", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var detail struct{ Detail string }
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "3" || resp.Header.Get(errclass.RefusedHeader) != "breaker" ||
		resp.Header.Get("Content-Type") != "application/json" || resp.Request != req {
		t.Errorf("refusal answered %d %v (Request %p, want %p); want 503, Retry-After 3, %s: breaker, JSON",
			resp.StatusCode, resp.Header, resp.Request, req, errclass.RefusedHeader)
	}
	if json.Unmarshal(body, &detail) != nil || !strings.Contains(detail.Detail, "breaker: circuit for https://api.test is open") {
		t.Errorf("body = %s, want {\"detail\": the breaker's error}", body)
	}
	if n := len(base.paths()); n != 1 {
		t.Errorf("%d requests sent, want 1 (the refusal sends nothing)", n)
	}

	// A stack above: the marked 503 is a refusal to it, not retried, no
	// server fault for its breaker, which trips on one.
	var seen int
	outer, err := NewStack(RoundTripperFunc(func(r *http.Request) (*http.Response, error) { seen++; return c.Transport.RoundTrip(r) }),
		Config{Default: Policy{
			Retry:   retry.Policy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxRetryAfter: 5 * time.Second},
			Breaker: breaker.Policy{ConsecutiveFailures: 1},
			// Its pacing would honour the 503's Retry-After, as an SDK
			// does, and hold the next requests back 3s: not under test.
			NoPacing: true,
		}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if resp, err := get(t, outer, "https://api.test/v1/jobs/1"); err != nil || resp.StatusCode != 503 {
			t.Fatalf("through the outer stack: %v, %v; want the marked 503", resp, err)
		}
	}
	if seen != 3 {
		t.Errorf("outer stack sent %d attempts for 3 requests, want 3 (a refusal is not retried)", seen)
	}
	if st := outer.States(); st["https://api.test"] != breaker.StateClosed {
		t.Errorf("outer breaker states = %v, want closed (a refusal is no server fault)", st)
	}

	// Without the option: an error that errors.Is matches.
	c = inner(false)
	get(t, c.Transport, "https://api.other/x")
	if _, err := get(t, c.Transport, "https://api.other/x"); !errors.Is(err, breaker.ErrOpen) {
		t.Errorf("refusal without RefusalsAs503: error = %v, want breaker.ErrOpen", err)
	}
}

// TestRefusalsAs503Pacing: a pacing refusal is marked "pacing", and a
// caller's cancelled context stays an error even with the option.
func TestRefusalsAs503Pacing(t *testing.T) {
	base := &scripted{answer: throttledJobs}
	s, err := NewStack(base, Config{Default: Policy{Retry: retry.Policy{MaxAttempts: 1}, RefusalsAs503: true,
		Pacing: pacing.Policy{MaxWait: time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	get(t, s, "https://api.test/v1/jobs/1")
	resp, err := get(t, s, "https://api.test/v1/jobs/2")
	if err != nil || resp.StatusCode != 503 || resp.Header.Get(errclass.RefusedHeader) != "pacing" || resp.Header.Get("Retry-After") != "5" {
		t.Errorf("paced request: %v, %v; want a 503 marked pacing with Retry-After 5", resp, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://api.test/v1/jobs/3", nil)
	if resp, err := s.RoundTrip(req); err == nil {
		resp.Body.Close()
		t.Errorf("cancelled request: %d, want the context's error", resp.StatusCode)
	}
}

// TestRouteHeader guards issue 14 item 6: endpoints named by a header's
// value get their own policies (AWS JSON protocol: every operation is
// POST /), other requests fall back to the patterns, Route replaces the
// header, and spans are named after the operation. Mutation caught: the
// header ignored (every operation gets "POST /").
func TestRouteHeader(t *testing.T) {
	base := &scripted{answer: func(*http.Request) (int, http.Header) { return http.StatusServiceUnavailable, http.Header{} }}
	fast := retry.Policy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
	cfg := Config{
		RouteHeader: "x-amz-target",
		Default:     Policy{Retry: fast, NoBreaker: true},
		Endpoints: map[string]Policy{
			"DynamoDB_20120810.PutItem": {NoRetry: true, NoBreaker: true},
			"POST /":                    {Retry: retry.Policy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}, NoBreaker: true},
		},
	}
	s, err := NewStack(base, cfg)
	if err != nil {
		t.Fatal(err)
	}
	post := func(s *Stack, target string) (string, int) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "https://dynamodb.test/", strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", target)
		before := len(base.paths())
		pattern := s.Pattern(req)
		resp, err := s.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return pattern, len(base.paths()) - before
	}
	for _, tc := range []struct {
		target, pattern string
		attempts        int
	}{
		{"DynamoDB_20120810.PutItem", "DynamoDB_20120810.PutItem", 1},
		{"DynamoDB_20120810.GetItem", "POST /", 2}, // no endpoint of that name: the patterns
		{"", "POST /", 2},
	} {
		if pattern, n := post(s, tc.target); pattern != tc.pattern || n != tc.attempts {
			t.Errorf("X-Amz-Target %q: Pattern %q, %d attempts; want %q, %d", tc.target, pattern, n, tc.pattern, tc.attempts)
		}
	}

	// A header map set directly keeps its name's case, and net/http sends
	// it so: the stack routes by it too.
	req, _ := http.NewRequest(http.MethodPost, "https://dynamodb.test/", strings.NewReader("{}"))
	req.Header["x-amz-target"] = []string{"DynamoDB_20120810.PutItem"}
	if pattern := s.Pattern(req); pattern != "DynamoDB_20120810.PutItem" {
		t.Errorf("header set as x-amz-target: Pattern %q, want the PutItem endpoint", pattern)
	}

	cfg.Route = func(r *http.Request) string { return strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "v2:") }
	if s, err = NewStack(base, cfg); err != nil {
		t.Fatal(err)
	}
	if pattern, n := post(s, "v2:DynamoDB_20120810.PutItem"); pattern != "DynamoDB_20120810.PutItem" || n != 1 {
		t.Errorf("Route: Pattern %q, %d attempts; want the PutItem endpoint, 1", pattern, n)
	}

	// A span named after the operation, with no url.template.
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	cfg.Route, cfg.Tracing = nil, tracing.Config{TracerProvider: tp}
	if s, err = NewStack(base, cfg); err != nil {
		t.Fatal(err)
	}
	post(s, "DynamoDB_20120810.PutItem")
	for _, sp := range spans.Ended() {
		if sp.Name() != "POST DynamoDB_20120810.PutItem" {
			t.Errorf("span name = %q, want \"POST DynamoDB_20120810.PutItem\"", sp.Name())
		}
		for _, a := range sp.Attributes() {
			if a.Key == "url.template" {
				t.Errorf("span %q has url.template %q, want none for an operation name", sp.Name(), a.Value.AsString())
			}
		}
	}

	// A name with nothing to route by can never match.
	_, err = NewStack(base, Config{Endpoints: map[string]Policy{"DynamoDB_20120810.PutItem": {}}})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != `endpoints["DynamoDB_20120810.PutItem"]` {
		t.Errorf("NewStack(a name, no RouteHeader) error = %v, want a *ConfigError for the endpoint", err)
	}
	if _, err := NewStack(base, Config{RouteHeader: "X Target"}); err == nil {
		t.Error(`NewStack(RouteHeader "X Target") succeeded, want an error`)
	}
}

// TestUnmatchedPatterns guards issue 14 item 6: a pattern no request has
// matched is listed (the GitHub Enterprise case: every path starts with
// /api/v3, so "/repos/..." never matches and its requests silently get
// the default policy); Pattern, for logs, does not count as a match.
// Mutations caught: the flag never set, or set by Pattern.
func TestUnmatchedPatterns(t *testing.T) {
	s, err := NewStack(&scripted{}, Config{Endpoints: map[string]Policy{
		"GET /repos/{owner}/{repo}/issues": {},
		"POST /repos/{owner}/{repo}/pulls": {},
		"GET /api/v3/user":                 {},
	}})
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"GET /api/v3/user", "GET /repos/{owner}/{repo}/issues", "POST /repos/{owner}/{repo}/pulls"}
	if got := s.UnmatchedPatterns(); !slices.Equal(got, all) {
		t.Errorf("UnmatchedPatterns() before any request = %v, want %v", got, all)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://ghe.example.com/api/v3/repos/o/r/issues", nil)
	if p := s.Pattern(req); p != "" {
		t.Errorf("Pattern(/api/v3/repos/o/r/issues) = %q, want \"\" (the default policy)", p)
	}
	if got := s.UnmatchedPatterns(); !slices.Equal(got, all) {
		t.Errorf("UnmatchedPatterns() after Pattern alone = %v, want %v", got, all)
	}
	for _, path := range []string{"/api/v3/repos/o/r/issues", "/api/v3/user", "/api/v3/user"} {
		get(t, s, "https://ghe.example.com"+path)
	}
	if got, want := s.UnmatchedPatterns(), all[1:]; !slices.Equal(got, want) {
		t.Errorf("UnmatchedPatterns() = %v, want %v", got, want)
	}
	var zero Stack
	if got := zero.UnmatchedPatterns(); got != nil {
		t.Errorf("zero Stack: UnmatchedPatterns() = %v, want nil", got)
	}
}

// TestRoutedSuccessPathDoesNotAllocate: routing by header and marking a
// pattern used cost no allocation, pacing on (the default).
func TestRoutedSuccessPathDoesNotAllocate(t *testing.T) {
	p := noTimeouts(Policy{})
	s, err := NewStack(okStub{}, Config{RouteHeader: "X-Amz-Target", Default: p,
		Endpoints: map[string]Policy{"DynamoDB_20120810.GetItem": p, "GET /v1/jobs/{id}": p}})
	if err != nil {
		t.Fatal(err)
	}
	named, _ := http.NewRequest("POST", "http://127.0.0.1/", nil)
	named.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
	pattern, _ := http.NewRequest("GET", "http://127.0.0.1/v1/jobs/1", nil)
	for _, req := range []*http.Request{named, pattern} {
		if n := testing.AllocsPerRun(200, func() { s.RoundTrip(req) }); n != 0 {
			t.Errorf("%s %s: allocations per request = %v, want 0", req.Method, req.URL.Path, n)
		}
	}
	if got := s.UnmatchedPatterns(); len(got) != 0 {
		t.Errorf("UnmatchedPatterns() = %v, want none", got)
	}
}
