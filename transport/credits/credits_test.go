package credits

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/apierror"
	"github.com/resilient-http/resilient/transport/errclass"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// api is a fake partner API. Each endpoint ("METHOD host/path") answers the
// status set for it, 200 otherwise; hook, if set, runs first and may block,
// panic or fail the request. It counts the requests that reach it.
type api struct {
	mu     sync.Mutex
	status map[string]int
	hits   map[string]int
	hook   func(*http.Request) error
}

func newAPI() *api { return &api{status: map[string]int{}, hits: map[string]int{}} }

func (a *api) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	ep := r.Method + " " + r.URL.Host + r.URL.Path
	a.mu.Lock()
	a.hits[ep]++
	code, ok := a.status[ep]
	hook := a.hook
	a.mu.Unlock()
	if hook != nil {
		if err := hook(r); err != nil {
			return nil, err
		}
	}
	if !ok {
		code = http.StatusOK
	}
	return &http.Response{StatusCode: code, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

func (a *api) set(ep string, code int) {
	a.mu.Lock()
	a.status[ep] = code
	a.mu.Unlock()
}

func (a *api) count(ep string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hits[ep]
}

func (a *api) setHook(h func(*http.Request) error) {
	a.mu.Lock()
	a.hook = h
	a.mu.Unlock()
}

// clock is a fake clock for Transport.now. It starts at the real time so
// that Error.RetryIn, which reads the real clock, stays meaningful.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func newTest(p Policy) (*Transport, *api, *clock) {
	a := newAPI()
	tr := New(a, p)
	clk := &clock{now: time.Now()}
	tr.now = clk.Now
	return tr, a, clk
}

// send sends method url (host "partner.test" unless url has a scheme) and
// returns the status, or the error.
func send(t *testing.T, rt http.RoundTripper, method, url string) (int, error) {
	t.Helper()
	return sendCtx(t, context.Background(), rt, method, url)
}

func sendCtx(t *testing.T, ctx context.Context, rt http.RoundTripper, method, url string) (int, error) {
	t.Helper()
	if !strings.Contains(url, "://") {
		url = "https://partner.test" + url
	}
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// latchRoute sends method path to a server answering 402 and checks it passed.
func latchRoute(t *testing.T, tr *Transport, a *api, method, path string) {
	t.Helper()
	a.set(method+" partner.test"+path, http.StatusPaymentRequired)
	if code, err := send(t, tr, method, path); code != 402 {
		t.Fatalf("%s %s = %d, %v; want the 402 passed on", method, path, code, err)
	}
}

func refused(t *testing.T, tr *Transport, method, url string) *Error {
	t.Helper()
	code, err := send(t, tr, method, url)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s %s = %d, %v; want refused with a *credits.Error", method, url, code, err)
	}
	return ce
}

func passes(t *testing.T, tr *Transport, method, url string) {
	t.Helper()
	if code, err := send(t, tr, method, url); err != nil {
		t.Fatalf("%s %s = %d, %v; want it sent", method, url, code, err)
	}
}

// Issue 12 item 4: a 402 stops its route only.
func TestLatchStopsRouteOnly(t *testing.T) {
	tr, a, clk := newTest(Policy{})
	latchRoute(t, tr, a, "POST", "/v1/enhancements")

	for range 3 {
		ce := refused(t, tr, "POST", "/v1/enhancements")
		if ce.Key != "POST https://partner.test/v1/enhancements" || ce.Host {
			t.Errorf("refusal key = %q (host %v), want the route", ce.Key, ce.Host)
		}
		if want := clk.Now().Add(DefaultCooldown); !ce.Until.Equal(want) {
			t.Errorf("refusal Until = %v, want %v (one cooldown after the 402)", ce.Until, want)
		}
	}
	if n := a.count("POST partner.test/v1/enhancements"); n != 1 {
		t.Errorf("%d submits reached the server, want 1 (the one answered 402)", n)
	}
	passes(t, tr, "GET", "/v1/enhancements")                    // another method
	passes(t, tr, "POST", "/v1/lists")                          // another path
	passes(t, tr, "POST", "https://other.test/v1/enhancements") // another host
	if got := tr.Latched(); len(got) != 1 || got[0] != "POST https://partner.test/v1/enhancements" {
		t.Errorf("Latched() = %q, want the one route", got)
	}
}

// Issue 12 item 4: spellings of one path hit one latch.
func TestSpellingsShareLatch(t *testing.T) {
	same := []string{
		"/v1/jobs/x",
		"/v1//jobs/./x",
		"/v1/jobs/x/",
		"/v1/%6Aobs/x",
		"/v1/%6aobs/x",
		"/v1/jobs/../jobs/x",
		"/v1/jobs/%2E/x",
		"/v1/jobs/x?page=2",
		"https://PARTNER.test:443/v1/jobs/x",
	}
	for _, first := range same {
		t.Run(first, func(t *testing.T) {
			// The server answers 402 once, then 200.
			var calls atomic.Int32
			tr := New(rtFunc(func(r *http.Request) (*http.Response, error) {
				code := http.StatusOK
				if calls.Add(1) == 1 {
					code = http.StatusPaymentRequired
				}
				return &http.Response{StatusCode: code, Body: http.NoBody, Request: r}, nil
			}), Policy{})
			if code, err := send(t, tr, "POST", first); code != 402 {
				t.Fatalf("POST %s = %d, %v; want 402", first, code, err)
			}
			for _, other := range same {
				refused(t, tr, "POST", other)
			}
			// Different resources stay apart.
			for _, other := range []string{"/v1/jobs/y", "/v1/jobs%2Fx", "/v1/jobs/x/results", "/v1/Jobs/x", "http://partner.test/v1/jobs/x"} {
				passes(t, tr, "POST", other)
			}
		})
	}
}

// Issue 12 item 4: after the cooldown one probe at a time goes out.
func TestCooldownSingleProbe(t *testing.T) {
	tr, a, clk := newTest(Policy{Cooldown: time.Minute})
	latchRoute(t, tr, a, "POST", "/v1/enhancements")
	const ep = "POST partner.test/v1/enhancements"

	clk.Advance(59 * time.Second)
	if ce := refused(t, tr, "POST", "/v1/enhancements"); ce.Until.IsZero() {
		t.Errorf("refusal before the cooldown has no Until")
	}
	clk.Advance(2 * time.Second)

	// The server pays again, slowly: the probe waits on gate while 7 others
	// try at once.
	a.set(ep, http.StatusAccepted)
	gate := make(chan struct{})
	a.setHook(func(*http.Request) error { <-gate; return nil })
	const n = 8
	var (
		wg        sync.WaitGroup
		start     = make(chan struct{})
		nRefused  atomic.Int32
		probeDone = make(chan int, n)
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			code, err := send(t, tr, "POST", "/v1/enhancements")
			var ce *Error
			switch {
			case errors.As(err, &ce):
				if !ce.Until.IsZero() {
					t.Errorf("refusal during the probe: Until = %v, want zero (a probe in flight)", ce.Until)
				}
				nRefused.Add(1)
			case err != nil:
				t.Errorf("concurrent request: %v", err)
			default:
				probeDone <- code
			}
		}()
	}
	close(start)
	waitFor(t, func() bool { return nRefused.Load() == n-1 })
	if got := a.count(ep); got != 2 {
		t.Errorf("%d requests reached the server, want 2 (the 402 and one probe)", got)
	}
	close(gate)
	wg.Wait()
	if code := <-probeDone; code != http.StatusAccepted {
		t.Fatalf("probe = %d, want 202", code)
	}
	a.setHook(nil)
	passes(t, tr, "POST", "/v1/enhancements")
	if got := tr.Latched(); len(got) != 0 {
		t.Errorf("Latched() after a successful probe = %q, want none", got)
	}
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

var errReset = errors.New("connection reset by peer")

// Issue 12 item 4: how a probe's answer settles the latch. 5xx, 429 and
// transport errors say nothing about payment: the latch stays, and the
// next probe waits another cooldown.
func TestProbeOutcome(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int   // the probe's answer, or
		err     error // its transport error
		release bool
	}{
		{"402 latches again", 402, nil, false},
		{"500 keeps", 500, nil, false},
		{"503 keeps", 503, nil, false},
		{"429 keeps", 429, nil, false},
		{"transport error keeps", 0, errReset, false},
		{"200 releases", 200, nil, true},
		{"404 releases", 404, nil, true},
		{"422 releases", 422, nil, true},
		{"302 releases", 302, nil, true},
		{"501 releases: a definite answer, not a server in trouble", 501, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, a, clk := newTest(Policy{Cooldown: time.Minute})
			latchRoute(t, tr, a, "POST", "/v1/enhancements")
			const ep = "POST partner.test/v1/enhancements"
			clk.Advance(time.Minute)
			if tc.err != nil {
				a.setHook(func(*http.Request) error { return tc.err })
			} else {
				a.set(ep, tc.status)
			}
			code, err := send(t, tr, "POST", "/v1/enhancements")
			if a.count(ep) != 2 {
				t.Fatalf("the probe did not reach the server (%d, %v)", code, err)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("probe error = %v, want %v passed on", err, tc.err)
			}
			if tc.err == nil && (err != nil || code != tc.status) {
				t.Fatalf("probe = %d, %v; want %d passed on", code, err, tc.status)
			}
			a.setHook(nil)
			a.set(ep, 200)
			if tc.release {
				passes(t, tr, "POST", "/v1/enhancements")
				return
			}
			ce := refused(t, tr, "POST", "/v1/enhancements")
			if want := clk.Now().Add(time.Minute); !ce.Until.Equal(want) {
				t.Errorf("after the probe, Until = %v, want %v (a fresh cooldown)", ce.Until, want)
			}
			clk.Advance(time.Minute)
			passes(t, tr, "POST", "/v1/enhancements") // the next probe
			if n := a.count(ep); n != 3 {
				t.Errorf("%d requests reached the server, want 3", n)
			}
		})
	}
}

// With Cooldown left zero a latched route is probed after 1 minute, the
// README's default: not a second before.
func TestDefaultCooldownIsAMinute(t *testing.T) {
	tr, a, clk := newTest(Policy{})
	latchRoute(t, tr, a, "POST", "/v1/enhancements")
	a.set("POST partner.test/v1/enhancements", 200)
	clk.Advance(time.Minute - time.Second)
	refused(t, tr, "POST", "/v1/enhancements")
	clk.Advance(time.Second)
	passes(t, tr, "POST", "/v1/enhancements")
}

// A probe canceled by its caller learns nothing: the next request probes at
// once rather than after another cooldown.
func TestProbeCanceled(t *testing.T) {
	tr, a, clk := newTest(Policy{})
	latchRoute(t, tr, a, "POST", "/v1/enhancements")
	clk.Advance(DefaultCooldown)
	ctx, cancel := context.WithCancel(context.Background())
	a.setHook(func(r *http.Request) error { cancel(); return r.Context().Err() })
	if _, err := sendCtx(t, ctx, tr, "POST", "/v1/enhancements"); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled probe: error = %v, want context.Canceled", err)
	}
	a.setHook(nil)
	a.set("POST partner.test/v1/enhancements", 200)
	passes(t, tr, "POST", "/v1/enhancements")
}

// Issue 12 item 4: a probe that panics below frees the probe slot (today
// the latch sticks until reset) and the panic reaches the caller.
func TestProbePanicFreesSlot(t *testing.T) {
	tr, a, clk := newTest(Policy{})
	latchRoute(t, tr, a, "POST", "/v1/enhancements")
	clk.Advance(DefaultCooldown)
	a.setHook(func(*http.Request) error { panic("boom") })
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the panic of the layer below", r)
			}
		}()
		send(t, tr, "POST", "/v1/enhancements")
		t.Error("RoundTrip returned; want the panic to propagate")
	}()
	a.setHook(nil)
	a.set("POST partner.test/v1/enhancements", 200)
	if ce := refused(t, tr, "POST", "/v1/enhancements"); ce.Until.IsZero() {
		t.Errorf("after the panic: Until is zero, want a fresh cooldown")
	}
	clk.Advance(DefaultCooldown)
	passes(t, tr, "POST", "/v1/enhancements")
}

// Issue 12 item 4: thousands of 402s on distinct paths keep the bound,
// lose no latch, and fall back to one latch for the host and method.
func TestFloodKeepsEveryLatch(t *testing.T) {
	tr, a, _ := newTest(Policy{}) // MaxKeys 1000
	latchRoute(t, tr, a, "POST", "/v1/enhancements")
	const flood = 5000
	a.setHook(func(r *http.Request) error { return nil })
	sent := 0
	for i := range flood {
		path := fmt.Sprintf("/v1/jobs/%d/results", i)
		a.set("POST partner.test"+path, 402)
		if _, err := send(t, tr, "POST", path); err == nil {
			sent++
		}
	}
	if n := tr.s.route.Len(); n != 1000 { // the README's default
		t.Errorf("%d route latches, want 1000", n)
	}
	// 999 routes fill the bound, the 1000th latches the host.
	if sent != DefaultMaxKeys {
		t.Errorf("%d flood requests sent, want %d", sent, DefaultMaxKeys)
	}
	ce := refused(t, tr, "POST", "/v1/enhancements")
	if ce.Host {
		// Either latch may refuse; the route's must still exist.
		if _, ok := tr.s.route.Get("POST https://partner.test/v1/enhancements"); !ok {
			t.Error("the first route latch was dropped")
		}
	}
	ce = refused(t, tr, "POST", "/v1/exports")
	if !ce.Host || ce.Key != "POST https://partner.test" {
		t.Errorf("refusal of a new path = %+v, want the host latch", ce)
	}
	if !strings.Contains(ce.Error(), "(every path)") {
		t.Errorf("host refusal message %q does not say it covers every path", ce.Error())
	}
	passes(t, tr, "GET", "/v1/jobs/1/results")
	passes(t, tr, "POST", "https://other.test/v1/enhancements")

	// The host latch released by a probe leaves the route latches in place.
	a.setHook(nil)
	tr.now = func() time.Time { return time.Now().Add(2 * DefaultCooldown) }
	passes(t, tr, "POST", "/v1/exports")
	if _, ok := tr.s.host.Get(hostKey{"POST", "https", "partner.test"}); ok {
		t.Error("the host latch survived a 200 probe")
	}
	if n := tr.s.route.Len(); n != 1000 { // the README's default
		t.Errorf("%d route latches after the host's release, want 1000", n)
	}
}

// Issue 12 item 4: the bound holds when many 402s arrive at once.
func TestBoundUnderConcurrency(t *testing.T) {
	const (
		maxKeys    = 8
		goroutines = 16
		perG       = 20
	)
	tr, a, _ := newTest(Policy{MaxKeys: maxKeys})
	// The first wave is held until every goroutine's request is in flight,
	// so that 16 402s come back together past an empty latch set.
	var inFlight atomic.Int32
	wave := make(chan struct{})
	a.setHook(func(r *http.Request) error {
		if strings.HasSuffix(r.URL.Path, "/0") {
			inFlight.Add(1)
			<-wave
		}
		return nil
	})
	for g := range goroutines {
		for i := range perG {
			a.set(fmt.Sprintf("POST partner.test/v1/g%d/%d", g, i), 402)
		}
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				code, err := send(t, tr, "POST", fmt.Sprintf("/v1/g%d/%d", g, i))
				var ce *Error
				if code != 402 && !errors.As(err, &ce) {
					t.Errorf("request = %d, %v; want 402 or refused", code, err)
				}
			}
		}()
	}
	waitFor(t, func() bool { return inFlight.Load() == goroutines })
	close(wave)
	wg.Wait()
	if n, m := countLatches(tr.s.route), tr.s.route.Len(); n != maxKeys || m != maxKeys {
		t.Errorf("%d route latches (counted %d), want %d", n, m, maxKeys)
	}
	if n := countLatches(tr.s.host); n != 1 {
		t.Errorf("%d host latches, want 1", n)
	}
	// Every path that was answered 402 is refused now.
	for g := range goroutines {
		for i := range perG {
			refused(t, tr, "POST", fmt.Sprintf("/v1/g%d/%d", g, i))
		}
	}
}

func TestReset(t *testing.T) {
	var (
		mu     sync.Mutex
		events []string
	)
	tr, a, _ := newTest(Policy{MaxKeys: 1, OnLatch: func(key string, latched bool) {
		mu.Lock()
		events = append(events, fmt.Sprint(key, " ", latched))
		mu.Unlock()
	}})
	latchRoute(t, tr, a, "POST", "/v1/enhancements")
	latchRoute(t, tr, a, "POST", "/v1/exports") // past MaxKeys: the host
	want := []string{"POST https://partner.test", "POST https://partner.test/v1/enhancements"}
	if got := tr.Latched(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Latched() = %q, want %q", got, want)
	}
	tr.Reset()
	if got := tr.Latched(); len(got) != 0 {
		t.Errorf("Latched() after Reset = %q, want none", got)
	}
	a.set("POST partner.test/v1/enhancements", 202)
	a.set("POST partner.test/v1/exports", 202)
	passes(t, tr, "POST", "/v1/enhancements")
	passes(t, tr, "POST", "/v1/exports")
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 4 || events[0] != "POST https://partner.test/v1/enhancements true" ||
		events[1] != "POST https://partner.test true" {
		t.Errorf("OnLatch events = %q, want route and host latched, then both released", events)
	}
	released := fmt.Sprint(events[2:])
	if !strings.Contains(released, "/v1/enhancements false") || !strings.Contains(released, "partner.test false") {
		t.Errorf("OnLatch events after Reset = %q, want both released", events[2:])
	}
}

// Issue 12 item 3 (for this layer): a hook that calls back into the
// Transport, even to change another latch, does not deadlock.
func TestOnLatchCallsBack(t *testing.T) {
	var (
		tr    *Transport
		a     *api
		calls atomic.Int32
	)
	tr, a, _ = newTest(Policy{OnLatch: func(key string, latched bool) {
		calls.Add(1)
		tr.Latched()
		if key == "POST https://partner.test/v1/enhancements" && latched {
			a.set("POST partner.test/v1/exports", 402)
			tr.RoundTrip(must(http.NewRequest("POST", "https://partner.test/v1/exports", nil)))
			tr.Reset()
		}
	}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.set("POST partner.test/v1/enhancements", 402)
		tr.RoundTrip(must(http.NewRequest("POST", "https://partner.test/v1/enhancements", nil)))
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a hook calling back into the Transport deadlocked")
	}
	// enhancements latched, exports latched, both released by Reset.
	if n := calls.Load(); n != 4 {
		t.Errorf("OnLatch called %d times, want 4", n)
	}
}

func must(req *http.Request, err error) *http.Request {
	if err != nil {
		panic(err)
	}
	return req
}

type trackedBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackedBody) Close() error { b.closed.Store(true); return nil }

// The RoundTripper contract: a refused request's body is closed.
func TestRefusalClosesBody(t *testing.T) {
	tr, a, _ := newTest(Policy{})
	latchRoute(t, tr, a, "POST", "/v1/enhancements")
	body := &trackedBody{Reader: strings.NewReader(`{}`)}
	req := must(http.NewRequest("POST", "https://partner.test/v1/enhancements", body))
	if _, err := tr.RoundTrip(req); err == nil {
		t.Fatal("request to a latched route was sent")
	}
	if !body.closed.Load() {
		t.Error("refused request's body left open")
	}

	body = &trackedBody{Reader: strings.NewReader(`{}`)}
	req = &http.Request{Method: "POST", Body: body}
	if _, err := tr.RoundTrip(req); err == nil {
		t.Error("request without URL: no error")
	}
	if !body.closed.Load() {
		t.Error("invalid request's body left open")
	}
}

func TestErrorTyped(t *testing.T) {
	tr, a, clk := newTest(Policy{Cooldown: time.Minute})
	clk.now = time.Now()
	latchRoute(t, tr, a, "POST", "/v1/payments")
	_, err := send(t, tr, "POST", "/v1/payments")
	wrapped := fmt.Errorf("submit: %w", err)
	if !errors.Is(wrapped, apierror.ErrInsufficientCredits) {
		t.Errorf("errors.Is(%v, ErrInsufficientCredits) = false", wrapped)
	}
	var ce *Error
	if !errors.As(wrapped, &ce) || ce.Key != "POST https://partner.test/v1/payments" {
		t.Fatalf("errors.As(*Error) = %+v", ce)
	}
	var ref errclass.Refusal
	if !errors.As(wrapped, &ref) || ref.RetryIn() < 50*time.Second || ref.RetryIn() > time.Minute {
		t.Errorf("Refusal.RetryIn() = %v, want about a minute", ref.RetryIn())
	}
	req := must(http.NewRequest("POST", "https://partner.test/v1/payments", nil))
	if out := errclass.Classify(req, nil, wrapped); !out.Refused || out.Delivery != errclass.NotSent {
		t.Errorf("Classify = %+v, want a refusal, not sent", out)
	}
	msg := err.Error()
	if want := "credits: POST https://partner.test/v1/payments latched after 402 Payment Required; not sent (next probe in "; !strings.HasPrefix(msg, want) {
		t.Errorf("Error() = %q, want prefix %q", msg, want)
	}
	if strings.Contains(strings.ToLower(msg), "insufficient") {
		t.Errorf("Error() = %q assumes what the 402 meant", msg)
	}
	probing := (&Error{Key: "k"}).Error()
	if !strings.HasSuffix(probing, "(a probe is in flight)") || (&Error{}).RetryIn() != 0 {
		t.Errorf("refusal during a probe: %q, RetryIn %v", probing, (&Error{}).RetryIn())
	}
}

// The contract below: (nil, nil) from next becomes an error, never a panic,
// on the plain path and on a probe.
func TestNilResponse(t *testing.T) {
	var nilRT = rtFunc(func(*http.Request) (*http.Response, error) { return nil, nil })
	tr := New(nilRT, Policy{})
	if _, err := send(t, tr, "GET", "/v1/jobs"); !errors.Is(err, errclass.ErrNilResponse) {
		t.Errorf("(nil, nil) below: error = %v, want ErrNilResponse", err)
	}

	tr, a, clk := newTest(Policy{})
	latchRoute(t, tr, a, "POST", "/v1/enhancements")
	clk.Advance(DefaultCooldown)
	tr.next = nilRT
	if _, err := send(t, tr, "POST", "/v1/enhancements"); !errors.Is(err, errclass.ErrNilResponse) {
		t.Errorf("probe answered (nil, nil): error = %v, want ErrNilResponse", err)
	}
	if ce := refused(t, tr, "POST", "/v1/enhancements"); ce.Until.IsZero() {
		t.Error("a probe without a response released the latch")
	}
	tr.next = a
	passes(t, tr, "GET", "/v1/jobs") // a latch is set: the slow path
	tr.next = nilRT
	if _, err := send(t, tr, "GET", "/v1/jobs"); !errors.Is(err, errclass.ErrNilResponse) {
		t.Errorf("(nil, nil) below with a latch set: error = %v, want ErrNilResponse", err)
	}
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type idleCloser struct {
	rtFunc
	closed atomic.Int32
}

func (c *idleCloser) CloseIdleConnections() { c.closed.Add(1) }

// Issue 12 item 11: CloseIdleConnections reaches the RoundTripper below.
func TestCloseIdleConnections(t *testing.T) {
	below := &idleCloser{}
	(&http.Client{Transport: New(below, Policy{})}).CloseIdleConnections()
	if below.closed.Load() != 1 {
		t.Error("CloseIdleConnections not forwarded")
	}
	New(rtFunc(nil), Policy{}).CloseIdleConnections() // no such method below: nothing to do
}

// Key decides what shares a latch; an empty key means the default.
func TestPolicyKey(t *testing.T) {
	tr, a, _ := newTest(Policy{Key: func(r *http.Request) string {
		if strings.HasPrefix(r.URL.Path, "/v1/jobs/") {
			return "GET /v1/jobs/{id}"
		}
		return ""
	}})
	latchRoute(t, tr, a, "GET", "/v1/jobs/1")
	if ce := refused(t, tr, "GET", "/v1/jobs/2"); ce.Key != "GET /v1/jobs/{id}" {
		t.Errorf("refusal key = %q, want the pattern", ce.Key)
	}
	latchRoute(t, tr, a, "GET", "/v1/lists")
	if ce := refused(t, tr, "GET", "/v1/lists"); ce.Key != "GET https://partner.test/v1/lists" {
		t.Errorf("refusal key = %q, want the default key", ce.Key)
	}
	passes(t, tr, "GET", "/v1/exports")
}

// Every Transport of one Middleware shares the latches; New makes its own.
func TestMiddlewareShares(t *testing.T) {
	a := newAPI()
	a.set("POST partner.test/v1/enhancements", 402)
	mw := Middleware(Policy{})
	one, two := mw(a), mw(a)
	send(t, one, "POST", "/v1/enhancements")
	if _, err := send(t, two, "POST", "/v1/enhancements"); !errors.Is(err, apierror.ErrInsufficientCredits) {
		t.Errorf("second Transport of the Middleware: error = %v, want refused", err)
	}
	if _, err := send(t, New(a, Policy{}), "POST", "/v1/enhancements"); err != nil {
		t.Errorf("a Transport of its own: error = %v, want sent", err)
	}
}

func TestNilNext(t *testing.T) {
	if tr := New(nil, Policy{}); tr.next != http.DefaultTransport {
		t.Errorf("New(nil) sends through %T, want http.DefaultTransport", tr.next)
	}
}

// The success path allocates nothing while no latch is set.
func TestNoLatchAllocs(t *testing.T) {
	resp := &http.Response{StatusCode: 200, Body: http.NoBody}
	tr := New(rtFunc(func(*http.Request) (*http.Response, error) { return resp, nil }), Policy{})
	req := must(http.NewRequest("GET", "https://partner.test/v1//jobs/%6A", nil))
	if n := testing.AllocsPerRun(100, func() { tr.RoundTrip(req) }); n != 0 {
		t.Errorf("RoundTrip without a latch: %v allocs, want 0", n)
	}
}

// A request that meets a host latch ready to probe and a route latch that
// still refuses must not keep the host's probe slot.
func TestHostProbeFreedWhenRouteRefuses(t *testing.T) {
	tr, a, clk := newTest(Policy{MaxKeys: 1})
	latchRoute(t, tr, a, "POST", "/v1/enhancements")
	latchRoute(t, tr, a, "POST", "/v1/exports") // the host
	clk.Advance(DefaultCooldown)
	tr.s.mu.Lock()
	l, _ := tr.s.route.Get("POST https://partner.test/v1/enhancements")
	l.until = clk.Now().Add(time.Hour)
	tr.s.mu.Unlock()
	if ce := refused(t, tr, "POST", "/v1/enhancements"); ce.Host {
		t.Errorf("refused by %q, want the route latch", ce.Key)
	}
	a.set("POST partner.test/v1/exports", 200)
	passes(t, tr, "POST", "/v1/exports") // the host's probe
	if got := tr.Latched(); len(got) != 1 || got[0] != "POST https://partner.test/v1/enhancements" {
		t.Errorf("Latched() = %q, want the route alone", got)
	}
}

// Issue 13 item 1: the policy's classifier decides what a probe's answer
// says, as for every other layer: a 409 it calls retryable keeps the latch,
// a 503 it calls a success releases it; a 402 latches whatever it says.
func TestProbeOutcomeFollowsClassifier(t *testing.T) {
	c := errclass.Classifier(errclass.Classify).WithStatus(errclass.Retryable, 409).WithStatus(errclass.Success, 503)
	// A server fault that is not to be retried (a 500 whose server says
	// "X-Should-Retry: false") says nothing about credits either: the
	// latch stays.
	c = func(next errclass.Classifier) errclass.Classifier {
		return func(req *http.Request, resp *http.Response, err error) errclass.Outcome {
			out := next(req, resp, err)
			if resp != nil && resp.StatusCode == 500 {
				out.Class, out.ServerFault = errclass.Permanent, true
			}
			return out
		}
	}(c)
	for _, tc := range []struct {
		status  int
		release bool
	}{{409, false}, {500, false}, {503, true}, {200, true}} {
		tr, a, clk := newTest(Policy{Cooldown: time.Minute, Classifier: c})
		latchRoute(t, tr, a, "POST", "/v1/enhancements")
		const ep = "POST partner.test/v1/enhancements"
		clk.Advance(time.Minute)
		a.set(ep, tc.status)
		if code, err := send(t, tr, "POST", "/v1/enhancements"); err != nil || code != tc.status {
			t.Fatalf("%d: probe = %d, %v", tc.status, code, err)
		}
		a.set(ep, 200)
		if tc.release {
			passes(t, tr, "POST", "/v1/enhancements")
		} else {
			refused(t, tr, "POST", "/v1/enhancements")
		}
	}
}
