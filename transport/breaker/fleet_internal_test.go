package breaker

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/fleet"
)

// lagging is a replica whose deadlines the others have not heard of yet:
// its SetUntil is lost. Only the lease can then keep two replicas from
// probing at once.
type lagging struct{ fleet.Store }

func (lagging) SetUntil(fleet.Kind, string, time.Time) {}

func TestFleetLeasePicksOneProber(t *testing.T) {
	m := fleet.NewMemory()
	m.Replica().SetUntil(fleet.KindBreaker, "https://x.test"+probeSuffix, time.Now().Add(time.Minute))
	var hits int
	next := rtFunc(func(*http.Request) (*http.Response, error) {
		hits++
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Body: http.NoBody}, nil
	})
	a := New(next, Policy{Fleet: lagging{m.Replica()}})
	b := New(next, Policy{Fleet: lagging{m.Replica()}})
	req, _ := http.NewRequest("GET", "https://x.test/v1/jobs", nil)
	if _, err := a.RoundTrip(req); err != nil {
		t.Fatalf("a, the first to ask: %v, want the probe sent", err)
	}
	_, err := b.RoundTrip(req)
	var oe *OpenError
	if !errors.As(err, &oe) || !oe.Shared || oe.State != StateHalfOpen {
		t.Fatalf("b while a probes: %v, want a shared half-open refusal", err)
	}
	if hits != 1 {
		t.Fatalf("probes sent = %d, want 1", hits)
	}
}
