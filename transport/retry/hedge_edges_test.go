package retry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/errclass"
)

// refusal is a layer below refusing to send (as an open breaker does).
type refusal struct{}

func (refusal) Error() string          { return "refused below" }
func (refusal) RetryIn() time.Duration { return 0 }
func (refusal) Unwrap() error          { return nil }

var _ errclass.Refusal = refusal{}

// A hedge that a layer below refuses (an open or half-open breaker,
// pacing) sent nothing: it is no answer, and must not end the race while
// the first attempt is still on its way to a success.
func TestHedgeRefusedHedgeDoesNotEndRace(t *testing.T) {
	// The first attempt answers 50ms after the hedge was refused, however
	// late the hedge comes; canceled meanwhile, it answers nothing.
	hedged, sawHedge := hedgeSeen()
	rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
		if a.Hedge {
			defer sawHedge()
			return nil, refusal{}
		}
		return slowFirst(r, hedged, hedgeWait, 50*time.Millisecond, answer(200, "first"))
	}}
	rec := &hedgeRecorder{}
	tr := New(rc, Policy{Hedge: HedgePolicy{Delay: 5 * time.Millisecond}, Observer: rec})
	resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
	if err != nil {
		t.Fatalf("RoundTrip() err = %v, want the first attempt's 200", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "first" {
		t.Errorf("body = %q, want %q", b, "first")
	}
	if len(rec.won) != 1 || rec.won[0] {
		t.Errorf("Hedged won = %v, want one hedge that lost", rec.won)
	}
}

// The same through a real breaker: half-open, it lets one probe through
// and refuses the rest. With hedging, the probe's own hedge was refused,
// won the race, and canceled the probe, so the caller got ErrOpen and
// the breaker never learnt that the server had recovered: a server
// slower than the hedge delay kept it half-open for ever.
func TestHedgeHalfOpenProbeNotKilledByItsHedge(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.WriteHeader(500)
			return
		}
		select {
		case <-time.After(60 * time.Millisecond): // recovering: slower than the hedge delay
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	base := srv.Client().Transport.(*http.Transport)
	defer base.CloseIdleConnections()
	br := breaker.New(base, breaker.Policy{ConsecutiveFailures: 1, MinRequests: 1, FailureRatio: 0.01, OpenTimeout: 20 * time.Millisecond})
	tr := New(br, Policy{MaxAttempts: 2, Hedge: HedgePolicy{Delay: 5 * time.Millisecond}})
	resp, err := New(br, Policy{MaxAttempts: 1}).RoundTrip(httptest.NewRequest(http.MethodGet, srv.URL, nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	fail.Store(false)
	time.Sleep(30 * time.Millisecond) // open → half-open
	resp, err = tr.RoundTrip(httptest.NewRequest(http.MethodGet, srv.URL, nil))
	if err != nil {
		t.Fatalf("RoundTrip() in half-open: err = %v, want the probe's 200", err)
	}
	resp.Body.Close()
	for name, st := range br.States() {
		if st != breaker.StateClosed {
			t.Errorf("breaker %s is %v after a successful probe, want closed", name, st)
		}
	}
}

// A PrepareRetry that panics for a hedge panics the caller's goroutine,
// as it does for a retry; but the first attempt, still in flight, must
// not be left behind with a live context (a stalled server would keep
// its goroutine and connection for ever: goleak in TestMain).
func TestHedgePrepareRetryPanicReleasesFirst(t *testing.T) {
	started := make(chan context.Context, 1)
	rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
		started <- r.Context()
		return stall(r)
	}}
	tr := New(rc, Policy{Hedge: HedgePolicy{Delay: 5 * time.Millisecond}, PrepareRetry: func(*http.Request, int) error {
		panic("signer bug")
	}})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("PrepareRetry's panic did not reach the caller")
			}
		}()
		tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
	}()
	first := <-started
	waitFor(t, "the first attempt's context to be canceled", func() bool { return errors.Is(first.Err(), context.Canceled) })
}

// When PrepareRetry panics for a hedge, the hedge it was preparing is let
// go too: its fresh body (from GetBody) closed and its context canceled,
// not left open until the caller's context ends.
func TestHedgePrepareRetryPanicReleasesHedge(t *testing.T) {
	rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) { return stall(r) }}
	var hedge *http.Request
	tr := New(rc, Policy{Hedge: HedgePolicy{Delay: 5 * time.Millisecond}, PrepareRetry: func(r *http.Request, _ int) error {
		hedge = r
		panic("signer bug")
	}})
	var bodies []*closeCounter
	req := httptest.NewRequest(http.MethodPut, "http://127.0.0.1/", strings.NewReader("payload"))
	req.GetBody = func() (io.ReadCloser, error) {
		b := &closeCounter{Reader: strings.NewReader("payload")}
		bodies = append(bodies, b)
		return b, nil
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("PrepareRetry's panic did not reach the caller")
			}
		}()
		tr.RoundTrip(req)
	}()
	if hedge == nil || len(bodies) != 1 {
		t.Fatalf("PrepareRetry saw %v, GetBody called %d times; want one hedge", hedge, len(bodies))
	}
	if bodies[0].closed.Load() != 1 {
		t.Errorf("the hedge's body was closed %d times, want 1", bodies[0].closed.Load())
	}
	if hedge.Context().Err() == nil {
		t.Error("the hedge's context is still live")
	}
}

// closeCounter is a body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closed atomic.Int32
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

// A RoundTripper below that panics panics the caller's goroutine when
// the request is not hedged, where the caller (or net/http's server)
// can recover. A hedged request runs its attempts on goroutines of their
// own: the panic must come back to the caller's goroutine rather than
// crash the process, and the other attempt be let go.
func TestHedgePanicBelowReachesCaller(t *testing.T) {
	started := make(chan context.Context, 1)
	rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
		if a.Hedge {
			panic("bug below")
		}
		started <- r.Context()
		return stall(r)
	}}
	tr := New(rc, Policy{Hedge: HedgePolicy{Delay: 5 * time.Millisecond}})
	var got any
	func() {
		defer func() { got = recover() }()
		tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
	}()
	if got == nil {
		t.Fatal("the panic below did not reach the caller")
	}
	first := <-started
	waitFor(t, "the first attempt's context to be canceled", func() bool { return first.Err() != nil })
}

// A hedge that comes back 429 with Retry-After has told the client to
// wait: no further hedge may go out during the race (it would be a retry
// that ignores the hint), while the attempt still in flight may yet win.
func TestHedgeNoFurtherHedgeAfterRetryAfter(t *testing.T) {
	rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
		switch a.Number {
		case 1:
			select {
			case <-time.After(200 * time.Millisecond):
				return answer(200, "first"), nil
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		case 2:
			resp := answer(429, "")
			resp.Header.Set("Retry-After", "1")
			return resp, nil
		}
		return answer(200, "hedge after the hint"), nil
	}}
	tr := New(rc, Policy{MaxAttempts: 5, Hedge: HedgePolicy{Delay: 30 * time.Millisecond, Max: 3}})
	resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
	if err != nil {
		t.Fatalf("RoundTrip() err = %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if n := rc.calls(); n != 2 {
		t.Errorf("%d attempts, want 2: no hedge after a Retry-After", n)
	}
	if string(b) != "first" {
		t.Errorf("body = %q, want %q", b, "first")
	}
}

// A hedge that a layer below refuses, or that PrepareRetry cancels, sent
// nothing: the retry it was charged to the budget is given back. With
// room for one retry in the window, three hedged requests whose hedges are
// refused still leave it for a request that needs a retry. Mutation: no
// refund leaves the budget empty (the 500 is the answer).
func TestHedgeNotSentRefundsBudget(t *testing.T) {
	var calls atomic.Int32
	rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
		if r.URL.Path == "/retry" {
			if calls.Add(1) == 1 {
				return answer(500, "boom"), nil
			}
			return answer(200, "second"), nil
		}
		if a.Hedge {
			return nil, refusal{}
		}
		select {
		case <-time.After(40 * time.Millisecond):
			return answer(200, "first"), nil
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}}
	budget := NewBudget(0, 0.01, 100*time.Second) // one retry per window, no ratio
	tr := New(rc, Policy{Hedge: HedgePolicy{Delay: 5 * time.Millisecond}, SharedBudget: budget, BaseDelay: time.Millisecond})
	for i := range 3 {
		resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/slow", nil))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/retry", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d after refused hedges: their retries were not given back", resp.StatusCode)
	}
}
