package breaker_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/retry"
)

// TestRetryDoesNotBurnAttemptsOnOpenBreaker runs the recommended order,
// retry → breaker → base: every attempt is counted, and once the breaker
// opens, retry stops at once instead of sleeping and trying again.
func TestRetryDoesNotBurnAttemptsOnOpenBreaker(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	rt := transport.Chain(srv.Client().Transport,
		retry.Middleware(retry.Policy{MaxAttempts: 3, BaseDelay: time.Millisecond}),
		breaker.Middleware(breaker.Policy{ConsecutiveFailures: 5, OpenTimeout: time.Hour}),
	)
	c := &http.Client{Transport: rt}

	resp, err := c.Get(srv.URL)
	if err != nil || resp.StatusCode != 500 {
		t.Fatalf("first request: %v, %v; want the last 500 after 3 attempts", resp, err)
	}
	resp.Body.Close()

	_, err = c.Get(srv.URL) // attempts 4 and 5 fail, the breaker opens, attempt 3 is refused
	var rerr *retry.Error
	if !errors.Is(err, breaker.ErrOpen) || !errors.As(err, &rerr) || rerr.Attempts != 3 {
		t.Fatalf("second request: error = %v, want a retry.Error after 3 attempts wrapping ErrOpen", err)
	}

	start := time.Now()
	_, err = c.Get(srv.URL)
	if !errors.As(err, &rerr) || rerr.Attempts != 1 || !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("third request: error = %v, want refused on its first attempt", err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second { // the breaker opens for an hour
		t.Errorf("refused request took %v: retry waited on an open breaker", elapsed)
	}
	if n := hits.Load(); n != 5 {
		t.Errorf("server saw %d requests, want 5 (then the breaker held the rest back)", n)
	}
}

// With WaitForBreaker, retry waits out the open breaker (within its own
// limits) and the half-open probe carries the request.
func TestRetryWaitsForHalfOpenWhenAsked(t *testing.T) {
	var hits atomic.Int32
	var down atomic.Bool
	down.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	br := breaker.New(srv.Client().Transport, breaker.Policy{ConsecutiveFailures: 2, OpenTimeout: 40 * time.Millisecond})
	c := &http.Client{Transport: retry.New(br, retry.Policy{MaxAttempts: 3, BaseDelay: time.Millisecond, WaitForBreaker: true})}

	resp, err := c.Get(srv.URL) // two 503s trip it; the third attempt would be refused
	if err == nil {
		resp.Body.Close()
	}
	down.Store(false)
	start := time.Now()
	resp, err = c.Get(srv.URL) // refused, waits ~40ms for half-open, probe succeeds
	if err != nil {
		t.Fatalf("request during the open state: %v, want it to wait for the probe", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || time.Since(start) < 20*time.Millisecond {
		t.Errorf("got %d after %v; want 200 after waiting for half-open", resp.StatusCode, time.Since(start))
	}
	if st := br.States()[srv.URL]; st != breaker.StateClosed {
		t.Errorf("state = %v, want closed after the successful probe", st)
	}
}
