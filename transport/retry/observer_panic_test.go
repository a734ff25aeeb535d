package retry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
)

// panicObserver panics in the method named by in.
type panicObserver struct{ in string }

func (o panicObserver) Retrying(errclass.Outcome, errclass.Attempt) {
	if o.in == "Retrying" {
		panic("observer: Retrying")
	}
}

func (o panicObserver) GaveUp(errclass.Outcome, int, errclass.StopReason) {
	if o.in == "GaveUp" {
		panic("observer: GaveUp")
	}
}

func (o panicObserver) Hedged(errclass.Attempt, bool) {
	if o.in == "Hedged" {
		panic("observer: Hedged")
	}
}

// roundTripPanics runs tr.RoundTrip(req) and returns what it panicked
// with.
func roundTripPanics(tr http.RoundTripper, req *http.Request) (p any) {
	defer func() { p = recover() }()
	resp, _ := tr.RoundTrip(req)
	if resp != nil {
		resp.Body.Close()
	}
	return nil
}

// An observer that panics while told of a retry or a give-up reaches the
// caller, as a panic of the request's goroutine does, and the answer the
// retry layer held then (which the caller never gets) is closed, not left
// holding its connection.
func TestObserverPanicClosesHeldResponse(t *testing.T) {
	for _, in := range []string{"Retrying", "GaveUp"} {
		t.Run(in, func(t *testing.T) {
			held := &closeBody{Reader: strings.NewReader("busy")}
			rc := &racer{answer: func(*http.Request, errclass.Attempt) (*http.Response, error) {
				return &http.Response{StatusCode: 503, Header: http.Header{}, Body: held, ContentLength: 4}, nil
			}}
			tr := New(rc, Policy{MaxAttempts: 1, BaseDelay: time.Millisecond})
			if in == "Retrying" {
				tr = New(rc, Policy{MaxAttempts: 2, BaseDelay: time.Millisecond})
			}
			ctx := errclass.WithObserver(context.Background(), panicObserver{in})
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1/", nil)
			if p := roundTripPanics(tr, req); p != "observer: "+in {
				t.Fatalf("RoundTrip panicked with %v, want the observer's panic", p)
			}
			if !held.closed.Load() {
				t.Error("the response held when the observer panicked was not closed")
			}
		})
	}
}

// An observer that panics while told of a hedge reaches the caller, and
// the race's winner, which the caller never gets, is closed and its
// attempt's context ended.
func TestObserverPanicInHedgedReleasesWinner(t *testing.T) {
	won := &closeBody{Reader: strings.NewReader("fast")}
	rc := &racer{answer: func(r *http.Request, a errclass.Attempt) (*http.Response, error) {
		if a.Number == 1 {
			return stall(r)
		}
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: won, ContentLength: 4}, nil
	}}
	tr := New(rc, Policy{Hedge: HedgePolicy{Delay: 2 * time.Millisecond}})
	ctx := errclass.WithObserver(context.Background(), panicObserver{"Hedged"})
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1/", nil)
	if p := roundTripPanics(tr, req); p != "observer: Hedged" {
		t.Fatalf("RoundTrip panicked with %v, want the observer's panic", p)
	}
	waitFor(t, "the winner's body to be closed after the observer panicked", won.closed.Load)
	rc.mu.Lock()
	ctxs := rc.ctxs
	rc.mu.Unlock()
	for _, c := range ctxs {
		waitFor(t, "every attempt's context to end after the observer panicked", func() bool { return c.Err() != nil })
	}
}
