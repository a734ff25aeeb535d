package retry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
)

// A request's context overrides the policy's attempt limit, either way;
// without an override the policy holds. Issue 13, item 7.
func TestWithMaxAttempts(t *testing.T) {
	tests := []struct {
		name     string
		policy   int
		override int // 0: none
		want     int
	}{
		{"no override", 0, 0, DefaultMaxAttempts},
		{"retries off", 0, 1, 1},
		{"below 1 counts as 1", 4, -3, 1},
		{"more than the policy", 2, 5, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScript(t, step{status: 503, body: "down"})
			ft := newFakeTime()
			tr := newFake(srv.Client().Transport, Policy{MaxAttempts: tc.policy, SharedBudget: NewBudget(100, 1e6, time.Second)}, ft)
			rec := &recorder{}
			ctx := errclass.WithObserver(context.Background(), rec)
			if tc.override != 0 {
				ctx = WithMaxAttempts(ctx, tc.override)
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			resp, body := mustDo(t, client(tr), req)
			if resp.StatusCode != 503 || body != "down" || srv.count() != tc.want {
				t.Errorf("got %d %q after %d attempts, want the 503 after %d", resp.StatusCode, body, srv.count(), tc.want)
			}
			if len(rec.gaveUp) != 1 || rec.gaveUp[0] != errclass.StopAttemptsExhausted {
				t.Errorf("GaveUp reasons = %v, want [attempts_exhausted]", rec.gaveUp)
			}
		})
	}
}

// countingCtx counts the lookups of the attempt-limit override.
type countingCtx struct {
	context.Context
	lookups atomic.Int32
}

func (c *countingCtx) Value(key any) any {
	if key == (maxAttemptsKey{}) {
		c.lookups.Add(1)
	}
	return c.Context.Value(key)
}

// The override is read only once a first attempt has failed retryably, and
// once per request: catches the lookup moved before the first attempt (or
// into the loop).
func TestOverrideReadOnlyWhenRetrying(t *testing.T) {
	status := 200
	stub := roundTripperFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: status, Header: http.Header{}, Body: http.NoBody}, nil
	})
	tr := newFake(stub, Policy{MaxAttempts: 4, SharedBudget: NewBudget(100, 1e6, time.Second)}, newFakeTime())
	ctx := &countingCtx{Context: WithMaxAttempts(context.Background(), 3)}
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil).WithContext(ctx)
	mustRoundTrip(t, tr, req)
	if n := ctx.lookups.Load(); n != 0 {
		t.Errorf("a first attempt that succeeded looked the override up %d times, want 0", n)
	}
	status = 503
	mustRoundTrip(t, tr, req)
	if n := ctx.lookups.Load(); n != 1 {
		t.Errorf("a request retried twice looked the override up %d times, want 1", n)
	}
}
