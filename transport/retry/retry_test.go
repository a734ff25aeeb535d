package retry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/resilient-http/resilient/transport/errclass"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// step is one scripted answer of a test server.
type step struct {
	status int
	header http.Header
	body   string
}

// script is an httptest server answering with a queue of steps (the last
// one repeats), recording what it received.
type script struct {
	*httptest.Server
	mu     sync.Mutex
	steps  []step
	hits   int
	bodies []string
	keys   []string
	conns  atomic.Int32
}

func newScript(t *testing.T, steps ...step) *script {
	t.Helper()
	s := &script{steps: steps}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *script) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	i := min(s.hits, len(s.steps)-1)
	s.hits++
	s.bodies = append(s.bodies, string(body))
	s.keys = append(s.keys, r.Header.Get("Idempotency-Key"))
	st := s.steps[i]
	s.mu.Unlock()
	for k, v := range st.header {
		w.Header()[k] = v
	}
	w.WriteHeader(st.status)
	io.WriteString(w, st.body)
}

// received returns the bodies and Idempotency-Keys of the requests seen.
func (s *script) received() (bodies, keys []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...), append([]string(nil), s.keys...)
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

// fakeTime replaces the Transport's clock and sleep: sleeping advances the
// clock at once and records the wait.
type fakeTime struct {
	mu     sync.Mutex
	now    time.Duration // since epoch
	sleeps []time.Duration
}

func newFakeTime() *fakeTime { return &fakeTime{now: monotonic()} }

func (f *fakeTime) Now() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTime) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sleeps = append(f.sleeps, d)
	f.now += d
	return ctx.Err()
}

func (f *fakeTime) Advance(d time.Duration) {
	f.mu.Lock()
	f.now += d
	f.mu.Unlock()
}

func (f *fakeTime) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// newFake returns a Transport over next whose time is ft.
func newFake(next http.RoundTripper, p Policy, ft *fakeTime) *Transport {
	tr := New(next, p)
	tr.clock, tr.sleep = ft.Now, ft.Sleep
	return tr
}

// fast is a policy whose real waits are short enough for tests.
var fast = Policy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

// mustRoundTrip sends req through rt, failing the test on error, and
// closes the response body.
func mustRoundTrip(t *testing.T, rt http.RoundTripper, req *http.Request) *http.Response {
	t.Helper()
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip() error = %v", err)
	}
	resp.Body.Close()
	return resp
}

func client(rt http.RoundTripper) *http.Client { return &http.Client{Transport: rt} }

func mustDo(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("Do() error = %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, string(b)
}

func TestRetryAfterHonoured(t *testing.T) {
	srv := newScript(t,
		step{status: 429, header: http.Header{"Retry-After": {"2"}}, body: `{"detail":"slow down"}`},
		step{status: 429, header: http.Header{"Retry-After": {"3"}}, body: `{"detail":"slow down"}`},
		step{status: 200, body: "ok"},
	)
	ft := newFakeTime()
	tr := newFake(nil, Policy{}, ft)
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/enhancements", strings.NewReader(`{"persons":[]}`))
	resp, body := mustDo(t, client(tr), req)
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("Do() = %d %q, want 200 ok", resp.StatusCode, body)
	}
	if n := srv.count(); n != 3 {
		t.Errorf("server saw %d attempts, want 3", n)
	}
	sleeps := ft.Sleeps()
	if len(sleeps) != 2 || sleeps[0] < 2*time.Second || sleeps[1] < 3*time.Second {
		t.Errorf("waits = %v, want at least [2s 3s]", sleeps)
	}
	if sleeps[0] > 2*time.Second || sleeps[1] > 3*time.Second {
		t.Errorf("waits = %v: backoff of 100ms should not exceed the hint", sleeps)
	}
}

func TestServerErrorRetriedOnGet(t *testing.T) {
	srv := newScript(t, step{status: 500, body: `{"detail":"boom"}`}, step{status: 200, body: "fine"})
	tr := New(srv.Client().Transport, fast)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/jobs/1", nil)
	resp, body := mustDo(t, client(tr), req)
	if resp.StatusCode != 200 || body != "fine" || srv.count() != 2 {
		t.Errorf("Do() = %d %q after %d attempts, want 200 fine after 2", resp.StatusCode, body, srv.count())
	}
}

func TestPermanentStatusSentOnce(t *testing.T) {
	for _, code := range []int{400, 401, 402, 403, 404, 409, 422, 501} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			detail := fmt.Sprintf(`{"detail":"status %d"}`, code)
			srv := newScript(t, step{status: code, body: detail})
			tr := New(srv.Client().Transport, fast)
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				req, _ := http.NewRequest(method, srv.URL, strings.NewReader("{}"))
				resp, body := mustDo(t, client(tr), req)
				if resp.StatusCode != code || body != detail {
					t.Errorf("%s: Do() = %d %q, want %d %q", method, resp.StatusCode, body, code, detail)
				}
			}
			if n := srv.count(); n != 2 {
				t.Errorf("server saw %d requests for 2 calls, want 2 (no retries)", n)
			}
		})
	}
}

func TestBodyReplayedIntact(t *testing.T) {
	// Every attempt on a new connection: on a reused one, net/http itself
	// rewinds a body with GetBody when its write fails, which hid a broken
	// replay (replayBody returning req.Body instead of GetBody()).
	payload := bytes.Repeat([]byte(`{"name":"p"},`), 5000)
	srv := newScript(t, step{status: 500}, step{status: 503}, step{status: 201})
	base := &http.Transport{DisableKeepAlives: true}
	defer base.CloseIdleConnections()
	tr := New(base, fast)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(payload))
	req.Header.Set("Idempotency-Key", "key-1")
	resp, _ := mustDo(t, client(tr), req)
	if resp.StatusCode != 201 {
		t.Fatalf("status = %d, want 201", resp.StatusCode)
	}
	if n := srv.conns.Load(); n != 3 {
		t.Errorf("server saw %d connections for 3 attempts, want 3 (one each)", n)
	}
	want := sha256.Sum256(payload)
	bodies, keys := srv.received()
	if len(bodies) != 3 {
		t.Fatalf("server saw %d attempts, want 3", len(bodies))
	}
	for i, b := range bodies {
		if sha256.Sum256([]byte(b)) != want {
			t.Errorf("attempt %d body differs from the original (%d bytes, want %d)", i+1, len(b), len(payload))
		}
		if keys[i] != "key-1" {
			t.Errorf("attempt %d Idempotency-Key = %q, want key-1", i+1, keys[i])
		}
	}
}

func TestCallerRequestUnchanged(t *testing.T) {
	srv := newScript(t, step{status: 500}, step{status: 200})
	var seen []*http.Request
	spy := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		seen = append(seen, r)
		return srv.Client().Transport.RoundTrip(r)
	})
	tr := New(spy, fast)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/p?q=1", strings.NewReader("abc"))
	req.Header.Set("X-Test", "1")
	ctx := req.Context()
	before := *req
	mustRoundTrip(t, tr, req)
	if len(seen) != 2 {
		t.Fatalf("%d attempts, want 2", len(seen))
	}
	if seen[0] != req {
		t.Error("first attempt was not the caller's request itself")
	}
	if seen[1] == req {
		t.Error("second attempt reused the caller's request")
	}
	if req.Context() != ctx || req.Body != before.Body || req.URL != before.URL ||
		len(req.Header) != 1 || req.Header.Get("X-Test") != "1" || req.Method != http.MethodPost {
		t.Error("caller's request was modified")
	}
	if a := errclass.AttemptFromContext(seen[1].Context()); a.Number != 2 || a.Delay <= 0 {
		t.Errorf("second attempt's Attempt = %+v, want Number 2 with a delay", a)
	}
	if a := errclass.AttemptFromContext(seen[0].Context()); a.Number != 1 {
		t.Errorf("first attempt's Attempt = %+v, want Number 1", a)
	}
}

func TestExhaustedReturnsLastResponse(t *testing.T) {
	srv := newScript(t, step{status: 500, body: "first"}, step{status: 502, body: "second"}, step{status: 503, body: `{"detail":"last"}`})
	tr := New(srv.Client().Transport, fast)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, body := mustDo(t, client(tr), req)
	if resp.StatusCode != 503 || body != `{"detail":"last"}` {
		t.Errorf("Do() = %d %q, want the last response 503 with its body", resp.StatusCode, body)
	}
	if srv.count() != DefaultMaxAttempts {
		t.Errorf("attempts = %d, want %d", srv.count(), DefaultMaxAttempts)
	}
}

func TestConnectionsReused(t *testing.T) {
	var steps []step
	for range 50 {
		steps = append(steps, step{status: 500, body: strings.Repeat("x", 4096)})
	}
	srv := newScript(t, append(steps, step{status: 200, body: "ok"})...)
	ft := newFakeTime()
	tr := newFake(srv.Client().Transport, Policy{MaxAttempts: 51, MaxElapsed: time.Hour}, ft)
	// The mechanism, not the bound (TestDrainBoundKeepsReceivedBody): on a
	// loaded CI machine the end of a 4 KiB body can come 100ms late.
	tr.drainWait = 10 * time.Second
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, _ := mustDo(t, client(tr), req)
	if resp.StatusCode != 200 || srv.count() != 51 {
		t.Fatalf("status %d after %d attempts, want 200 after 51", resp.StatusCode, srv.count())
	}
	// Mostly 1. net/http itself drops a connection now and then on a
	// loaded machine (its writer must confirm the request within 50ms,
	// maxWriteWaitBeforeConnReuse); without draining it is 51.
	if n := srv.conns.Load(); n > 5 {
		t.Errorf("server saw %d connections for 51 attempts, want 1 (a few on a loaded machine)", n)
	}
}

// endless is a response body that never ends, counting bytes read.
type endless struct {
	read   atomic.Int64
	closed atomic.Bool
}

func (e *endless) Read(p []byte) (int, error) { e.read.Add(int64(len(p))); return len(p), nil }
func (e *endless) Close() error               { e.closed.Store(true); return nil }

func TestDiscardIsBounded(t *testing.T) {
	body := &endless{}
	calls := 0
	stub := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		calls++
		if calls == 1 {
			return &http.Response{StatusCode: 500, Header: http.Header{}, ContentLength: -1, Body: body}, nil
		}
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
	})
	tr := newFake(stub, Policy{}, newFakeTime())
	resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("RoundTrip() = %v, %v", resp, err)
	}
	if !body.closed.Load() {
		t.Error("discarded body was not closed")
	}
	// The README's bound, written out: 64 KiB, read in full when it comes
	// at once.
	if n := body.read.Load(); n != 64<<10 {
		t.Errorf("read %d bytes of a discarded endless body, want 64 KiB (%d)", n, 64<<10)
	}
}

func TestCancelStopsBackoff(t *testing.T) {
	srv := newScript(t, step{status: 503})
	tr := New(srv.Client().Transport, Policy{BaseDelay: 20 * time.Second, MaxDelay: 20 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	go func() {
		for srv.count() == 0 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(5 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	_, err := tr.RoundTrip(req)
	elapsed := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("RoundTrip() error = %v, want context.Canceled", err)
	}
	var rerr *Error
	if !errors.As(err, &rerr) || rerr.Attempts != 1 {
		t.Errorf("RoundTrip() error = %#v, want *Error with 1 attempt", err)
	}
	// The backoff was at least 10s; returning long before proves the wait
	// watched the context.
	if elapsed > 2*time.Second {
		t.Errorf("RoundTrip() took %v after cancel, want it to stop the 10s+ wait", elapsed)
	}
}

func TestDeadlineShorterThanWait(t *testing.T) {
	srv := newScript(t, step{status: 429, header: http.Header{"Retry-After": {"5"}}, body: "busy"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ft := newFakeTime()
	tr := newFake(srv.Client().Transport, Policy{}, ft)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip() error = %v, want the 429 response", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 429 || string(b) != "busy" || srv.count() != 1 || len(ft.Sleeps()) != 0 {
		t.Errorf("got %d %q after %d attempts and waits %v; want 429 busy at once", resp.StatusCode, b, srv.count(), ft.Sleeps())
	}
}

func TestDeadlineReturnsLastError(t *testing.T) {
	// The deadline is a minute away, far from expiring while the test runs:
	// a 1ms one could pass before the dial error was classified (about one
	// run in three under -race), which then read as the caller's own
	// cancellation, not retryable. The wait (5m..15m) is what it cannot fit;
	// MaxElapsed would allow it, so only the deadline check stops it.
	boom := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	calls := 0
	stub := roundTripperFunc(func(r *http.Request) (*http.Response, error) { calls++; return nil, boom })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ft := newFakeTime()
	tr := newFake(stub, Policy{BaseDelay: 10 * time.Minute, MaxDelay: time.Hour, MaxElapsed: 24 * time.Hour}, ft)
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil).WithContext(ctx)
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, ErrContextDeadline) || !errors.Is(err, ErrGaveUp) || errors.Is(err, ErrMaxElapsed) || !errors.Is(err, boom) {
		t.Errorf("RoundTrip() error = %v, want ErrContextDeadline (only) wrapping the dial error", err)
	}
	if calls != 1 || len(ft.Sleeps()) != 0 {
		t.Errorf("%d attempts, waits %v; want 1 attempt and no wait", calls, ft.Sleeps())
	}
}

func TestRetryAfterOverCapReturnsAtOnce(t *testing.T) {
	srv := newScript(t, step{status: 429, header: http.Header{"Retry-After": {"3600"}}})
	ft := newFakeTime()
	tr := newFake(srv.Client().Transport, Policy{}, ft)
	resp := mustRoundTrip(t, tr, httptest.NewRequest(http.MethodGet, srv.URL, nil))
	if resp.StatusCode != 429 || srv.count() != 1 || len(ft.Sleeps()) != 0 {
		t.Errorf("got %d after %d attempts, waits %v; want the 429 at once", resp.StatusCode, srv.count(), ft.Sleeps())
	}
}

func TestBadRetryAfterFallsBackToBackoff(t *testing.T) {
	for _, v := range []string{"-5", "soon", "99999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT", "0"} {
		t.Run(v, func(t *testing.T) {
			srv := newScript(t, step{status: 429, header: http.Header{"Retry-After": {v}}}, step{status: 200})
			ft := newFakeTime()
			tr := newFake(srv.Client().Transport, Policy{}, ft)
			resp := mustRoundTrip(t, tr, httptest.NewRequest(http.MethodGet, srv.URL, nil))
			sleeps := ft.Sleeps()
			if resp.StatusCode != 200 || len(sleeps) != 1 {
				t.Fatalf("got %d with waits %v, want 200 after one wait", resp.StatusCode, sleeps)
			}
			// Exponential backoff's first wait: 100ms ± 50%, never zero.
			if sleeps[0] < DefaultBaseDelay/2 || sleeps[0] > DefaultBaseDelay*3/2 {
				t.Errorf("wait = %v, want the backoff's 50ms..150ms", sleeps[0])
			}
		})
	}
}

func TestMaxElapsedBoundsWaits(t *testing.T) {
	srv := newScript(t, step{status: 503, header: http.Header{"Retry-After": {"20"}}})
	ft := newFakeTime()
	tr := newFake(srv.Client().Transport, Policy{MaxAttempts: 10, MaxElapsed: 30 * time.Second}, ft)
	mustRoundTrip(t, tr, httptest.NewRequest(http.MethodGet, srv.URL, nil))
	if srv.count() != 2 || len(ft.Sleeps()) != 1 {
		t.Errorf("%d attempts with waits %v, want 2 attempts (a second 20s wait would pass 30s)", srv.count(), ft.Sleeps())
	}
}

// oneShot is a body without GetBody: it can be sent only once.
type oneShot struct {
	io.Reader
	closes atomic.Int32
}

func (o *oneShot) Close() error { o.closes.Add(1); return nil }

func TestNonReplayableBodySentOnce(t *testing.T) {
	srv := newScript(t, step{status: 503, body: "unavailable"})
	tr := New(srv.Client().Transport, fast)
	body := &oneShot{Reader: strings.NewReader("data")}
	req, _ := http.NewRequest(http.MethodPost, srv.URL, body)
	if req.GetBody != nil {
		t.Fatal("test body unexpectedly replayable")
	}
	resp := mustRoundTrip(t, tr, req)
	if resp.StatusCode != 503 || srv.count() != 1 {
		t.Errorf("got %d after %d attempts, want the 503 after 1", resp.StatusCode, srv.count())
	}
	if n := body.closes.Load(); n < 1 {
		t.Errorf("caller's body closed %d times, want it closed", n)
	}

	// Without a response, the error says why it was not retried.
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("refused")}
	stub := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		r.Body.Close()
		return nil, refused
	})
	req, _ = http.NewRequest(http.MethodPost, "http://127.0.0.1/", &oneShot{Reader: strings.NewReader("data")})
	_, err := New(stub, fast).RoundTrip(req)
	if !errors.Is(err, ErrNotReplayable) || !errors.Is(err, refused) {
		t.Errorf("RoundTrip() error = %v, want ErrNotReplayable wrapping the cause", err)
	}
}

func TestRequireIdempotencyKey(t *testing.T) {
	tests := []struct {
		name   string
		method string
		key    string
		status int
		want   int // attempts
	}{
		{"POST 500 without key", http.MethodPost, "", 500, 1},
		{"PATCH 502 without key", http.MethodPatch, "", 502, 1},
		{"POST 500 with key", http.MethodPost, "k", 500, 3},
		{"POST 429 without key", http.MethodPost, "", 429, 3},
		{"PUT 500", http.MethodPut, "", 500, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScript(t, step{status: tc.status})
			p := fast
			p.RequireIdempotencyKey = true
			tr := New(srv.Client().Transport, p)
			req, _ := http.NewRequest(tc.method, srv.URL, strings.NewReader("x"))
			if tc.key != "" {
				req.Header.Set("Idempotency-Key", tc.key)
			}
			mustRoundTrip(t, tr, req)
			if srv.count() != tc.want {
				t.Errorf("attempts = %d, want %d", srv.count(), tc.want)
			}
		})
	}
	// The default retries a POST's 500: the contract says so.
	srv := newScript(t, step{status: 500}, step{status: 202})
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("x"))
	resp := mustRoundTrip(t, New(srv.Client().Transport, fast), req)
	if resp.StatusCode != 202 || srv.count() != 2 {
		t.Errorf("default policy: %d after %d attempts, want 202 after 2", resp.StatusCode, srv.count())
	}
}

func TestTransportErrorWrapped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	tr := New(base, fast)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader("x"))
	_, err = tr.RoundTrip(req)
	var rerr *Error
	if !errors.As(err, &rerr) || rerr.Attempts != 3 || !errors.Is(err, ErrExhausted) {
		t.Fatalf("RoundTrip() error = %v, want *Error after 3 attempts, ErrExhausted", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) || opErr.Op != "dial" {
		t.Errorf("errors.As(%v, *net.OpError) failed: cause lost", err)
	}
	if !strings.HasPrefix(err.Error(), "retry: 3 attempts (attempts_exhausted): ") {
		t.Errorf("Error() = %q", err.Error())
	}
}

// An Error whose last attempt timed out says so through Timeout, as
// net/http's errors do: http.Client's *url.Error, os.IsTimeout and a
// net.Error found by errors.As all ask the error they wrap for Timeout,
// without unwrapping. Mutation caught: Error without a Timeout method, or
// one that reports true for any cause.
func TestErrorReportsTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		timeout bool
	}{
		{"read timeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, true},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := roundTripperFunc(func(*http.Request) (*http.Response, error) { return nil, tc.err })
			c := &http.Client{Transport: New(base, fast)}
			_, err := c.Post("http://x.test/", "text/plain", strings.NewReader("x")) // not retried: ambiguous
			var rerr *Error
			if !errors.As(err, &rerr) {
				t.Fatalf("Post() error = %v, want a *retry.Error", err)
			}
			if got := rerr.Timeout(); got != tc.timeout {
				t.Errorf("(*Error).Timeout() = %v, want %v", got, tc.timeout)
			}
			var ue *url.Error
			if !errors.As(err, &ue) || ue.Timeout() != tc.timeout || os.IsTimeout(err) != tc.timeout {
				t.Errorf("Post() error %v: url.Error.Timeout() and os.IsTimeout = %v, want %v", err, !tc.timeout, tc.timeout)
			}
		})
	}
}

func TestCustomBackoffStop(t *testing.T) {
	srv := newScript(t, step{status: 500})
	ft := newFakeTime()
	tr := newFake(srv.Client().Transport, Policy{
		MaxAttempts: 10,
		Backoff: func() backoff.BackOff {
			return backoff.WithMaxRetries(backoff.NewConstantBackOff(7*time.Millisecond), 2)
		},
	}, ft)
	mustRoundTrip(t, tr, httptest.NewRequest(http.MethodGet, srv.URL, nil))
	sleeps := ft.Sleeps()
	if srv.count() != 3 || len(sleeps) != 2 || sleeps[0] != 7*time.Millisecond {
		t.Errorf("%d attempts, waits %v; want 3 attempts with 7ms waits", srv.count(), sleeps)
	}
}

func TestGetBodyError(t *testing.T) {
	srv := newScript(t, step{status: 500})
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("x"))
	bad := errors.New("cannot reopen")
	req.GetBody = func() (io.ReadCloser, error) { return nil, bad }
	_, err := New(srv.Client().Transport, fast).RoundTrip(req)
	if !errors.Is(err, bad) {
		t.Errorf("RoundTrip() error = %v, want it to wrap the GetBody error", err)
	}
}

func TestInvalidRequest(t *testing.T) {
	tr := New(roundTripperFunc(func(*http.Request) (*http.Response, error) {
		t.Error("invalid request reached the next RoundTripper")
		return nil, nil
	}), Policy{})
	body := &oneShot{Reader: strings.NewReader("x")}
	for _, req := range []*http.Request{nil, {Method: "GET", Body: body}} {
		if _, err := tr.RoundTrip(req); !errors.Is(err, errclass.ErrInvalidRequest) {
			t.Errorf("RoundTrip(%v) error = %v, want errclass.ErrInvalidRequest", req, err)
		}
	}
	if body.closes.Load() != 1 {
		t.Error("body of an invalid request was not closed")
	}
}

func TestClassifierReplaced(t *testing.T) {
	srv := newScript(t, step{status: 409}, step{status: 200})
	p := fast
	p.Classifier = errclass.Classifier(errclass.Classify).WithStatus(errclass.Retryable, http.StatusConflict)
	resp := mustRoundTrip(t, New(srv.Client().Transport, p), httptest.NewRequest(http.MethodGet, srv.URL, nil))
	if resp.StatusCode != 200 || srv.count() != 2 {
		t.Errorf("got %d after %d attempts, want 200 after 2", resp.StatusCode, srv.count())
	}
}

func TestMiddlewareSharesBudget(t *testing.T) {
	mw := Middleware(Policy{SharedBudget: NewBudget(0, 1, time.Second)}) // one retry per second in all
	fail := roundTripperFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 500, Header: http.Header{}, Body: http.NoBody}, nil
	})
	a, b := mw(fail).(*Transport), mw(fail).(*Transport)
	ft := newFakeTime()
	for _, tr := range []*Transport{a, b} {
		tr.clock, tr.sleep = ft.Now, func(ctx context.Context, d time.Duration) error { return nil }
	}
	retries := 0
	for _, tr := range []*Transport{a, b, a, b} {
		var calls int
		next := tr.next
		tr.next = roundTripperFunc(func(r *http.Request) (*http.Response, error) { calls++; return next.RoundTrip(r) })
		resp, _ := tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
		resp.Body.Close()
		retries += calls - 1
		tr.next = next
	}
	if retries != 1 {
		t.Errorf("retries across two Transports from one Middleware = %d, want 1 (shared budget)", retries)
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestEmptyBodiesRetried(t *testing.T) {
	for name, body := range map[string]io.Reader{"nil": nil, "NoBody": http.NoBody, "empty reader": strings.NewReader("")} {
		t.Run(name, func(t *testing.T) {
			srv := newScript(t, step{status: 503}, step{status: 204})
			req, _ := http.NewRequest(http.MethodPost, srv.URL, body)
			resp := mustRoundTrip(t, New(srv.Client().Transport, fast), req)
			if resp.StatusCode != 204 || srv.count() != 2 {
				t.Errorf("got %d after %d attempts, want 204 after 2", resp.StatusCode, srv.count())
			}
			for i, b := range srv.bodies {
				if b != "" {
					t.Errorf("attempt %d body = %q, want empty", i+1, b)
				}
			}
		})
	}
}

// refused is what an open breaker below retry returns.
type refused struct{ wait time.Duration }

func (r refused) Error() string          { return "breaker open" }
func (r refused) RetryIn() time.Duration { return r.wait }

func TestRefusalFailsFastOrWaits(t *testing.T) {
	for _, wait := range []bool{false, true} {
		t.Run(fmt.Sprintf("WaitForBreaker=%v", wait), func(t *testing.T) {
			calls := 0
			stub := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
				calls++
				if calls == 1 {
					return nil, refused{wait: 2 * time.Second}
				}
				return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
			})
			ft := newFakeTime()
			tr := newFake(stub, Policy{WaitForBreaker: wait}, ft)
			resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
			if !wait {
				var r refused
				if !errors.As(err, &r) || calls != 1 || len(ft.Sleeps()) != 0 {
					t.Errorf("RoundTrip() = %v after %d calls, waits %v; want the refusal at once", err, calls, ft.Sleeps())
				}
				return
			}
			if err != nil || resp.StatusCode != 200 || calls != 2 {
				t.Fatalf("RoundTrip() = %v, %v after %d calls; want 200 after 2", resp, err, calls)
			}
			if s := ft.Sleeps(); len(s) != 1 || s[0] < 2*time.Second {
				t.Errorf("waits = %v, want one wait of at least 2s", s)
			}
		})
	}
}

type recorder struct {
	retries []errclass.Attempt
	lastOut []errclass.Outcome
	gaveUp  []errclass.StopReason
}

func (r *recorder) Retrying(last errclass.Outcome, next errclass.Attempt) {
	r.retries = append(r.retries, next)
	r.lastOut = append(r.lastOut, last)
}
func (r *recorder) GaveUp(last errclass.Outcome, attempts int, reason errclass.StopReason) {
	r.gaveUp = append(r.gaveUp, reason)
}

func TestObserverSeesDecisions(t *testing.T) {
	srv := newScript(t, step{status: 429, header: http.Header{"Retry-After": {"2"}}}, step{status: 500})
	ft := newFakeTime()
	tr := newFake(srv.Client().Transport, Policy{}, ft)
	rec := &recorder{}
	req := httptest.NewRequest(http.MethodGet, srv.URL, nil)
	req = req.WithContext(errclass.WithObserver(req.Context(), rec))
	mustRoundTrip(t, tr, req)
	if len(rec.retries) != 2 || rec.retries[0].Number != 2 || !rec.retries[0].FromRetryAfter || rec.retries[0].Delay != 2*time.Second ||
		rec.retries[1].Number != 3 || rec.retries[1].FromRetryAfter {
		t.Errorf("Retrying calls = %+v", rec.retries)
	}
	if rec.lastOut[0].StatusCode != 429 || rec.lastOut[1].StatusCode != 500 {
		t.Errorf("outcomes passed to Retrying = %+v", rec.lastOut)
	}
	if len(rec.gaveUp) != 1 || rec.gaveUp[0] != errclass.StopAttemptsExhausted {
		t.Errorf("GaveUp reasons = %v, want [attempts_exhausted]", rec.gaveUp)
	}

	// A budget refusal is reported too.
	rec = &recorder{}
	tr = newFake(srv.Client().Transport, Policy{SharedBudget: newBudget(0, 0, time.Second, ft.Now())}, ft)
	req = req.WithContext(errclass.WithObserver(context.Background(), rec))
	mustRoundTrip(t, tr, req)
	if len(rec.gaveUp) != 1 || rec.gaveUp[0] != errclass.StopBudgetExhausted || len(rec.retries) != 0 {
		t.Errorf("with an empty budget: retries %v, GaveUp %v; want only budget_exhausted", rec.retries, rec.gaveUp)
	}
}

func TestRetryAfterOverMaxRetryAfter(t *testing.T) {
	// MaxElapsed is an hour, so only the MaxRetryAfter check can refuse
	// the 5s wait (TestRetryAfterOverCapReturnsAtOnce is also refused by
	// MaxElapsed). Catches that check removed.
	for _, code := range []int{429, 503} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv := newScript(t, step{status: code, header: http.Header{"Retry-After": {"5"}}, body: "later"}, step{status: 200})
			ft := newFakeTime()
			tr := newFake(srv.Client().Transport, Policy{MaxRetryAfter: time.Second, MaxElapsed: time.Hour}, ft)
			rec := &recorder{}
			req, _ := http.NewRequestWithContext(errclass.WithObserver(context.Background(), rec), http.MethodGet, srv.URL, nil)
			resp, body := mustDo(t, client(tr), req)
			if resp.StatusCode != code || body != "later" || srv.count() != 1 || len(ft.Sleeps()) != 0 {
				t.Errorf("got %d %q after %d attempts, waits %v; want the %d at once", resp.StatusCode, body, srv.count(), ft.Sleeps(), code)
			}
			if len(rec.gaveUp) != 1 || rec.gaveUp[0] != errclass.StopRetryAfterTooLong {
				t.Errorf("GaveUp reasons = %v, want [retry_after_too_long]", rec.gaveUp)
			}
		})
	}
}

func TestRetryAfterDefaultCapIs30s(t *testing.T) {
	// The README: a Retry-After is honoured up to 30 s by default; a longer
	// one hands the response back at once. MaxElapsed is an hour, so only
	// MaxRetryAfter decides. Catches the default or the comparison moved.
	for _, tc := range []struct {
		hint     string
		attempts int
		sleeps   []time.Duration
	}{
		{"30", 2, []time.Duration{30 * time.Second}},
		{"31", 1, nil},
	} {
		t.Run(tc.hint, func(t *testing.T) {
			srv := newScript(t, step{status: 429, header: http.Header{"Retry-After": {tc.hint}}}, step{status: 200})
			ft := newFakeTime()
			tr := newFake(srv.Client().Transport, Policy{MaxElapsed: time.Hour}, ft)
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			mustDo(t, client(tr), req)
			if srv.count() != tc.attempts || !slices.Equal(ft.Sleeps(), tc.sleeps) {
				t.Errorf("Retry-After: %s: %d attempts, waits %v; want %d, %v", tc.hint, srv.count(), ft.Sleeps(), tc.attempts, tc.sleeps)
			}
		})
	}
}

// backoffSleeps sends requests GETs through a Transport with policy p over
// a server that always fails, and returns each request's waits.
func backoffSleeps(t *testing.T, p Policy, requests int) [][]time.Duration {
	t.Helper()
	fail := roundTripperFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 500, Header: http.Header{}, Body: http.NoBody}, nil
	})
	p.SharedBudget = NewBudget(100, 1e6, time.Second) // never the limit here
	out := make([][]time.Duration, requests)
	for i := range out {
		ft := newFakeTime()
		resp, err := newFake(fail, p, ft).RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
		if err != nil || resp.StatusCode != 500 {
			t.Fatalf("RoundTrip() = %v, %v; want the last 500", resp, err)
		}
		out[i] = ft.Sleeps()
		if len(out[i]) != p.MaxAttempts-1 {
			t.Fatalf("waits = %v, want %d", out[i], p.MaxAttempts-1)
		}
	}
	return out
}

func TestBackoffDoublesWithJitter(t *testing.T) {
	// The k-th wait has mean base·2^k and ±50% jitter. The caps are far
	// away so that only the policy's backoff shapes the waits.
	const base = 100 * time.Millisecond
	p := Policy{MaxAttempts: 8, BaseDelay: base, MaxDelay: time.Hour, MaxElapsed: 24 * time.Hour}
	const requests = 100
	waits := backoffSleeps(t, p, requests)

	// Growth: each wait within [0.5, 1.5]·base·2^k (+1ns: the BackOff's
	// interval is closed). Catches multiplier 1 (from k = 2 on, every wait
	// is below the range) and any other multiplier far from 2.
	for _, w := range waits {
		for k, d := range w {
			mean := base << k
			if d < mean/2 || d > mean*3/2+1 {
				t.Fatalf("waits = %v: wait %d is %v, want %v..%v", w, k+1, d, mean/2, mean*3/2)
			}
		}
	}

	// Jitter: across requests, the k-th waits spread over their range.
	// Catches a randomization factor of 0 (all equal to the mean) or a
	// small one. With ±50%, a wait falls above 0.9·mean with probability
	// 0.6, so all 100 do with probability 0.6^100 ≈ 7e-23 (the same below
	// 1.1·mean): a false failure is astronomically unlikely.
	for k := range p.MaxAttempts - 1 {
		mean := base << k
		lo, hi := waits[0][k], waits[0][k]
		for _, w := range waits {
			lo, hi = min(lo, w[k]), max(hi, w[k])
		}
		if lo >= mean*9/10 || hi <= mean*11/10 {
			t.Errorf("wait %d over %d requests spans %v..%v, want below %v and above %v (±50%% jitter)",
				k+1, requests, lo, hi, mean*9/10, mean*11/10)
		}
	}
}

func TestErrorText(t *testing.T) {
	// The reason is its snake_case name, as in span attributes and metrics.
	cause := errors.New("connection refused")
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"reason", &Error{Attempts: 3, Err: cause, Reason: errclass.StopAttemptsExhausted}, "retry: 3 attempts (attempts_exhausted): connection refused"},
		{"other reason", &Error{Attempts: 2, Err: cause, Reason: errclass.StopMaxElapsed}, "retry: 2 attempts (max_elapsed): connection refused"},
		{"reason, no cause", &Error{Attempts: 1, Reason: errclass.StopBudgetExhausted}, "retry: 1 attempt (budget_exhausted)"},
		{"no reason", &Error{Attempts: 1, Err: cause}, "retry: 1 attempt: connection refused"},
		{"zero", &Error{}, "retry: 0 attempts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

// idleCounter is a RoundTripper counting CloseIdleConnections calls.
type idleCounter struct{ closes atomic.Int32 }

func (c *idleCounter) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
}
func (c *idleCounter) CloseIdleConnections() { c.closes.Add(1) }

func TestCloseIdleConnectionsForwarded(t *testing.T) {
	base := &idleCounter{}
	for _, rt := range []http.RoundTripper{New(base, Policy{}), Middleware(Policy{})(base)} {
		client(rt).CloseIdleConnections()
	}
	if n := base.closes.Load(); n != 2 {
		t.Errorf("base saw %d CloseIdleConnections for 2 client calls, want 2", n)
	}
	// Below, a RoundTripper without the method: nothing to forward.
	New(roundTripperFunc(func(*http.Request) (*http.Response, error) { return nil, nil }), Policy{}).CloseIdleConnections()
}
