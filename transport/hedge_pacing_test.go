package transport

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/retry"
)

// A request held back by a throttle window is not slow: its hedge would
// wait for the same window and leave with it, a second hit on a server
// that just asked for fewer. A hedge that would have to wait is refused
// instead, so the request reaches the server once.
func TestHedgeDoesNotWaitOutThrottleWindow(t *testing.T) {
	var hits atomic.Int64
	base := RoundTripperFunc(func(r *http.Request) (*http.Response, error) {
		h := http.Header{}
		code := 200
		if hits.Add(1) == 1 {
			code = http.StatusTooManyRequests
			h.Set("Retry-After", "1")
		} else {
			time.Sleep(3 * time.Millisecond) // quicker than the hedge delay
		}
		return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(strings.NewReader("x")), Request: r}, nil
	})
	stack, err := NewStack(base, Config{Default: Policy{
		Retry: retry.Policy{Hedge: retry.HedgePolicy{Delay: 5 * time.Millisecond}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	get := func(max int) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://api.test/v1/jobs", nil)
		if max > 0 {
			req = req.WithContext(retry.WithMaxAttempts(req.Context(), max))
		}
		resp, err := stack.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(1); code != http.StatusTooManyRequests {
		t.Fatalf("first status = %d, want 429", code)
	}
	if code := get(0); code != http.StatusOK {
		t.Fatalf("second status = %d, want 200", code)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("server hits = %d, want 2 (the throttled request once, not with its hedge)", n)
	}
}
