package retry

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
)

type nilNil struct{}

func (nilNil) RoundTrip(*http.Request) (*http.Response, error) { return nil, nil }

// A RoundTripper below returning (nil, nil) breaks its contract; retry
// answers with an error, never with (nil, nil) of its own.
func TestNilResponseNilErrorBelow(t *testing.T) {
	req, _ := http.NewRequest("GET", "http://a.test/", nil)
	resp, err := New(nilNil{}, Policy{}).RoundTrip(req)
	if resp != nil || !errors.Is(err, errclass.ErrNilResponse) {
		t.Errorf("RoundTrip() = %v, %v; want nil and an error matching ErrNilResponse", resp, err)
	}
}

// MaxDelay caps every wait, jitter included: the exponential BackOff caps
// its interval before jitter, which let a wait reach 1.5 × MaxDelay.
func TestMaxDelayCapsJitteredWaits(t *testing.T) {
	const maxDelay = 200 * time.Millisecond
	p := Policy{MaxAttempts: 10, BaseDelay: 100 * time.Millisecond, MaxDelay: maxDelay, MaxElapsed: 24 * time.Hour}
	atCap := 0
	for _, w := range backoffSleeps(t, p, 50) {
		for _, d := range w {
			if d > maxDelay {
				t.Fatalf("waits = %v: %v is over MaxDelay %v", w, d, maxDelay)
			}
			if d == maxDelay {
				atCap++
			}
		}
	}
	if atCap == 0 {
		t.Error("no wait reached MaxDelay: the test does not exercise the cap")
	}
}
