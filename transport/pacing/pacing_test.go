package pacing_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/pacing"
	"github.com/resilient-http/resilient/transport/retry"
)

// throttled starts a server that answers 429 with Retry-After: ra for
// period after its first request, then 200; hits counts the requests it
// received.
func throttled(t *testing.T, ra string, period time.Duration) (srv *httptest.Server, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	var once sync.Once
	var start time.Time
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		once.Do(func() { start = time.Now() })
		if time.Since(start) < period {
			w.Header().Set("Retry-After", ra)
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, hits
}

// scripted starts a server whose first response carries headers h and
// whose later ones are plain 200s; it records when each request arrived.
func scripted(t *testing.T, status int, h map[string]string) (*httptest.Server, func() []time.Time) {
	t.Helper()
	var mu sync.Mutex
	var arrivals []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		n := len(arrivals)
		mu.Unlock()
		if n == 1 {
			for k, v := range h {
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Time(nil), arrivals...)
	}
}

func get(t *testing.T, rt http.RoundTripper, ctx context.Context, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if resp != nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func idleClose(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// burst sends n GETs through retry (default policy) over pacing (when
// paced) to a route answering 429 + Retry-After: 2 for two seconds, the
// i-th starting at i×stagger, and returns the requests the server saw.
func burst(t *testing.T, paced bool, n int, stagger time.Duration) int64 {
	srv, hits := throttled(t, "2", 2*time.Second)
	base := srv.Client().Transport
	rt := base
	if paced {
		rt = pacing.New(base, pacing.Policy{})
	}
	rt = retry.New(rt, retry.Policy{})
	defer idleClose(base)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * stagger)
			resp, err := get(t, rt, context.Background(), srv.URL+"/v1/items")
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("request %d: %v, %v; want 200", i, resp, err)
			}
		})
	}
	wg.Wait()
	return hits.Load()
}

// The issue's measurement: 20 concurrent GETs arriving over about a second
// (one every 50ms, so a loaded machine does not hold the first 429 back
// until they are all sent) to a
// route that answers 429 + Retry-After: 2 for two seconds. Without pacing
// each discovers the 429 and retries (40 hits); with pacing only the first
// does, the others wait for its window (21). Mutation: never opening a
// window (signal ignored) makes paced ≈ 40.
func TestIssueMeasurement(t *testing.T) {
	var unpaced, paced int64
	var wg sync.WaitGroup
	wg.Go(func() { unpaced = burst(t, false, 20, 50*time.Millisecond) })
	wg.Go(func() { paced = burst(t, true, 20, 50*time.Millisecond) })
	wg.Wait()
	t.Logf("server hits for 20 GETs: without pacing %d, with pacing %d", unpaced, paced)
	if unpaced < 30 {
		t.Errorf("without pacing: %d hits, want >= 30", unpaced)
	}
	if paced > 25 {
		t.Errorf("with pacing: %d hits, want <= 25", paced)
	}
}

// Each kind of header that says the quota is spent makes the next request
// wait for the reset (one second here) before it is sent. Mutation:
// dropping a family from signal, or not waiting, fails its case.
func TestHeadersMakeNextRequestWait(t *testing.T) {
	tests := []struct {
		name   string
		status int
		h      map[string]string
	}{
		{"Retry-After on 429", 429, map[string]string{"Retry-After": "1"}},
		{"Retry-After on 503", 503, map[string]string{"Retry-After": "1"}},
		{"RateLimit structured", 200, map[string]string{"RateLimit-Policy": `"default";q=100;w=60`, "RateLimit": `"default";r=0;t=1`}},
		{"RateLimit with policy window", 200, map[string]string{"RateLimit-Policy": `"burst";q=5;w=1`, "RateLimit": `"burst";r=0`}},
		{"RateLimit-Remaining/Reset", 200, map[string]string{"RateLimit-Limit": "100", "RateLimit-Remaining": "0", "RateLimit-Reset": "1"}},
		{"X-RateLimit-Remaining/Reset", 200, map[string]string{"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, arrivals := scripted(t, tc.status, tc.h)
			var waited atomic.Int64
			pt := pacing.New(srv.Client().Transport, pacing.Policy{
				OnWait: func(_ context.Context, key string, d time.Duration) {
					if key != srv.URL {
						t.Errorf("OnWait key = %q, want %q", key, srv.URL)
					}
					waited.Store(int64(d))
				},
			})
			defer pt.CloseIdleConnections()
			resp, err := get(t, pt, context.Background(), srv.URL+"/a")
			if err != nil || resp.StatusCode != tc.status {
				t.Fatalf("first RoundTrip() = %v, %v; want %d", resp, err, tc.status)
			}
			if pt.Until(srv.URL).IsZero() {
				t.Fatalf("Until(%q) is zero after the signal", srv.URL)
			}
			if _, err := get(t, pt, context.Background(), srv.URL+"/b"); err != nil {
				t.Fatal(err)
			}
			a := arrivals()
			if len(a) != 2 {
				t.Fatalf("server saw %d requests, want 2", len(a))
			}
			if gap := a[1].Sub(a[0]); gap < 900*time.Millisecond {
				t.Errorf("second request sent %v after the first, want >= ~1s", gap)
			}
			if d := time.Duration(waited.Load()); d < 800*time.Millisecond || d > time.Second {
				t.Errorf("OnWait got %v, want ~1s", d)
			}
		})
	}
}

// A response with quota left opens no window: the next request goes at
// once. Mutation: treating r>0 as spent fails.
func TestQuotaLeftDoesNotWait(t *testing.T) {
	srv, arrivals := scripted(t, 200, map[string]string{"RateLimit": `"default";r=3;t=30`, "X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "30"})
	pt := pacing.New(srv.Client().Transport, pacing.Policy{MaxWait: -1})
	defer pt.CloseIdleConnections()
	for range 2 {
		if _, err := get(t, pt, context.Background(), srv.URL); err != nil {
			t.Fatalf("RoundTrip() error = %v, want none", err)
		}
	}
	if n := len(arrivals()); n != 2 {
		t.Errorf("server saw %d requests, want 2", n)
	}
}

// A wait longer than MaxWait, or past the request's deadline, fails fast
// with an *Error that carries the delay; nothing is sent. Mutation:
// removing either check makes the request wait (and the test time out or
// the count rise).
func TestRefusals(t *testing.T) {
	tests := []struct {
		name     string
		ra       string
		policy   pacing.Policy
		timeout  time.Duration
		deadline bool
	}{
		{"longer than MaxWait", "10", pacing.Policy{MaxWait: time.Second}, 0, false},
		{"negative MaxWait", "2", pacing.Policy{MaxWait: -1}, 0, false},
		{"past the deadline", "2", pacing.Policy{}, 500 * time.Millisecond, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, hits := throttled(t, tc.ra, time.Minute)
			var refused atomic.Int64
			p := tc.policy
			p.OnRefuse = func(_ context.Context, _ string, d time.Duration) { refused.Store(int64(d)) }
			pt := pacing.New(srv.Client().Transport, p)
			defer pt.CloseIdleConnections()
			learnt := time.Now() // the window starts after this
			if _, err := get(t, pt, context.Background(), srv.URL); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			want, _ := time.ParseDuration(tc.ra + "s")
			start := time.Now()
			resp, err := get(t, pt, ctx, srv.URL)
			// Waiting would take the window (2s at least) or the deadline;
			// a loaded machine is slow, but not by half the window.
			if el := time.Since(start); el > want/2 {
				t.Errorf("refusal took %v, want no wait of the %v window", el, want)
			}
			var pe *pacing.Error
			if resp != nil || !errors.As(err, &pe) || !errors.Is(err, pacing.ErrThrottled) {
				t.Fatalf("RoundTrip() = %v, %v; want a *pacing.Error", resp, err)
			}
			// What is left of the window: no more than it, no less than it
			// minus the time since the request that learnt it was sent.
			if pe.Delay < want-time.Since(learnt) || pe.Delay > want || pe.Key != srv.URL || pe.Deadline != tc.deadline {
				t.Errorf("Error = %+v, want Delay ~%v, Key %q, Deadline %v", pe, want, srv.URL, tc.deadline)
			}
			if pe.RetryIn() <= 0 || !strings.HasPrefix(pe.Error(), "pacing: "+srv.URL+" is throttled for") {
				t.Errorf("RetryIn() = %v, Error() = %q", pe.RetryIn(), pe.Error())
			}
			if time.Duration(refused.Load()) != pe.Delay {
				t.Errorf("OnRefuse got %v, want %v", time.Duration(refused.Load()), pe.Delay)
			}
			if out := errclass.Classify(nil, nil, err); !out.Refused || out.RetryAfter <= 0 {
				t.Errorf("Classify(err) = %+v, want a refusal with RetryAfter", out)
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("server saw %d requests, want 1 (the refused one not sent)", n)
			}
		})
	}
}

// Retry sees a pacing refusal as a refusal: it does not retry it, sends
// nothing and returns the *Error at once. (TestRefusals checks that
// errclass classifies it as a refusal; an Error that lost RetryIn fails
// there.)
func TestRetrySeesRefusal(t *testing.T) {
	srv, hits := throttled(t, "10", time.Minute)
	pt := pacing.New(srv.Client().Transport, pacing.Policy{MaxWait: time.Second})
	defer pt.CloseIdleConnections()
	if _, err := get(t, pt, context.Background(), srv.URL); err != nil { // learn the window
		t.Fatal(err)
	}
	var attempts atomic.Int64 // what retry sends to pacing
	rt := retry.New(roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		attempts.Add(1)
		return pt.RoundTrip(r)
	}), retry.Policy{})
	resp, err := get(t, rt, context.Background(), srv.URL)
	var pe *pacing.Error
	if resp != nil || !errors.As(err, &pe) {
		t.Fatalf("RoundTrip() = %v, %v; want a *pacing.Error through retry", resp, err)
	}
	if n := attempts.Load(); n != 1 {
		t.Errorf("retry tried %d times over a refusal, want once", n)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

// A request whose context ends while it waits returns the context's error,
// closes its body, sends nothing, and leaves no timer or goroutine behind
// (goleak in TestMain). Mutation: not selecting on ctx.Done waits 2s.
func TestCancelWhileWaiting(t *testing.T) {
	srv, hits := throttled(t, "2", time.Minute)
	pt := pacing.New(srv.Client().Transport, pacing.Policy{})
	defer pt.CloseIdleConnections()
	if _, err := get(t, pt, context.Background(), srv.URL); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	body := &trackBody{Reader: strings.NewReader("x")}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, body)
	start := time.Now()
	resp, err := pt.RoundTrip(req)
	if resp != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("RoundTrip() = %v, %v; want context.Canceled", resp, err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("canceled wait took %v", el)
	}
	if !body.closed.Load() {
		t.Error("request body not closed")
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type trackBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackBody) Close() error { b.closed.Store(true); return nil }

// A configured rate bounds throughput per key. Mutation: ignoring Rate
// sends all at once.
func TestRate(t *testing.T) {
	srv, arrivals := scripted(t, 200, nil)
	pt := pacing.New(srv.Client().Transport, pacing.Policy{Rate: 20, Burst: 1})
	defer pt.CloseIdleConnections()
	start := time.Now()
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if _, err := get(t, pt, context.Background(), srv.URL); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// 6 requests, 1 at once and then one per 50ms: at least 250ms.
	if el := time.Since(start); el < 240*time.Millisecond {
		t.Errorf("6 requests at 20/s, burst 1, took %v, want >= 250ms", el)
	}
	if n := len(arrivals()); n != 6 {
		t.Errorf("server saw %d requests, want 6", n)
	}

	// A token further away than MaxWait is refused, not waited for, and
	// its reservation is given back.
	slow := pacing.New(srv.Client().Transport, pacing.Policy{Rate: 1, Burst: 1, MaxWait: 100 * time.Millisecond})
	if _, err := get(t, slow, context.Background(), srv.URL); err != nil {
		t.Fatal(err)
	}
	var pe *pacing.Error
	if _, err := get(t, slow, context.Background(), srv.URL); !errors.As(err, &pe) || pe.Delay < 800*time.Millisecond {
		t.Errorf("second request at 1/s = %v, want a *pacing.Error with Delay ~1s", err)
	}
}

// Windows are per host by default and per route with ScopeRoute; Key
// overrides both. Mutation: a key with the path under ScopeHost, or
// without it under ScopeRoute, fails.
func TestScope(t *testing.T) {
	tests := []struct {
		name    string
		policy  pacing.Policy
		blocked map[string]bool // path → refused after /a's window
	}{
		{"host", pacing.Policy{}, map[string]bool{"/a": true, "/b": true}},
		{"route", pacing.Policy{Scope: pacing.ScopeRoute}, map[string]bool{"/a": true, "/a/": true, "/b": false}},
		{"route names", pacing.Policy{Scope: pacing.ScopeRoute, Route: func(r *http.Request) string {
			return "/" + strings.Split(r.URL.Path, "/")[1]
		}}, map[string]bool{"/a/1": true, "/a/2": true, "/b/1": false}},
		{"key", pacing.Policy{Key: func(r *http.Request) string { return r.Header.Get("X-Account") }}, map[string]bool{"/a": true, "/b": true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/a" || r.URL.Path == "/a/1" {
					w.Header().Set("Retry-After", "30")
					w.WriteHeader(429)
				}
			}))
			defer srv.Close()
			p := tc.policy
			p.MaxWait = -1
			pt := pacing.New(srv.Client().Transport, p)
			defer pt.CloseIdleConnections()
			first := "/a"
			if tc.name == "route names" {
				first = "/a/1"
			}
			do := func(path, account string) error {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
				req.Header.Set("X-Account", account)
				resp, err := pt.RoundTrip(req)
				if resp != nil {
					resp.Body.Close()
				}
				return err
			}
			if err := do(first, "acme"); err != nil {
				t.Fatal(err)
			}
			for path, want := range tc.blocked {
				if err := do(path, "acme"); errors.Is(err, pacing.ErrThrottled) != want {
					t.Errorf("GET %s: err = %v, want refused %v", path, err, want)
				}
			}
			// Another host (same server, another name) is never blocked,
			// except by a Key that ignores the host.
			other := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
			req, _ := http.NewRequest(http.MethodGet, other+"/b", nil)
			req.Header.Set("X-Account", "acme")
			resp, err := pt.RoundTrip(req)
			if resp != nil {
				resp.Body.Close()
			}
			if want := tc.name == "key"; errors.Is(err, pacing.ErrThrottled) != want {
				t.Errorf("GET other host: err = %v, want refused %v", err, want)
			}
		})
	}
}

// The RoundTripper contract: the caller's request is not changed, its
// body reaches the server intact, a 429 comes back as (resp, nil) with its
// body unread, a (nil, nil) from below becomes an error, a nil request an
// error. Mutation: cloning or rewriting the request, or reading the body,
// fails.
func TestContract(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(429)
		w.Write(append([]byte("got "), b...))
	}))
	defer srv.Close()
	pt := pacing.New(srv.Client().Transport, pacing.Policy{})
	defer pt.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/x?q=1", strings.NewReader("payload"))
	req.Header.Set("X-Test", "1")
	wantURL, wantHeader, wantBody := req.URL.String(), req.Header.Clone(), req.Body
	resp, err := pt.RoundTrip(req)
	if err != nil || resp.StatusCode != 429 {
		t.Fatalf("RoundTrip() = %v, %v; want 429, nil", resp, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "got payload" {
		t.Errorf("response body = %q, want %q", b, "got payload")
	}
	if req.URL.String() != wantURL || len(req.Header) != len(wantHeader) || req.Header.Get("X-Test") != "1" || req.Body != wantBody {
		t.Error("request changed by RoundTrip")
	}

	nilNext := pacing.New(roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, nil }), pacing.Policy{})
	if _, err := nilNext.RoundTrip(httptest.NewRequest("GET", "http://x/", nil)); !errors.Is(err, errclass.ErrNilResponse) {
		t.Errorf("(nil, nil) below: err = %v, want ErrNilResponse", err)
	}
	if _, err := nilNext.RoundTrip(nil); !errors.Is(err, errclass.ErrInvalidRequest) {
		t.Errorf("nil request: err = %v, want ErrInvalidRequest", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Middleware shares one set of windows across the Transports it makes.
// Mutation: a store per Transport fails.
func TestMiddlewareShares(t *testing.T) {
	srv, _ := throttled(t, "30", time.Minute)
	mw := pacing.Middleware(pacing.Policy{MaxWait: -1})
	a, b := mw(srv.Client().Transport), mw(srv.Client().Transport)
	defer idleClose(a)
	if _, err := get(t, a, context.Background(), srv.URL); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, b, context.Background(), srv.URL); !errors.Is(err, pacing.ErrThrottled) {
		t.Errorf("through the second Transport: err = %v, want ErrThrottled", err)
	}
}

// Keys with open windows are never evicted; past MaxKeys of them, a new
// window is not opened. Mutation: an entry not pinned gets evicted and
// its window forgotten.
func TestMaxKeysPinsOpenWindows(t *testing.T) {
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		h := http.Header{"Retry-After": {"30"}}
		return &http.Response{StatusCode: 429, Header: h, Body: http.NoBody, Request: r}, nil
	})
	pt := pacing.New(next, pacing.Policy{MaxKeys: 2, MaxWait: -1, Scope: pacing.ScopeRoute})
	for _, p := range []string{"/1", "/2", "/3"} {
		if _, err := pt.RoundTrip(httptest.NewRequest("GET", "http://h"+p, nil)); err != nil {
			t.Fatal(err)
		}
	}
	for p, open := range map[string]bool{"/1": true, "/2": true, "/3": false} {
		if got := !pt.Until("http://h" + p).IsZero(); got != open {
			t.Errorf("window of %s open = %v, want %v", p, got, open)
		}
	}
}

// One response asking for an hour's pause holds its key shut for at most
// MaxWindow (5 minutes by default): then one request asks again.
func TestMaxWindowCapsLongHints(t *testing.T) {
	srv, _ := scripted(t, http.StatusTooManyRequests, map[string]string{"Retry-After": "3600"})
	pt := pacing.New(srv.Client().Transport, pacing.Policy{})
	defer pt.CloseIdleConnections()
	before := time.Now()
	if _, err := get(t, pt, context.Background(), srv.URL+"/a"); err != nil {
		t.Fatal(err)
	}
	until := pt.Until(srv.URL)
	if d := until.Sub(before); d <= 4*time.Minute || d > 5*time.Minute+time.Second {
		t.Fatalf("a Retry-After of an hour opened a window of %v, want about 5m", d)
	}

	srv2, arrivals2 := scripted(t, http.StatusTooManyRequests, map[string]string{"Retry-After": "3600"})
	short := pacing.New(srv2.Client().Transport, pacing.Policy{MaxWindow: 100 * time.Millisecond})
	defer short.CloseIdleConnections()
	if _, err := get(t, short, context.Background(), srv2.URL+"/a"); err != nil {
		t.Fatal(err)
	}
	// Within the window the next request waits (100ms is below MaxWait),
	// then goes: the hour was never honoured past MaxWindow.
	resp, err := get(t, short, context.Background(), srv2.URL+"/a")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("second request = %v, %v; want 200 after MaxWindow", resp, err)
	}
	if n := len(arrivals2()); n != 2 {
		t.Fatalf("server saw %d requests, want 2", n)
	}
}

// By default a window of up to 30 s is waited for and a longer one is
// refused at once (MaxWait), as the README says. The caller that waits is
// canceled after 50ms: its error says it was waiting, not refused.
func TestDefaultMaxWait30s(t *testing.T) {
	for _, tc := range []struct {
		retryAfter string
		refused    bool
	}{{"29", false}, {"31", true}} {
		t.Run(tc.retryAfter, func(t *testing.T) {
			srv, arrivals := scripted(t, http.StatusTooManyRequests, map[string]string{"Retry-After": tc.retryAfter})
			pt := pacing.New(srv.Client().Transport, pacing.Policy{})
			defer pt.CloseIdleConnections()
			if _, err := get(t, pt, context.Background(), srv.URL+"/a"); err != nil {
				t.Fatal(err)
			}
			// Canceled, not a deadline: a deadline before the window's end
			// is refused at once too.
			ctx, cancel := context.WithCancel(context.Background())
			defer time.AfterFunc(50*time.Millisecond, cancel).Stop()
			_, err := get(t, pt, ctx, srv.URL+"/a")
			if tc.refused && !errors.Is(err, pacing.ErrThrottled) || !tc.refused && !errors.Is(err, context.Canceled) {
				t.Errorf("in a %ss window: error %v; want refused: %v (else canceled while waiting)", tc.retryAfter, err, tc.refused)
			}
			if n := len(arrivals()); n != 1 {
				t.Errorf("server saw %d requests, want 1", n)
			}
		})
	}
}

// A hedge that would have to wait is refused at once: it would leave
// with the attempt it hedges. Other requests still wait. Mutation:
// letting hedges wait as other requests do fails.
func TestHedgeRefusedInsteadOfWaiting(t *testing.T) {
	srv, arrivals := scripted(t, 200, nil)
	pt := pacing.New(srv.Client().Transport, pacing.Policy{Rate: 20, Burst: 1})
	defer pt.CloseIdleConnections()
	if _, err := get(t, pt, context.Background(), srv.URL); err != nil { // spends the burst
		t.Fatal(err)
	}
	hedge := errclass.WithAttempt(context.Background(), errclass.Attempt{Number: 2, Hedge: true})
	var pe *pacing.Error
	if _, err := get(t, pt, hedge, srv.URL); !errors.As(err, &pe) || pe.Deadline || !strings.Contains(pe.Error(), "hedge") {
		t.Fatalf("hedge needing a token = %v, want a *pacing.Error saying it was a hedge", err)
	}
	if _, err := get(t, pt, context.Background(), srv.URL); err != nil { // waits for its token
		t.Fatal(err)
	}
	if n := len(arrivals()); n != 2 {
		t.Errorf("server saw %d requests, want 2 (not the hedge)", n)
	}
}
