package retry

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
)

// Every reason has its own sentinel, and every give-up matches ErrGaveUp:
// catches a sentinel mapped to the wrong reason, ErrGaveUp missing, or an
// Error without a reason claiming to have given up.
func TestErrorIsItsReason(t *testing.T) {
	sentinels := map[errclass.StopReason]error{
		errclass.StopAttemptsExhausted: ErrExhausted,
		errclass.StopBudgetExhausted:   ErrBudgetExhausted,
		errclass.StopNotReplayable:     ErrNotReplayable,
		errclass.StopNotIdempotent:     ErrNotIdempotent,
		errclass.StopContextDeadline:   ErrContextDeadline,
		errclass.StopMaxElapsed:        ErrMaxElapsed,
		errclass.StopRetryAfterTooLong: ErrRetryAfterTooLong,
	}
	cause := errors.New("connection refused")
	for reason, want := range sentinels {
		err := error(&Error{Attempts: 2, Err: cause, Reason: reason})
		if !errors.Is(err, ErrGaveUp) || !errors.Is(err, want) || !errors.Is(err, cause) {
			t.Errorf("%v: errors.Is(ErrGaveUp, %v, cause) = %v, %v, %v; want all true",
				err, want, errors.Is(err, ErrGaveUp), errors.Is(err, want), errors.Is(err, cause))
		}
		for other, s := range sentinels {
			if other != reason && errors.Is(err, s) {
				t.Errorf("%v matches %v, the sentinel of %s", err, s, other)
			}
		}
	}
	err := error(&Error{Attempts: 1, Err: cause})
	for _, s := range append(slicesOf(sentinels), ErrGaveUp) {
		if errors.Is(err, s) {
			t.Errorf("%v (no reason) matches %v", err, s)
		}
	}
}

func slicesOf(m map[errclass.StopReason]error) []error {
	var out []error
	for _, e := range m {
		out = append(out, e)
	}
	return out
}

// The transport stops for each reason where the policy says, tells the
// observer and the caller the same reason, and the caller's error matches
// its sentinel. Issue 13, item 4: the three meanings of the old ErrDeadline
// are told apart, and when both the context's deadline and MaxElapsed rule
// out the next attempt, the tighter one is named.
func TestStopReasons(t *testing.T) {
	boom := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	hint := func(req *http.Request, resp *http.Response, err error) errclass.Outcome {
		out := errclass.Classify(req, resp, err)
		out.RetryAfter = time.Hour
		return out
	}
	slow := Policy{BaseDelay: 10 * time.Minute, MaxDelay: time.Hour} // waits of 5 to 15 minutes
	with := func(p Policy, f func(*Policy)) Policy { f(&p); return p }
	tests := []struct {
		name     string
		policy   Policy
		deadline time.Duration // of the request's context; 0: none
		body     bool          // a body without GetBody
		status   int           // answered instead of the dial error
		want     errclass.StopReason
		sentinel error
		attempts int
	}{
		{"attempt limit", Policy{MaxAttempts: 2}, 0, false, 0, errclass.StopAttemptsExhausted, ErrExhausted, 2},
		{"budget", Policy{SharedBudget: NewBudget(0, 0, time.Second)}, 0, false, 0, errclass.StopBudgetExhausted, ErrBudgetExhausted, 1},
		{"body without GetBody", Policy{}, 0, true, 0, errclass.StopNotReplayable, ErrNotReplayable, 1},
		{"5xx of a POST without Idempotency-Key", Policy{RequireIdempotencyKey: true}, 0, false, 503, errclass.StopNotIdempotent, nil, 1},
		{"context deadline", with(slow, func(p *Policy) { p.MaxElapsed = 24 * time.Hour }), time.Minute, false, 0, errclass.StopContextDeadline, ErrContextDeadline, 1},
		{"MaxElapsed", with(slow, func(p *Policy) { p.MaxElapsed = time.Minute }), 0, false, 0, errclass.StopMaxElapsed, ErrMaxElapsed, 1},
		{"deadline tighter than MaxElapsed", with(slow, func(p *Policy) { p.MaxElapsed = 2 * time.Minute }), time.Minute, false, 0, errclass.StopContextDeadline, ErrContextDeadline, 1},
		{"MaxElapsed tighter than deadline", with(slow, func(p *Policy) { p.MaxElapsed = time.Minute }), 2 * time.Minute, false, 0, errclass.StopMaxElapsed, ErrMaxElapsed, 1},
		{"Retry-After over MaxRetryAfter", Policy{Classifier: hint, MaxElapsed: 24 * time.Hour}, 0, false, 0, errclass.StopRetryAfterTooLong, ErrRetryAfterTooLong, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			stub := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
				calls++
				if tc.status != 0 {
					return &http.Response{StatusCode: tc.status, Header: http.Header{}, Body: http.NoBody}, nil
				}
				return nil, boom
			})
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			rec := &recorder{}
			req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
			if tc.body {
				req.Body, req.GetBody = &oneShot{Reader: strings.NewReader("data")}, nil
			}
			req = req.WithContext(errclass.WithObserver(ctx, rec))
			ft := newFakeTime()
			resp, err := newFake(stub, tc.policy, ft).RoundTrip(req)
			if calls != tc.attempts || len(rec.gaveUp) != 1 || rec.gaveUp[0] != tc.want {
				t.Errorf("%d attempts, GaveUp %v; want %d attempts, GaveUp [%s]", calls, rec.gaveUp, tc.attempts, tc.want)
			}
			if tc.status != 0 {
				if err != nil || resp.StatusCode != tc.status {
					t.Errorf("RoundTrip() = %v, %v; want the %d", resp, err, tc.status)
				}
				return
			}
			var rerr *Error
			if !errors.As(err, &rerr) || rerr.Reason != tc.want || rerr.Attempts != tc.attempts ||
				!errors.Is(err, tc.sentinel) || !errors.Is(err, ErrGaveUp) || !errors.Is(err, boom) {
				t.Errorf("RoundTrip() error = %v; want an *Error after %d attempts, reason %s, matching %v, ErrGaveUp and the dial error",
					err, tc.attempts, tc.want, tc.sentinel)
			}
		})
	}
}

// An error that was not retryable, or a wait canceled by the caller, is no
// give-up: it matches no reason.
func TestNotGivingUp(t *testing.T) {
	stub := roundTripperFunc(func(*http.Request) (*http.Response, error) { return nil, context.Canceled })
	_, err := New(stub, Policy{}).RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
	var rerr *Error
	if !errors.As(err, &rerr) || rerr.Reason != "" || errors.Is(err, ErrGaveUp) || !errors.Is(err, context.Canceled) {
		t.Errorf("RoundTrip() error = %v; want an *Error without reason, not ErrGaveUp, wrapping context.Canceled", err)
	}
}
