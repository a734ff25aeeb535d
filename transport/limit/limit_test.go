package limit

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
)

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// respond answers every request with status and a small body.
func respond(status int) rtFunc {
	return func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok"))}, nil
	}
}

func get(t *testing.T, rt http.RoundTripper, ctx context.Context) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://api.example.com/v1/items", nil)
	if err != nil {
		t.Fatal(err)
	}
	return rt.RoundTrip(req)
}

// queued reports how many requests wait in the queue of key.
func queued(tr *Transport, k key) int {
	g, ok := tr.s.reg.Get(k)
	if !ok {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for w := g.head; w != nil; w = w.next {
		n++
	}
	return n
}

var host = key{scheme: "https", host: "api.example.com"}

// waitQueued waits until n requests queue for host.
func waitQueued(t *testing.T, tr *Transport, n int) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); queued(tr, host) != n; {
		if time.Now().After(deadline) {
			t.Fatalf("queued = %d, want %d", queued(tr, host), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// 200 goroutines through a limit of 5 against a real server: the server
// never sees more than 5 at once, every request completes or is refused
// with a typed error, and no goroutine is left behind (goleak). Mutation:
// a release that does not decrement inflight stalls the queue (refusals
// everywhere); a tryAcquire that ignores the limit lets more through.
func TestManyGoroutines(t *testing.T) {
	var now, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := now.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(time.Millisecond)
		now.Add(-1)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	base := srv.Client().Transport.(*http.Transport)
	defer base.CloseIdleConnections()
	for _, maxWait := range []time.Duration{10 * time.Second, 5 * time.Millisecond} {
		peak.Store(0)
		tr := New(base, Policy{Max: 5, MaxWait: maxWait})
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		for range 200 {
			wg.Go(func() {
				req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
				resp, err := tr.RoundTrip(req)
				switch {
				case err == nil:
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ok.Add(1)
				case errors.Is(err, ErrLimited):
					refused.Add(1)
				default:
					t.Errorf("RoundTrip() error = %v, want nil or ErrLimited", err)
				}
			})
		}
		wg.Wait()
		if p := peak.Load(); p > 5 || p < 2 {
			t.Errorf("MaxWait %v: peak in flight at the server = %d, want 2..5", maxWait, p)
		}
		if ok.Load()+refused.Load() != 200 {
			t.Errorf("MaxWait %v: %d ok + %d refused, want 200", maxWait, ok.Load(), refused.Load())
		}
		if maxWait > time.Second && ok.Load() != 200 {
			t.Errorf("MaxWait %v: %d ok, want all 200", maxWait, ok.Load())
		}
		if l, n, _ := tr.Limit(strings.Replace(srv.URL, "http://", "http://", 1)); n != 0 || l != 5 {
			t.Errorf("MaxWait %v: after the run limit %d, in flight %d; want 5, 0", maxWait, l, n)
		}
	}
}

// A request that finds no slot within MaxWait is refused with an *Error
// that is an errclass.Refusal, its body closed, nothing sent, OnRefuse
// told; with a negative MaxWait at once. An unread, unclosed body holds
// its slot. Mutation: releasing the slot when headers arrive lets the
// second request through.
func TestMaxWaitRefusal(t *testing.T) {
	var sent atomic.Int64
	next := rtFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		return respond(200)(r)
	})
	for _, maxWait := range []time.Duration{20 * time.Millisecond, -1} {
		sent.Store(0)
		var refusedKey string
		var refusedWait time.Duration
		tr := New(next, Policy{Max: 1, MaxWait: maxWait, OnRefuse: func(_ context.Context, k string, d time.Duration) {
			refusedKey, refusedWait = k, d
		}})
		first, err := get(t, tr, context.Background())
		if err != nil {
			t.Fatal(err)
		}
		body := &closeSpy{Reader: strings.NewReader("x")}
		req, _ := http.NewRequest(http.MethodPost, "https://API.example.com:443/v1/other", body)
		_, err = tr.RoundTrip(req)
		var le *Error
		if !errors.As(err, &le) || !errors.Is(err, ErrLimited) {
			t.Fatalf("MaxWait %v: RoundTrip() error = %v, want *Error", maxWait, err)
		}
		if le.Key != "https://api.example.com" || le.Limit != 1 || refusedKey != le.Key || refusedWait != le.Waited {
			t.Errorf("MaxWait %v: error %+v, OnRefuse(%q, %v)", maxWait, le, refusedKey, refusedWait)
		}
		if maxWait > 0 && le.Waited < maxWait {
			t.Errorf("Waited = %v, want at least %v", le.Waited, maxWait)
		}
		if out := errclass.Classify(req, nil, err); !out.Refused || out.RetryAfter <= 0 {
			t.Errorf("Classify = %+v, want Refused with a RetryAfter", out)
		}
		if !body.closed.Load() || sent.Load() != 1 {
			t.Errorf("request body closed %v, sent %d; want true, 1", body.closed.Load(), sent.Load())
		}
		first.Body.Close()
		if resp, err := get(t, tr, context.Background()); err != nil {
			t.Errorf("after the first body closed: %v", err)
		} else {
			resp.Body.Close()
		}
	}
}

// With MaxWait left zero a request queues for 1 s, then is refused: the
// README's default. (It waits that second in real time.)
func TestDefaultMaxWait1s(t *testing.T) {
	tr := New(respond(200), Policy{Max: 1})
	first, err := get(t, tr, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Body.Close()
	_, err = get(t, tr, context.Background())
	var le *Error
	if !errors.As(err, &le) || le.Waited < time.Second || le.Waited >= 2*time.Second {
		t.Errorf("with every slot taken: error %v; want an *Error after queueing 1s", err)
	}
}

// A hedge that finds every slot taken is refused at once instead of
// queueing (it would add load where the limit is full and wait behind the
// requests it means to overtake); an ordinary attempt in the same state
// queues. Mutation: dropping the hedge check queues the hedge (waitQueued
// sees it, and it waits out MaxWait).
func TestHedgeNeverQueues(t *testing.T) {
	tr := New(respond(200), Policy{Max: 1, MaxWait: 5 * time.Second})
	first, err := get(t, tr, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hedge := errclass.WithAttempt(context.Background(), errclass.Attempt{Number: 2, Hedge: true})
	_, err = get(t, tr, hedge)
	var le *Error
	if !errors.As(err, &le) || le.Waited >= time.Second || queued(tr, host) != 0 {
		t.Fatalf("hedge with every slot taken: %v (queued %d), want an *Error at once", err, queued(tr, host))
	}
	if !strings.Contains(err.Error(), "hedge") {
		t.Errorf("refusal %q does not say the hedge does not queue", err)
	}

	// A retry (not a hedge) queues and gets the slot when it frees.
	retry := errclass.WithAttempt(context.Background(), errclass.Attempt{Number: 2})
	done := make(chan error, 1)
	go func() {
		resp, err := get(t, tr, retry)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitQueued(t, tr, 1)
	first.Body.Close()
	if err := <-done; err != nil {
		t.Errorf("queued retry: %v", err)
	}
}

type closeSpy struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeSpy) Close() error { c.closed.Store(true); return nil }

// A request whose context ends while it queues returns the context's
// error, not an *Error, and leaves the queue: the next request gets the
// freed slot at once. Mutation: not removing the waiter from the queue
// makes the slot go to the departed request (the last get refused).
func TestCancelWhileQueued(t *testing.T) {
	tr := New(respond(200), Policy{Max: 1, MaxWait: 5 * time.Second})
	first, _ := get(t, tr, context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := get(t, tr, ctx)
		done <- err
	}()
	waitQueued(t, tr, 1)
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrLimited) {
		t.Fatalf("RoundTrip() error = %v, want context.Canceled", err)
	}
	if n := queued(tr, host); n != 0 {
		t.Fatalf("queued after cancel = %d, want 0", n)
	}
	first.Body.Close()
	tr.s.p.MaxWait = -1 // the slot must be free now, no waiting
	resp, err := get(t, tr, context.Background())
	if err != nil {
		t.Fatalf("after cancel: %v", err)
	}
	resp.Body.Close()
}

// Waiters get slots in the order they came. Mutation: granting the tail
// first.
func TestFIFO(t *testing.T) {
	tr := New(respond(200), Policy{Max: 1, MaxWait: 5 * time.Second})
	first, _ := get(t, tr, context.Background())
	order := make(chan int, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			resp, err := get(t, tr, context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			order <- i
			resp.Body.Close()
		})
		waitQueued(t, tr, i+1)
	}
	first.Body.Close()
	wg.Wait()
	close(order)
	want := 0
	for i := range order {
		if i != want {
			t.Fatalf("served %d, want %d", i, want)
		}
		want++
	}
}

var errBoom = errors.New("boom")

type failingBody struct{}

func (failingBody) Read([]byte) (int, error) { return 0, errBoom }
func (failingBody) Close() error             { return nil }

// Every way a request can end gives its slot back, exactly once: the body
// read to EOF, failed, closed twice; an error from below; a (nil, nil)
// from below; a panic below; a response without a body. Mutation: a
// missing release on any path leaves the limit-1 key full (the next
// request refused); a double release makes inflight negative.
func TestSlotRelease(t *testing.T) {
	cases := []struct {
		name string
		next rtFunc
		use  func(*http.Response)
	}{
		{"eof", respond(200), func(r *http.Response) { io.Copy(io.Discard, r.Body) }},
		{"close twice", respond(200), func(r *http.Response) { r.Body.Close(); r.Body.Close() }},
		{"read error", func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Body: failingBody{}}, nil
		}, func(r *http.Response) { r.Body.Read(make([]byte, 1)) }},
		{"no body", func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 204, Body: http.NoBody}, nil
		}, nil},
		{"error", func(*http.Request) (*http.Response, error) { return nil, errBoom }, nil},
		{"nil nil", func(*http.Request) (*http.Response, error) { return nil, nil }, nil},
		{"panic", func(*http.Request) (*http.Response, error) { panic(errBoom) }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := New(c.next, Policy{Max: 1, MaxWait: -1})
			for range 3 {
				resp, err := roundTripRecover(t, tr)
				if c.name == "nil nil" && !errors.Is(err, errclass.ErrNilResponse) {
					t.Errorf("(nil, nil) below: error = %v, want ErrNilResponse", err)
				}
				if errors.Is(err, ErrLimited) {
					t.Fatalf("slot not released: %v", err)
				}
				if resp != nil && c.use != nil {
					c.use(resp)
				}
			}
			if _, n, _ := tr.Limit("https://api.example.com"); n != 0 {
				t.Errorf("in flight = %d, want 0", n)
			}
		})
	}
}

func roundTripRecover(t *testing.T, tr *Transport) (resp *http.Response, err error) {
	defer func() {
		if r := recover(); r != nil && r != errBoom {
			panic(r)
		}
	}()
	return get(t, tr, context.Background())
}

// An adaptive limit halves on a 503 (once for a burst of them sent before
// the decrease), not below MinLimit, and climbs back by one per limit's
// worth of successes, up to Max. Mutation: halving on every 503 of the
// burst takes the limit to MinLimit at once; never raising it.
func TestAdaptive(t *testing.T) {
	var status atomic.Int64
	status.Store(503)
	next := rtFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: int(status.Load()), Body: http.NoBody}, nil
	})
	// A blocking stub, to have 8 requests in flight in one generation.
	release := make(chan struct{})
	var inside sync.WaitGroup
	inside.Add(8)
	var calls atomic.Int64
	blocking := rtFunc(func(r *http.Request) (*http.Response, error) {
		if calls.Add(1) <= 8 {
			inside.Done()
			<-release
		}
		return next(r)
	})
	tr := New(blocking, Policy{Max: 8, MinLimit: 2, Adaptive: true, MaxWait: -1})
	lim := func() int { l, _, _ := tr.Limit("https://api.example.com"); return l }
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { get(t, tr, context.Background()) })
	}
	inside.Wait()
	close(release)
	wg.Wait()
	if l := lim(); l != 4 {
		t.Fatalf("after a burst of 8 503s: limit = %d, want 4 (halved once)", l)
	}
	for range 5 {
		get(t, tr, context.Background())
	}
	if l := lim(); l != 2 {
		t.Fatalf("after more 503s: limit = %d, want MinLimit 2", l)
	}
	status.Store(200)
	// 2 successes raise it to 3, 3 more to 4, ... to Max 8.
	for range 2 + 3 + 4 + 5 + 6 + 7 {
		get(t, tr, context.Background())
	}
	if l := lim(); l != 8 {
		t.Fatalf("after successes: limit = %d, want Max 8", l)
	}
	for range 20 {
		get(t, tr, context.Background())
	}
	if l := lim(); l != 8 {
		t.Fatalf("limit = %d, want it to stay at Max 8", l)
	}
	status.Store(429)
	get(t, tr, context.Background())
	if l := lim(); l != 4 {
		t.Fatalf("after a 429: limit = %d, want 4", l)
	}
}

// With a slot free and a response without a body, a request allocates
// nothing; Max 0 passes requests through. Mutation: building the key as a
// string, or queueing a waiter, on the uncontended path.
func TestUncontendedAllocs(t *testing.T) {
	shared := &http.Response{StatusCode: 200, Body: http.NoBody}
	next := rtFunc(func(*http.Request) (*http.Response, error) { return shared, nil })
	req := httptest.NewRequest(http.MethodGet, "https://api.example.com/v1/items", nil)
	for _, p := range []Policy{{Max: 4}, {Max: 4, Scope: ScopeRoute}, {Max: 4, Adaptive: true}, {}} {
		tr := New(next, p)
		if n := testing.AllocsPerRun(200, func() { tr.RoundTrip(req) }); n != 0 {
			t.Errorf("%+v: %v allocations per request, want 0", p, n)
		}
	}
}

// Scope route keys by the cleaned path, or Route's name; host keys drop
// the default port and case.
func TestKeys(t *testing.T) {
	cases := []struct {
		url  string
		p    Policy
		want string
	}{
		{"HTTPS://API.example.com:443/v1/x", Policy{}, "https://api.example.com"},
		{"http://h:8080//v1/./jobs/", Policy{Scope: ScopeRoute}, "http://h:8080/v1/jobs"},
		{"http://h", Policy{Scope: ScopeRoute}, "http://h/"},
		{"http://h/v1/jobs/7", Policy{Scope: ScopeRoute, Route: func(*http.Request) string { return "/v1/jobs/{id}" }}, "http://h/v1/jobs/{id}"},
	}
	for _, c := range cases {
		s := newStore(c.p.withDefaults())
		req := httptest.NewRequest(http.MethodGet, c.url, nil)
		if got := s.key(req).String(); got != c.want {
			t.Errorf("key(%s) = %q, want %q", c.url, got, c.want)
		}
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	shared := &http.Response{StatusCode: 200, Body: http.NoBody}
	next := rtFunc(func(*http.Request) (*http.Response, error) { return shared, nil })
	req := httptest.NewRequest(http.MethodGet, "https://api.example.com/v1/items", nil)
	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{{"base", next}, {"limit", New(next, Policy{Max: 1 << 20})}, {"adaptive", New(next, Policy{Max: 1 << 20, Adaptive: true})}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.rt.RoundTrip(req)
			}
		})
	}
}

// An OnWait hook that panics, after its request was granted a slot, gives
// the slot back: the panic goes on to the caller, but the key is not left
// one slot short for good (with Max 1, every later request refused).
// Mutation: dropping the release on OnWait's panic leaves inflight at 1.
func TestPanickingOnWaitGivesSlotBack(t *testing.T) {
	var panics atomic.Bool
	panics.Store(true)
	tr := New(respond(200), Policy{Max: 1, MaxWait: time.Second, OnWait: func(context.Context, string, time.Duration) {
		if panics.Load() {
			panic("hook bug")
		}
	}})
	first, err := get(t, tr, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan any)
	go func() {
		defer func() { done <- recover() }()
		get(t, tr, context.Background())
	}()
	waitQueued(t, tr, 1)
	first.Body.Close()
	if p := <-done; p == nil {
		t.Fatal("OnWait's panic did not reach the caller")
	}
	if _, inflight, _ := tr.Limit("https://api.example.com"); inflight != 0 {
		t.Fatalf("in flight after the panic = %d, want 0", inflight)
	}
	panics.Store(false)
	resp, err := get(t, tr, context.Background())
	if err != nil {
		t.Fatalf("after the panic: %v, want a slot", err)
	}
	resp.Body.Close()
}
