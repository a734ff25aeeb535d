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
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("refused request took %v: retry waited on an open breaker", elapsed)
	}
	if n := hits.Load(); n != 5 {
		t.Errorf("server saw %d requests, want 5 (then the breaker held the rest back)", n)
	}
}
