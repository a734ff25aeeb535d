package breaker

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/fleet"
)

// slowLease is a replica whose Lease costs a round trip, as Redis's does.
type slowLease struct{ fleet.Store }

func (s slowLease) Lease(k fleet.Kind, key string, d time.Duration) bool {
	time.Sleep(20 * time.Millisecond)
	return s.Store.Lease(k, key, d)
}

// While the fleet's breaker is half-open, the replica holding the lease
// sends one probe, not one per request that arrives while its Lease is
// out: a holder asking again keeps the lease, so every concurrent request
// of that replica used to pass the gate as "the probe".
func TestFleetHolderSendsOneProbe(t *testing.T) {
	m := fleet.NewMemory()
	// Half-open: the open deadline has passed, the half-open one has not.
	m.Replica().SetUntil(fleet.KindBreaker, "https://x.test"+probeSuffix, time.Now().Add(time.Minute))
	var hits atomic.Int32
	hold := make(chan struct{})
	next := rtFunc(func(*http.Request) (*http.Response, error) {
		hits.Add(1)
		<-hold
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	})
	tr := New(next, Policy{Fleet: slowLease{m.Replica()}})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", "https://x.test/v1/jobs", nil)
			if resp, err := tr.RoundTrip(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	got := hits.Load()
	close(hold)
	wg.Wait()
	if got != 1 {
		t.Fatalf("probes sent by the lease holder while half-open = %d, want 1", got)
	}
}

// A Window shorter than the fleet counter's slots (a policy file's "5ns")
// must not panic on the request path.
func TestFleetTinyWindowNoPanic(t *testing.T) {
	next := rtFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusInternalServerError, Body: http.NoBody}, nil
	})
	tr := New(next, Policy{Window: 5 * time.Nanosecond, Fleet: fleet.NewMemory().Replica()})
	req, _ := http.NewRequest("GET", "https://x.test/", nil)
	for range 3 {
		if resp, err := tr.RoundTrip(req); err == nil {
			resp.Body.Close()
		}
	}
}

// The fleet's probe is bounded by ProbeTimeout like a local half-open
// probe, also when this replica's own breaker is closed (another replica
// opened the fleet's): a probe that hangs is cut, counted as a failure,
// and opens the fleet's breaker again.
func TestFleetProbeBoundedByProbeTimeout(t *testing.T) {
	m := fleet.NewMemory()
	m.Replica().SetUntil(fleet.KindBreaker, "https://x.test"+probeSuffix, time.Now().Add(time.Minute))
	next := rtFunc(func(r *http.Request) (*http.Response, error) {
		select {
		case <-r.Context().Done():
			return nil, r.Context().Err()
		case <-time.After(5 * time.Second):
			return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
		}
	})
	tr := New(next, Policy{Fleet: m.Replica(), ProbeTimeout: 50 * time.Millisecond, OpenTimeout: time.Minute})
	req, _ := http.NewRequest("GET", "https://x.test/v1/jobs", nil)
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
	}
	if !errors.Is(err, ErrProbeTimeout) {
		t.Fatalf("hanging fleet probe: %v, want ErrProbeTimeout", err)
	}
	if u := m.Replica().Until(fleet.KindBreaker, "https://x.test"); time.Until(u) < 30*time.Second {
		t.Fatalf("fleet breaker open until %v after the cut probe; want open for OpenTimeout", u)
	}
}
