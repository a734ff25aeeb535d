package pacing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/fleet"
	"github.com/resilient-http/resilient/transport/pacing"
	"golang.org/x/time/rate"
)

// fleetTransports returns n pacers (policy p) over their own connections,
// each with its own replica of one fleet.Memory if shared is set.
func fleetTransports(t *testing.T, n int, shared bool, p pacing.Policy) []*pacing.Transport {
	m := fleet.NewMemory()
	out := make([]*pacing.Transport, n)
	for i := range out {
		p := p
		if shared {
			p.Fleet = m.Replica()
		}
		base := &http.Transport{}
		t.Cleanup(base.CloseIdleConnections)
		out[i] = pacing.New(base, p)
	}
	return out
}

// A window one replica learnt (429 + Retry-After) holds the others'
// requests back until it ends; without a fleet they are sent at once.
func TestFleetWindowHoldsOtherReplicas(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(map[bool]string{false: "local", true: "shared"}[shared], func(t *testing.T) {
			srv, arrivals := scripted(t, http.StatusTooManyRequests, map[string]string{"Retry-After": "1"})
			tr := fleetTransports(t, 3, shared, pacing.Policy{})
			get(t, tr[0], context.Background(), srv.URL)
			first := arrivals()[0]
			if !shared {
				if u := tr[1].Until(srv.URL); !u.IsZero() {
					t.Fatalf("a local replica's window = %v, want none", u)
				}
			}
			var wg sync.WaitGroup
			for _, r := range tr[1:] {
				wg.Go(func() {
					if resp, err := get(t, r, context.Background(), srv.URL); err != nil || resp.StatusCode != 200 {
						t.Errorf("another replica: %v, %v; want 200", resp, err)
					}
				})
			}
			wg.Wait()
			a := arrivals()
			for _, at := range a[1:] {
				gap := at.Sub(first)
				if shared && gap < 900*time.Millisecond {
					t.Errorf("a request arrived %v after the 429, want it held ~1s", gap)
				}
				if !shared && gap > 500*time.Millisecond {
					t.Errorf("a local replica's request arrived %v after the 429, want at once", gap)
				}
			}
		})
	}
}

// limited starts a server that admits r requests a second (burst b) and
// answers 429 past it; it counts both.
func limited(t *testing.T, r float64, b int) (*httptest.Server, *atomic.Int64, *atomic.Int64) {
	var ok, over atomic.Int64
	lim := rate.NewLimiter(rate.Limit(r), b)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !lim.Allow() {
			over.Add(1)
			w.WriteHeader(http.StatusTooManyRequests) // no Retry-After: only the rate paces
			return
		}
		ok.Add(1)
	}))
	t.Cleanup(srv.Close)
	return srv, &ok, &over
}

// share429 runs 3 replicas, 3 senders each, for d against a server that
// admits r requests a second, each pacer configured with Rate r; it
// returns the share of requests answered 429.
func share429(t *testing.T, shared bool, r float64, d time.Duration) (float64, int64) {
	srv, ok, over := limited(t, r, 5)
	tr := fleetTransports(t, 3, shared, pacing.Policy{Rate: r, Burst: 1})
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range tr {
		for range 3 {
			wg.Go(func() {
				for ctx.Err() == nil {
					get(t, p, ctx, srv.URL)
				}
			})
		}
	}
	wg.Wait()
	n := ok.Load() + over.Load()
	return float64(over.Load()) / float64(n), n
}

// A server limit of r requests a second per account: with the rate
// shared, 429s stay a small fraction; with three local rates of r each,
// two requests in three are refused.
func TestFleetSharedRate(t *testing.T) {
	const r = 40
	local, nl := share429(t, false, r, time.Second)
	shared, ns := share429(t, true, r, time.Second)
	t.Logf("429 share at a server limit of %d/s, 3 replicas: local %.0f%% of %d, shared %.1f%% of %d", r, 100*local, nl, 100*shared, ns)
	if local < 0.4 {
		t.Errorf("local 429 share = %.2f, want about 2/3", local)
	}
	if shared > 0.05 {
		t.Errorf("shared 429 share = %.2f, want under 5%%", shared)
	}
}

// Until reports the window requests wait for: with a fleet, one that
// another replica learnt counts, as it does for the requests it refuses.
func TestUntilIncludesFleetWindow(t *testing.T) {
	m := fleet.NewMemory()
	pt := pacing.New(nil, pacing.Policy{Fleet: m.Replica()})
	const key = "https://api.example.com"
	until := time.Now().Add(time.Minute)
	m.Replica().SetUntil(fleet.KindThrottle, key, until)
	if got := pt.Until(key); !got.Equal(until) {
		t.Fatalf("Until(%q) = %v, want the fleet's window %v", key, got, until)
	}
	if got := pt.Until("https://other.example.com"); !got.IsZero() {
		t.Fatalf("Until(other) = %v, want zero", got)
	}
}
