package transport

// Issue 12's edges, through the whole stack and over real sockets where the
// fault is a network one: timeouts by default, stalled bodies, breaker
// counting as the fault matrix says, contract breakers below.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/apierror"
	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/credits"
	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/internal/faultserver"
	"github.com/resilient-http/resilient/transport/retry"
	"github.com/resilient-http/resilient/transport/tracing"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// noTimeouts turns every timeout of a policy off.
func noTimeouts(p Policy) Policy {
	p.AttemptTimeout, p.Timeout, p.BodyIdleTimeout = NoTimeout, NoTimeout, NoTimeout
	return p
}

// Item 2: the zero Config bounds attempts, requests and idle bodies with
// the documented defaults; NoTimeout turns each off; zero is never "off".
func TestTimeoutDefaults(t *testing.T) {
	s, err := NewStack(okStub{}, Config{Endpoints: map[string]Policy{
		"GET /off":  noTimeouts(Policy{}),
		"GET /mine": {AttemptTimeout: time.Second, Timeout: 2 * time.Minute, BodyIdleTimeout: 5 * time.Second},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		route                *route
		attempt, total, idle time.Duration
	}{
		{s.def, DefaultAttemptTimeout, DefaultTimeout, DefaultBodyIdleTimeout},
		{s.routes["GET /off"], NoTimeout, NoTimeout, NoTimeout},
		{s.routes["GET /mine"], time.Second, 2 * time.Minute, 5 * time.Second},
	} {
		p := tc.route.policy
		if p.AttemptTimeout != tc.attempt || p.Timeout != tc.total || p.BodyIdleTimeout != tc.idle {
			t.Errorf("effective timeouts = %v, %v, %v; want %v, %v, %v",
				p.AttemptTimeout, p.Timeout, p.BodyIdleTimeout, tc.attempt, tc.total, tc.idle)
		}
	}
	if DefaultAttemptTimeout != 10*time.Second || DefaultTimeout != 30*time.Second || DefaultBodyIdleTimeout != time.Minute {
		t.Errorf("documented defaults changed: %v, %v, %v", DefaultAttemptTimeout, DefaultTimeout, DefaultBodyIdleTimeout)
	}
}

// Item 2: with every timeout off the success path allocates nothing.
func TestNoTimeoutsSuccessPathDoesNotAllocate(t *testing.T) {
	s, err := NewStack(okStub{}, Config{Default: noTimeouts(Policy{})})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://127.0.0.1/v1/jobs/1", nil)
	if n := testing.AllocsPerRun(200, func() { s.RoundTrip(req) }); n != 0 {
		t.Errorf("allocations per request = %v, want 0", n)
	}
}

// Item 2: a silent server is cut by the total timeout even with no attempt
// timeout; the error says which bound fired.
func TestTotalTimeoutCutsSilentServer(t *testing.T) {
	srv := faultserver.New(t, faultserver.StallHeaders())
	p := noTimeouts(Policy{})
	p.Timeout = 100 * time.Millisecond
	c, err := NewClient(nil, Config{Default: p})
	if err != nil {
		t.Fatal(err)
	}
	var gerr error
	faultserver.Within(t, 5*time.Second, func() { _, gerr = c.Get(srv.URL) })
	if !errors.Is(gerr, ErrTimeout) || !errors.Is(gerr, context.DeadlineExceeded) {
		t.Errorf("error = %v, want ErrTimeout and DeadlineExceeded", gerr)
	}
}

// Item 2: the total timeout ends at the final headers: a body that takes
// longer than it to arrive, byte by byte, is read whole.
func TestTotalTimeoutDoesNotCutBody(t *testing.T) {
	srv := faultserver.New(t, faultserver.Drip(200, 8, 25*time.Millisecond)) // ~200 ms of body
	p := noTimeouts(Policy{})
	p.Timeout = 80 * time.Millisecond
	c, err := NewClient(nil, Config{Default: p})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || len(b) != 8 {
		t.Errorf("body = %d bytes, %v; want 8 bytes read whole", len(b), err)
	}
}

// Item 2 and fault matrix row 19: a body that stalls after the headers is
// cut by the body idle timeout (the read fails with ErrBodyIdleTimeout),
// and the breaker counts it as a failure: three in a row trip a breaker
// that opens after three consecutive failures.
func TestStalledBodyCutAndCounted(t *testing.T) {
	srv := faultserver.New(t, faultserver.Stall(200, 1000, 1))
	p := noTimeouts(Policy{})
	p.BodyIdleTimeout = 50 * time.Millisecond
	p.NoRetry = true
	p.Breaker = breaker.Policy{ConsecutiveFailures: 3, OpenTimeout: time.Hour}
	s, err := NewStack(nil, Config{Default: p})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: s}
	for i := range 3 {
		if st := s.States()[srv.URL]; i > 0 && st != breaker.StateClosed {
			t.Fatalf("breaker before cut body %d = %v, want closed", i+1, st)
		}
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		var rerr error
		faultserver.Within(t, 5*time.Second, func() { _, rerr = io.ReadAll(resp.Body) })
		resp.Body.Close()
		if !errors.Is(rerr, ErrBodyIdleTimeout) || !errors.Is(rerr, context.DeadlineExceeded) {
			t.Errorf("read error = %v, want ErrBodyIdleTimeout", rerr)
		}
	}
	if st := s.States()[srv.URL]; st != breaker.StateOpen {
		t.Errorf("breaker after three cut bodies = %v, want open", st)
	}
}

// A caller that is slow between reads is not the server's silence: the
// idle bound only runs while a Read waits.
func TestBodyIdleTimeoutIgnoresSlowCaller(t *testing.T) {
	srv := faultserver.New(t, faultserver.Reply(200, strings.Repeat("x", 10)))
	p := noTimeouts(Policy{})
	p.BodyIdleTimeout = 30 * time.Millisecond
	c, err := NewClient(nil, Config{Default: p})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.Sleep(60 * time.Millisecond) // the caller dawdles before reading
	if b, err := io.ReadAll(resp.Body); err != nil || len(b) != 10 {
		t.Errorf("body = %d bytes, %v; want 10 bytes", len(b), err)
	}
}

// Item 1, as the issue reproduced it: a 503 whose body stalls after one
// byte, then a 200. The discarded body must not hang the call.
func TestStalledErrorBodyDoesNotHang(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault http.Handler
	}{
		{"stall", faultserver.Stall(503, 1000, 1)},
		{"drip", faultserver.Drip(503, 1000, 100*time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := faultserver.New(t, faultserver.Script(tc.fault, faultserver.Reply(200, "ok")))
			c, err := NewClient(nil, Config{Default: Policy{AttemptTimeout: 200 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			var resp *http.Response
			faultserver.Within(t, 5*time.Second, func() { resp, err = c.Get(srv.URL) })
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || srv.Hits() != 2 {
				t.Errorf("status %d after %d hits, want 200 after 2", resp.StatusCode, srv.Hits())
			}
		})
	}
}

// Item 2: a half-open probe is bounded even with the attempt timeout off,
// and a cut probe is a failure: the breaker opens again.
func TestHalfOpenProbeBoundedThroughStack(t *testing.T) {
	srv := faultserver.New(t, faultserver.Script(faultserver.Status(500), faultserver.StallHeaders()))
	p := noTimeouts(Policy{NoRetry: true})
	p.Breaker = breaker.Policy{ConsecutiveFailures: 1, OpenTimeout: 20 * time.Millisecond, ProbeTimeout: 100 * time.Millisecond}
	s, err := NewStack(nil, Config{Default: p})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: s}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	time.Sleep(30 * time.Millisecond)
	faultserver.Within(t, 5*time.Second, func() { _, err = c.Get(srv.URL) })
	if !errors.Is(err, breaker.ErrProbeTimeout) {
		t.Errorf("probe error = %v, want ErrProbeTimeout", err)
	}
	if st := s.States()[srv.URL]; st != breaker.StateOpen {
		t.Errorf("breaker after a cut probe = %v, want open", st)
	}
}

// Fault matrix row 6: a POST that meets a keep-alive connection the server
// closed while it sat idle gets net/http's (unexported) idle-connection
// error. It says nothing of the server's health: the breaker does not
// count it (a GET would have been resent by net/http itself).
func TestStaleConnectionPostNotCounted(t *testing.T) {
	srv := faultserver.New(t, faultserver.Reply(200, "ok"))
	p := Policy{NoRetry: true, Breaker: breaker.Policy{ConsecutiveFailures: 1, OpenTimeout: time.Hour}}
	s, err := NewStack(nil, Config{Default: p})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: s}
	post := func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL, strings.NewReader(`{"a":1}`))
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return err
	}
	if err := post(context.Background()); err != nil {
		t.Fatal(err)
	}
	// When the client takes the idle connection for the next request, the
	// server closes it, and net/http notices before it writes.
	stale := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if info.Reused && srv.CloseIdle() > 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}})
	err = post(stale)
	if err == nil {
		t.Skip("net/http did not meet the stale connection this time; nothing to check")
	}
	if st := s.States()[srv.URL]; st != breaker.StateClosed {
		t.Errorf("breaker after a stale-connection error (%v) = %v, want closed", err, st)
	}
}

// okStub answers 200 with one shared, empty response, allocating nothing.
type okStub struct{}

var okStubResponse = &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}

func (okStub) RoundTrip(*http.Request) (*http.Response, error) { return okStubResponse, nil }

// nilNil breaks the RoundTripper contract: neither a response nor an error.
type nilNil struct{}

func (nilNil) RoundTrip(*http.Request) (*http.Response, error) { return nil, nil }

// Item 5: a RoundTripper below returning (nil, nil) gives the caller an
// error through every layer and timeout, recording tracing included; no
// panic.
func TestNilResponseNilErrorBelowStack(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(tracetest.NewInMemoryExporter())))
	defer tp.Shutdown(context.Background())
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"defaults", Config{}},
		{"no timeouts", Config{Default: noTimeouts(Policy{})}},
		{"recording", Config{Tracing: tracing.Config{TracerProvider: tp}}},
		{"bare layers", Config{Default: noTimeouts(Policy{NoRetry: true, NoBreaker: true, NoTracing: true})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(&http.Client{Transport: nilNil{}}, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Get("http://127.0.0.1:1/")
			if err == nil || resp != nil {
				t.Errorf("Get() = %v, %v; want an error", resp, err)
			}
		})
	}
}

// idleCounter counts CloseIdleConnections calls.
type idleCounter struct{ n int }

func (c *idleCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	return okStub{}.RoundTrip(r)
}
func (c *idleCounter) CloseIdleConnections() { c.n++ }

// Item 11: client.CloseIdleConnections reaches the base transport through
// the stack, with or without timeouts.
func TestCloseIdleConnectionsReachesBase(t *testing.T) {
	for _, p := range []Policy{{}, noTimeouts(Policy{})} {
		base := &idleCounter{}
		c, err := NewClient(&http.Client{Transport: base}, Config{Default: p})
		if err != nil {
			t.Fatal(err)
		}
		c.CloseIdleConnections()
		if base.n != 1 {
			t.Errorf("CloseIdleConnections reached the base %d times, want 1", base.n)
		}
	}
	// Each layer alone forwards it too.
	for name, mw := range map[string]Middleware{
		"retry":   retry.Middleware(retry.Policy{}),
		"breaker": breaker.Middleware(breaker.Policy{}),
		"attempt": tracing.New(tracing.Config{}).Attempt(),
		"request": tracing.New(tracing.Config{}).Request(),
		"timeout": attemptTimeout(time.Second, time.Second),
		"total":   totalTimeout(time.Second),
	} {
		base := &idleCounter{}
		(&http.Client{Transport: Chain(base, mw)}).CloseIdleConnections()
		if base.n != 1 {
			t.Errorf("%s: CloseIdleConnections reached the base %d times, want 1", name, base.n)
		}
	}
}

// Item 4: the 402 latch is off unless a policy turns it on (at Stripe a
// 402 is one declined card), keyed by route when on (every job id is one
// latch, and a flood of them cannot push the submit endpoint's out), and
// released by ResetCredits.
func TestCreditLatchThroughStack(t *testing.T) {
	srv := faultserver.New(t, faultserver.Status(http.StatusPaymentRequired))
	latched := Policy{Credits: Credits{Enabled: true}}
	s, err := NewStack(nil, Config{Endpoints: map[string]Policy{
		"POST /v1/enhancements":     latched,
		"GET /v1/jobs/{id}/results": latched,
	}})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: s}
	send := func(method, path string) error {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader("{}"))
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusPaymentRequired {
				t.Errorf("%s %s: status %d, want 402", method, path, resp.StatusCode)
			}
		}
		return err
	}
	// Off by default: a 402 from a route without Credits is passed on,
	// and the next request goes out too.
	for range 2 {
		if err := send("POST", "/v1/payment_intents"); err != nil {
			t.Fatalf("unlatched route refused: %v", err)
		}
	}
	if srv.Hits() != 2 {
		t.Fatalf("hits = %d, want 2: a 402 latched a route with the latch off", srv.Hits())
	}
	if err := send("POST", "/v1/enhancements"); err != nil {
		t.Fatal(err)
	}
	hits := srv.Hits()
	err = send("POST", "/v1/enhancements")
	var ce *credits.Error
	if !errors.As(err, &ce) || !errors.Is(err, apierror.ErrInsufficientCredits) || srv.Hits() != hits {
		t.Fatalf("second submit: %v (hits %d → %d), want a *credits.Error and nothing sent", err, hits, srv.Hits())
	}
	// Many job ids, one route: the first 402 latches them all.
	if err := send("GET", "/v1/jobs/1/results"); err != nil {
		t.Fatal(err)
	}
	hits = srv.Hits()
	for i := range 3000 {
		if err := send("GET", "/v1/jobs/"+strconv.Itoa(i+2)+"/results"); !errors.Is(err, apierror.ErrInsufficientCredits) {
			t.Fatalf("job %d: %v, want refused by the route's latch", i+2, err)
		}
	}
	if srv.Hits() != hits {
		t.Errorf("the results route's latch let %d requests through", srv.Hits()-hits)
	}
	if err := send("POST", "/v1/enhancements"); !errors.Is(err, apierror.ErrInsufficientCredits) {
		t.Errorf("submit after the flood: %v, want still latched", err)
	}
	s.ResetCredits()
	if err := send("POST", "/v1/enhancements"); err != nil {
		t.Errorf("submit after ResetCredits: %v, want sent", err)
	}
}

// Found by an attack: a RoundTripper below that answers, with a nil Body,
// just after a timeout fired must not panic the timeout layers.
func TestLateAnswerWithNilBodyAfterTimeout(t *testing.T) {
	late := RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done() // answers anyway, once the timeout fired
		return &http.Response{StatusCode: 200, Header: http.Header{}, Request: r}, nil
	})
	for name, p := range map[string]Policy{
		"attempt": {AttemptTimeout: 10 * time.Millisecond, Timeout: NoTimeout, NoRetry: true},
		"total":   {AttemptTimeout: NoTimeout, Timeout: 10 * time.Millisecond, NoRetry: true},
	} {
		s, err := NewStack(late, Config{Default: p})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", "http://127.0.0.1:1/", nil)
		if _, err := s.RoundTrip(req); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: error = %v, want a timeout", name, err)
		}
	}
}

// Found by an attack: spellings of one origin share a routed latch.
func TestRoutedLatchNormalisesOrigin(t *testing.T) {
	var sent atomic.Int64
	base := RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return &http.Response{StatusCode: 402, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	})
	c, err := NewClient(&http.Client{Transport: base}, Config{Endpoints: map[string]Policy{"POST /v1/enhancements": {Credits: Credits{Enabled: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://api.example.com/v1/enhancements", "http://API.example.com/v1/enhancements", "http://api.example.com:80/v1/enhancements"} {
		if resp, err := c.Post(u, "text/plain", nil); err == nil {
			resp.Body.Close()
		}
	}
	if n := sent.Load(); n != 1 {
		t.Errorf("sends after one 402 = %d, want 1: one latch for one origin", n)
	}
}

// drainOnClose drains the rest of its body on Close, as some wrappers do.
type drainOnClose struct{ io.ReadCloser }

func (d drainOnClose) Close() error { io.Copy(io.Discard, d.ReadCloser); return d.ReadCloser.Close() }

// Found by an attack: a discarded response whose body drains on Close must
// not make the call wait on the network.
func TestDiscardedBodyDrainingOnClose(t *testing.T) {
	srv := faultserver.New(t, faultserver.Script(faultserver.Stall(503, 1000, 1), faultserver.Reply(200, "ok")))
	base := RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil {
			resp.Body = drainOnClose{resp.Body}
		}
		return resp, err
	})
	c, err := NewClient(&http.Client{Transport: base}, Config{Default: Policy{AttemptTimeout: 200 * time.Millisecond, Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	var resp *http.Response
	start := time.Now()
	faultserver.Within(t, 10*time.Second, func() { resp, err = c.Get(srv.URL) })
	if err != nil {
		t.Fatalf("Get() = %v after %v, want the second attempt's 200", err, time.Since(start))
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || time.Since(start) > 3*time.Second {
		t.Errorf("status %d after %v, want 200 well before the 5 s total", resp.StatusCode, time.Since(start))
	}
}

// Found by an attack: with every layer off the stack still answers a
// (nil, nil) from below with an error.
func TestNilNilWithEveryLayerOff(t *testing.T) {
	s, err := NewStack(nilNil{}, Config{Default: noTimeouts(Policy{NoRetry: true, NoBreaker: true, NoTracing: true})})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://127.0.0.1:1/", nil)
	if resp, err := s.RoundTrip(req); resp != nil || !errors.Is(err, errclass.ErrNilResponse) {
		t.Errorf("RoundTrip() = %v, %v; want an error matching ErrNilResponse", resp, err)
	}
}

// Found by an attack: a host pattern with a port never matches (hosts
// match without their port), so it is rejected rather than silently off.
func TestHostPatternWithPortRejected(t *testing.T) {
	const pattern = "POST api.example.com:8443/v1/pay"
	if _, err := NewStack(okStub{}, Config{Endpoints: map[string]Policy{pattern: {}}}); err == nil {
		t.Error("NewStack accepted a host pattern with a port")
	}
	var ce *ConfigError
	if _, err := ParseConfig([]byte(`{"endpoints": {"` + pattern + `": {}}}`)); !errors.As(err, &ce) {
		t.Errorf("ParseConfig error = %v, want a *ConfigError", err)
	}
	if _, err := NewStack(okStub{}, Config{Endpoints: map[string]Policy{"GET api.example.com/v1/x": {}, "GET [::1]/v1/y": {}}}); err != nil {
		t.Errorf("hosts without a port: %v", err)
	}
}

// Found by an attack: an endpoint that names "breaker" gets breakers of
// its own even when what it names sets every field back to its default.
func TestEndpointNamingBreakerGetsItsOwn(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{
	  "default": {"breaker": {"count_rate_limited": true}},
	  "endpoints": {"GET /quiet/": {"breaker": {"count_rate_limited": false}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	base := RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 429, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	})
	cfg.Default.Retry.MaxAttempts = 1
	ep := cfg.Endpoints["GET /quiet/"]
	ep.Retry.MaxAttempts = 1
	cfg.Endpoints["GET /quiet/"] = ep
	s, err := NewStack(base, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 * breaker.DefaultConsecutiveFailures {
		req, _ := http.NewRequest("GET", "http://h.example/quiet/x", nil)
		if resp, err := s.RoundTrip(req); err == nil {
			resp.Body.Close()
		}
	}
	for name, st := range s.States() {
		if st != breaker.StateClosed {
			t.Errorf("breaker %q = %v after 429s on an endpoint whose own breaker ignores them", name, st)
		}
	}
}

// Found by an attack: a budget is written back by its parameters. Issue 13
// item 6: it is data (a retry.BudgetPolicy), compared as such.
func TestBudgetRoundTrips(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"default": {"retry": {"budget": {"ratio": 0.5, "min_per_second": 1, "window": "5s"}}},
	  "endpoints": {"GET /x": {"retry": {"budget": {"ratio": 0.1, "min_per_second": 2, "window": "30s"}}}, "GET /y": {},
	    "GET /z": {"retry": {"budget": {"window": "1m"}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConfig(b)
	if err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	for name, want := range map[string]retry.BudgetPolicy{
		"default": {Ratio: 0.5, MinPerSecond: 1, Window: 5 * time.Second},
		"GET /x":  {Ratio: 0.1, MinPerSecond: 2, Window: 30 * time.Second},
		"GET /y":  {},                                                 // shares the default's
		"GET /z":  {Ratio: 0.5, MinPerSecond: 1, Window: time.Minute}, // own, from the default's
	} {
		for _, c := range []Config{cfg, back} {
			p, ok := c.Endpoints[name]
			if name == "default" {
				p, ok = c.Default, true
			}
			if !ok || p.Retry.Budget != want || p.Retry.SharedBudget != nil {
				t.Errorf("%s: budget %+v (live %p), want %+v and no live budget; written %s", name, p.Retry.Budget, p.Retry.SharedBudget, want, b)
			}
		}
	}
}

// Issue 13 item 2 through the Stack: a response that reports no credits
// left latches the route before any 402, and the last count is a gauge.
func TestCreditsRemainingThroughStack(t *testing.T) {
	var left atomic.Int64
	left.Store(1)
	var sent atomic.Int64
	base := RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		h := http.Header{}
		h.Set("X-Credits-Remaining", strconv.FormatInt(left.Add(-1), 10))
		return &http.Response{StatusCode: 202, Header: h, Body: http.NoBody, Request: r}, nil
	})
	cr := Credits{Enabled: true}
	cr.RemainingHeader = "X-Credits-Remaining"
	s, err := NewStack(base, Config{Endpoints: map[string]Policy{"POST /v1/enhancements": {Credits: cr}}})
	if err != nil {
		t.Fatal(err)
	}
	post := func() error {
		req, _ := http.NewRequest("POST", "https://api.example.com/v1/enhancements", nil)
		resp, err := s.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := post(); err != nil {
		t.Fatal(err)
	}
	if got := s.CreditsRemaining(); len(got) != 1 || got["POST https://api.example.com/v1/enhancements"] != 0 {
		t.Errorf("CreditsRemaining() = %v, want the route at 0", got)
	}
	if err := post(); !errors.Is(err, apierror.ErrInsufficientCredits) || sent.Load() != 1 {
		t.Errorf("submit after a response said 0 left: %v (sent %d), want refused before any 402", err, sent.Load())
	}
}

// Issue 13 item 2: the last count of credits left is an OpenTelemetry
// gauge too, fed by the stack from credits' OnRemaining, whose own hook
// still hears every count.
func TestCreditsRemainingGauge(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	base := RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		h := http.Header{}
		h.Set("X-Credits-Remaining", "5")
		return &http.Response{StatusCode: 202, Header: h, Body: http.NoBody, Request: r}, nil
	})
	var heard []int64
	cr := Credits{Enabled: true}
	cr.RemainingHeader = "X-Credits-Remaining"
	cr.OnRemaining = func(_ string, n int64) { heard = append(heard, n) }
	s, err := NewStack(base, Config{
		Endpoints: map[string]Policy{"POST /v1/enhancements": {Credits: cr}},
		Tracing:   tracing.Config{MeterProvider: mp},
	})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "https://api.example.com/v1/enhancements", nil)
	resp, err := s.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var got []metricdata.DataPoint[int64]
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == "resilient.credits.remaining" {
				got = g.DataPoints
			}
		}
	}
	if len(got) != 1 || got[0].Value != 5 {
		t.Errorf("resilient.credits.remaining = %+v, want one point at 5", got)
	} else if key, _ := got[0].Attributes.Value("resilient.credits.key"); key.AsString() != "POST https://api.example.com/v1/enhancements" {
		t.Errorf("gauge key = %q", key.AsString())
	}
	if len(heard) != 1 || heard[0] != 5 {
		t.Errorf("the policy's own OnRemaining heard %v, want [5]", heard)
	}
}
