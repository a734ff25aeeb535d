package breaker

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/internal/faultserver"
	"github.com/resilient-http/resilient/transport/timeout"
)

// rtFunc adapts a function to http.RoundTripper.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// byHost answers 500 for hosts in bad, 200 otherwise.
func byHost(bad ...string) http.RoundTripper {
	return rtFunc(func(r *http.Request) (*http.Response, error) {
		status := http.StatusOK
		for _, h := range bad {
			if r.URL.Host == h {
				status = http.StatusInternalServerError
			}
		}
		return &http.Response{StatusCode: status, Body: http.NoBody, Request: r}, nil
	})
}

func roundTrip(t *testing.T, rt http.RoundTripper, url string) error {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

type change struct {
	name     string
	from, to State
}

// A hook that sends a request through the same Transport, changing another
// breaker's state, then reads States while that change is pending: both
// must return, and both changes be delivered in order.
func TestStateChangeHookMayCallBack(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []change
		tr   *Transport
	)
	hook := func(name string, from, to State) {
		mu.Lock()
		seen = append(seen, change{name, from, to})
		mu.Unlock()
		if name == "http://a.test" && to == StateOpen {
			_ = roundTrip(t, tr, "http://b.test/") // trips b: a change while a's is delivered
			if st := tr.States(); st["http://b.test"] != StateOpen {
				t.Errorf("States() in the hook = %v, want b open", st)
			}
		}
	}
	tr = New(byHost("a.test", "b.test"), Policy{ConsecutiveFailures: 1, OpenTimeout: time.Hour, OnStateChange: hook})
	faultserver.Within(t, 5*time.Second, func() {
		_ = roundTrip(t, tr, "http://a.test/")
		if err := roundTrip(t, tr, "http://c.test/"); err != nil {
			t.Errorf("healthy host after the hook: %v", err)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	want := []change{{"http://a.test", StateClosed, StateOpen}, {"http://b.test", StateClosed, StateOpen}}
	if len(seen) != len(want) || seen[0] != want[0] || seen[1] != want[1] {
		t.Errorf("changes delivered = %v, want %v", seen, want)
	}
}

// While a hook is busy on one goroutine, requests on others, to healthy
// hosts and to a host whose breaker changes state, never wait for it.
func TestBusyHookBlocksNoRequest(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var seen []change
	hook := func(name string, from, to State) {
		mu.Lock()
		seen = append(seen, change{name, from, to})
		mu.Unlock()
		once.Do(func() { close(entered); <-release })
	}
	tr := New(byHost("a.test", "b.test"), Policy{ConsecutiveFailures: 1, OpenTimeout: time.Hour, OnStateChange: hook})
	hookDone := make(chan struct{})
	go func() { defer close(hookDone); _ = roundTrip(t, tr, "http://a.test/") }()
	<-entered
	faultserver.Within(t, 5*time.Second, func() {
		_ = roundTrip(t, tr, "http://b.test/") // a change of its own, left to the busy deliverer
		for range 3 {
			if err := roundTrip(t, tr, "http://c.test/"); err != nil {
				t.Errorf("healthy host: %v", err)
			}
		}
		_ = tr.States()
	})
	close(release)
	<-hookDone
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[1].name != "http://b.test" {
		t.Errorf("changes delivered = %v, want a's then b's, by the busy deliverer", seen)
	}
}

// A hook that panics does not stop later deliveries.
func TestPanickingHookDoesNotStopDeliveries(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	hook := func(name string, from, to State) {
		mu.Lock()
		seen = append(seen, name)
		mu.Unlock()
		if name == "http://a.test" {
			panic("hook bug")
		}
	}
	tr := New(byHost("a.test", "b.test"), Policy{ConsecutiveFailures: 1, OpenTimeout: time.Hour, OnStateChange: hook})
	func() {
		defer func() { _ = recover() }()
		_ = roundTrip(t, tr, "http://a.test/")
	}()
	faultserver.Within(t, 5*time.Second, func() { _ = roundTrip(t, tr, "http://b.test/") })
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[1] != "http://b.test" {
		t.Errorf("hooks called for %v, want a then b", seen)
	}
}

// hangUntilCanceled answers 500 until fail is false, then hangs every
// request until its context ends.
type hangUntilCanceled struct {
	mu   sync.Mutex
	fail bool
}

func (h *hangUntilCanceled) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	fail := h.fail
	h.mu.Unlock()
	if fail {
		return &http.Response{StatusCode: 500, Body: http.NoBody, Request: r}, nil
	}
	<-r.Context().Done()
	return nil, context.Cause(r.Context())
}

// A half-open probe that hangs is cut by ProbeTimeout, counts as a failure
// (the breaker opens again) and frees the probe slot.
func TestHalfOpenProbeIsBounded(t *testing.T) {
	base := &hangUntilCanceled{fail: true}
	tr := New(base, Policy{ConsecutiveFailures: 1, OpenTimeout: 10 * time.Millisecond, ProbeTimeout: 50 * time.Millisecond})
	_ = roundTrip(t, tr, "http://a.test/")
	if st := tr.States()["http://a.test"]; st != StateOpen {
		t.Fatalf("state after a 500 = %v, want open", st)
	}
	base.mu.Lock()
	base.fail = false
	base.mu.Unlock()
	time.Sleep(20 * time.Millisecond) // past OpenTimeout: the next request probes
	var err error
	faultserver.Within(t, 5*time.Second, func() { err = roundTrip(t, tr, "http://a.test/") })
	if !errors.Is(err, ErrProbeTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("probe error = %v, want ErrProbeTimeout and DeadlineExceeded", err)
	}
	if st := tr.States()["http://a.test"]; st != StateOpen {
		t.Errorf("state after a cut probe = %v, want open again", st)
	}
}

// stallBody sends one byte, then blocks until its request's context ends.
type stallBody struct {
	ctx  context.Context
	sent bool
}

func (b *stallBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		p[0] = 'x'
		return 1, nil
	}
	<-b.ctx.Done()
	return 0, context.Cause(b.ctx)
}
func (b *stallBody) Close() error { return nil }

// 200s whose bodies then stall and are cut by the idle bound of a layer
// below count as failures, in a row: fault matrix row 19. (Counting the
// headers as a success and the cut as a failure would never trip a run of
// three.) A body read to its end counts as a success when it ends.
func TestBodyCutAfterHeadersCountsAsFailure(t *testing.T) {
	stall := true
	stalling := rtFunc(func(r *http.Request) (*http.Response, error) {
		if !stall {
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
		}
		return &http.Response{StatusCode: 200, Body: &stallBody{ctx: r.Context()}, Request: r}, nil
	})
	idle := rtFunc(func(r *http.Request) (*http.Response, error) {
		return timeout.New(stalling, timeout.Policy{BodyIdle: 20 * time.Millisecond, BodyIdleErr: errors.New("idle")}).RoundTrip(r)
	})
	tr := New(idle, Policy{ConsecutiveFailures: 3, OpenTimeout: time.Hour})
	clock := withClock(tr)
	get := func() {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://a.test/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		faultserver.Within(t, 5*time.Second, func() { io.ReadAll(resp.Body) })
		resp.Body.Close()
	}
	stall = false
	get()
	if ok, fail := tr.registry().get(key{scheme: "http", host: "a.test"}).win.counts(clock.read()); ok != 1 || fail != 0 {
		t.Fatalf("window after a body read whole = %d ok, %d failed; want 1, 0", ok, fail)
	}
	stall = true
	for i := range 3 {
		if st := tr.States()["http://a.test"]; st != StateClosed {
			t.Fatalf("state before cut body %d = %v, want closed", i+1, st)
		}
		get()
	}
	if st := tr.States()["http://a.test"]; st != StateOpen {
		t.Errorf("state after three cut bodies = %v, want open (three failures in a row)", st)
	}
}

// A RoundTripper below that returns (nil, nil) gives an error, not a panic
// or a (nil, nil) of ours.
func TestNilResponseNilErrorBelow(t *testing.T) {
	tr := New(rtFunc(func(*http.Request) (*http.Response, error) { return nil, nil }), Policy{})
	req, _ := http.NewRequest("GET", "http://a.test/", nil)
	resp, err := tr.RoundTrip(req)
	if resp != nil || err == nil {
		t.Fatalf("RoundTrip() = %v, %v; want nil and an error", resp, err)
	}
}

// CloseIdleConnections reaches the RoundTripper below.
func TestCloseIdleConnectionsForwarded(t *testing.T) {
	base := &idleCounter{}
	(&http.Client{Transport: New(base, Policy{})}).CloseIdleConnections()
	if base.n != 1 {
		t.Errorf("CloseIdleConnections calls below = %d, want 1", base.n)
	}
}

type idleCounter struct{ n int }

func (c *idleCounter) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("unused")
}
func (c *idleCounter) CloseIdleConnections() { c.n++ }

// A FailureRatio that is NaN (set in code; files reject it) means the
// default, as zero and negative ratios do: NaN compares false with every
// ratio, so a breaker keeping it would never trip on its failure rate.
func TestNaNFailureRatioMeansDefault(t *testing.T) {
	for _, r := range []float64{math.NaN(), 0, -1} {
		if got := (Policy{FailureRatio: r}).withDefaults().FailureRatio; got != DefaultFailureRatio {
			t.Errorf("FailureRatio %v became %v, want %v", r, got, DefaultFailureRatio)
		}
	}
}

// A hook that panics on the request that tripped the breaker takes the
// response away from the caller: its body is closed, not left holding a
// connection. Mutation: flushing without closing the body on a panic.
func TestPanickingHookClosesResponseBody(t *testing.T) {
	body := &closeCounter{Reader: strings.NewReader("down")}
	next := rtFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 500, Body: body, Request: r}, nil
	})
	tr := New(next, Policy{ConsecutiveFailures: 1, OpenTimeout: time.Hour, OnStateChange: func(string, State, State) { panic("hook bug") }})
	req, _ := http.NewRequest("GET", "http://a.test/", nil)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the hook's panic did not reach the caller")
			}
		}()
		tr.RoundTrip(req)
	}()
	if n := body.closed.Load(); n != 1 {
		t.Fatalf("response body closed %d times after the hook's panic, want 1", n)
	}
}
