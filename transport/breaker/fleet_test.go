package breaker_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/fleet"
)

// flaky is a test server answering status (500 at first) to every
// request, counting them; hold, while set, blocks each request until it
// is closed.
type flaky struct {
	*httptest.Server
	status atomic.Int32
	hits   atomic.Int32
	mu     sync.Mutex
	hold   chan struct{}
}

func newFlaky(t *testing.T) *flaky {
	f := &flaky{}
	f.status.Store(http.StatusInternalServerError)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		f.mu.Lock()
		hold := f.hold
		f.mu.Unlock()
		if hold != nil {
			<-hold
		}
		w.WriteHeader(int(f.status.Load()))
	}))
	t.Cleanup(f.Close)
	return f
}

// fleetClients returns n clients, each with its own breaker (policy p)
// and, if shared is set, its own replica of one fleet.Memory.
func fleetClients(t *testing.T, n int, shared bool, p breaker.Policy) []*http.Client {
	m := fleet.NewMemory()
	out := make([]*http.Client, n)
	for i := range out {
		p := p
		if shared {
			p.Fleet = m.Replica()
		}
		base := &http.Transport{}
		t.Cleanup(base.CloseIdleConnections)
		out[i] = &http.Client{Transport: breaker.New(base, p), Timeout: 3 * time.Second}
	}
	return out
}

func get(c *http.Client, url string) (int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// outage runs 3 replicas × 20 concurrent-ish requests against a server
// that fails everything and returns how many reached it.
func outage(t *testing.T, shared bool) int32 {
	srv := newFlaky(t)
	c := fleetClients(t, 3, shared, breaker.Policy{ConsecutiveFailures: 10, OpenTimeout: time.Minute})
	var wg sync.WaitGroup
	for _, cl := range c {
		wg.Go(func() {
			for range 20 {
				code, err := get(cl, srv.URL)
				if err != nil && !errors.Is(err, breaker.ErrOpen) {
					t.Errorf("request: %v, want a response or ErrOpen", err)
				}
				if err == nil && code != http.StatusInternalServerError {
					t.Errorf("status = %d, want 500", code)
				}
			}
		})
	}
	wg.Wait()
	return srv.hits.Load()
}

// During an outage the fleet sends about one trip threshold of calls, not
// one per replica.
func TestFleetOutageCostsOneThreshold(t *testing.T) {
	local, shared := outage(t, false), outage(t, true)
	t.Logf("calls reaching a dead server, 3 replicas, threshold 10: local %d, shared %d", local, shared)
	if local != 30 {
		t.Errorf("local breakers let %d calls through, want 30 (10 each)", local)
	}
	if shared > 13 {
		t.Errorf("shared breakers let %d calls through, want about 10 (at most 13)", shared)
	}
}

// A breaker open in one replica refuses in the others without a request,
// with an OpenError that says so and when to come back.
func TestFleetOpenRefusesEverywhere(t *testing.T) {
	srv := newFlaky(t)
	c := fleetClients(t, 3, true, breaker.Policy{ConsecutiveFailures: 2, OpenTimeout: time.Minute})
	for range 2 {
		if code, err := get(c[0], srv.URL); code != 500 || err != nil {
			t.Fatalf("replica 0: %d, %v; want 500", code, err)
		}
	}
	_, err := get(c[1], srv.URL)
	var oe *breaker.OpenError
	if !errors.As(err, &oe) || !oe.Shared || oe.State != breaker.StateOpen || oe.RetryIn() < 50*time.Second {
		t.Fatalf("replica 1: %v (%+v); want a shared open refusal for about a minute", err, oe)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("server hits = %d, want 2", got)
	}
}

// A success anywhere resets the fleet's count, as it resets a run of
// failures in a row: sporadic failures across replicas do not trip it.
func TestFleetSuccessResetsCount(t *testing.T) {
	srv := newFlaky(t)
	c := fleetClients(t, 2, true, breaker.Policy{ConsecutiveFailures: 4, OpenTimeout: time.Minute})
	// 8 failures in all, at most 2 in a row in each replica and in the
	// fleet.
	for i := range 12 {
		srv.status.Store(http.StatusInternalServerError)
		if i%3 == 2 {
			srv.status.Store(http.StatusOK)
		}
		if _, err := get(c[i%2], srv.URL); err != nil {
			t.Fatalf("request %d: %v; two failures then a success must never trip", i, err)
		}
	}
}

// Once the fleet's breaker may probe, one replica probes for all: the
// others refuse while the probe is out, and send again once it succeeded.
func TestFleetOneProbe(t *testing.T) {
	srv := newFlaky(t)
	const open = 100 * time.Millisecond
	c := fleetClients(t, 3, true, breaker.Policy{ConsecutiveFailures: 2, OpenTimeout: open})
	// One failure each on replicas 0 and 1: the fleet's count trips, no
	// replica's own breaker does, so only the fleet's gate can close it.
	get(c[0], srv.URL)
	get(c[1], srv.URL)
	if _, err := get(c[2], srv.URL); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("replica 2 while open: %v, want ErrOpen", err)
	}
	time.Sleep(open + 20*time.Millisecond)
	srv.status.Store(http.StatusOK)
	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before the server's Close, even on a failure
	srv.mu.Lock()
	srv.hold = hold
	srv.mu.Unlock()
	before := srv.hits.Load()
	var wg sync.WaitGroup
	var sent, refused atomic.Int32
	for _, cl := range c {
		wg.Go(func() {
			if _, err := get(cl, srv.URL); err == nil {
				sent.Add(1)
			} else if errors.Is(err, breaker.ErrOpen) {
				refused.Add(1)
			} else {
				t.Errorf("during the probe: %v", err)
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for refused.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	srv.mu.Lock()
	srv.hold = nil
	srv.mu.Unlock()
	release()
	wg.Wait()
	if got := srv.hits.Load() - before; sent.Load() != 1 || refused.Load() != 2 || got != 1 {
		t.Fatalf("half-open: sent %d, refused %d, server hits %d; want 1, 2, 1", sent.Load(), refused.Load(), got)
	}
	for i, cl := range c {
		if code, err := get(cl, srv.URL); code != 200 || err != nil {
			t.Fatalf("replica %d after the probe: %d, %v; want 200", i, code, err)
		}
	}
}

// With a fleet set, the success path of a closed breaker allocates
// nothing.
func TestFleetSuccessAllocs(t *testing.T) {
	resp := &http.Response{StatusCode: 200, Body: http.NoBody}
	m := fleet.NewMemory()
	m.Replica().Add(fleet.KindBreaker, "https://other.test", 1, time.Minute)
	tr := breaker.New(rtFunc(func(*http.Request) (*http.Response, error) { return resp, nil }), breaker.Policy{Fleet: m.Replica()})
	req, _ := http.NewRequest("GET", "https://partner.test/v1/jobs", nil)
	if n := testing.AllocsPerRun(200, func() {
		if _, err := tr.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("RoundTrip with a fleet allocates %v times, want 0", n)
	}
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A probe that fails opens the fleet's breaker again for OpenTimeout,
// not for the probe's own (longer) bound.
func TestFleetProbeFailureReopens(t *testing.T) {
	srv := newFlaky(t)
	const open = 150 * time.Millisecond
	c := fleetClients(t, 2, true, breaker.Policy{ConsecutiveFailures: 2, OpenTimeout: open, ProbeTimeout: 5 * time.Second})
	get(c[0], srv.URL)
	get(c[1], srv.URL) // the fleet's count trips
	time.Sleep(open + 20*time.Millisecond)
	if code, err := get(c[0], srv.URL); code != 500 || err != nil {
		t.Fatalf("the probe: %d, %v; want 500", code, err)
	}
	_, err := get(c[1], srv.URL)
	var oe *breaker.OpenError
	if !errors.As(err, &oe) || oe.State != breaker.StateOpen || oe.RetryIn() > open {
		t.Fatalf("after the failed probe: %v; want open again for at most %v", err, open)
	}
	if got := srv.hits.Load(); got != 3 {
		t.Fatalf("server hits = %d, want 3", got)
	}
}
