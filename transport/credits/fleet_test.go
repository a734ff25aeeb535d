package credits

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/fleet"
)

// partner is a test server: POST /v1/batch answers batch (402 at first),
// anything else 200; it counts the requests that reach each path. hold,
// if set, blocks a batch request until it is closed.
type partner struct {
	*httptest.Server
	batch atomic.Int32
	mu    sync.Mutex
	hits  map[string]int
	hold  chan struct{}
}

func newPartner(t *testing.T) *partner {
	p := &partner{hits: map[string]int{}}
	p.batch.Store(http.StatusPaymentRequired)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hits[r.URL.Path]++
		hold := p.hold
		p.mu.Unlock()
		if r.URL.Path == "/v1/batch" {
			if hold != nil {
				<-hold
			}
			w.WriteHeader(int(p.batch.Load()))
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *partner) count(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[path]
}

// replicas returns n clients of srv, each with its own credits layer
// (policy p) and, if shared is set, its own replica of one fleet.Memory.
func replicas(t *testing.T, n int, shared bool, p Policy) []*http.Client {
	t.Helper()
	m := fleet.NewMemory()
	out := make([]*http.Client, n)
	for i := range out {
		p := p
		if shared {
			p.Fleet = m.Replica()
		}
		base := &http.Transport{}
		t.Cleanup(base.CloseIdleConnections)
		out[i] = &http.Client{Transport: New(base, p), Timeout: 3 * time.Second}
	}
	return out
}

func post(t *testing.T, c *http.Client, url string) (int, error) {
	t.Helper()
	resp, err := c.Post(url, "application/json", nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// A 402 in one replica stops the other replicas' next submits to the
// route, not their other routes; without a fleet each learns it alone.
func TestFleetLatchStopsOtherReplicas(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(map[bool]string{false: "local", true: "shared"}[shared], func(t *testing.T) {
			srv := newPartner(t)
			c := replicas(t, 3, shared, Policy{})
			if code, err := post(t, c[0], srv.URL+"/v1/batch"); err != nil || code != http.StatusPaymentRequired {
				t.Fatalf("replica 0: %d, %v; want 402", code, err)
			}
			for i, cl := range c[1:] {
				_, err := post(t, cl, srv.URL+"/v1/batch")
				var ce *Error
				if got := errors.As(err, &ce); got != shared {
					t.Fatalf("replica %d refused = %v (%v), want %v", i+1, got, err, shared)
				}
				if shared && (ce.Host || ce.RetryIn() <= 0) {
					t.Fatalf("refusal = %+v, want a route latch with a wait", ce)
				}
			}
			want := map[bool]int{false: 3, true: 1}[shared]
			if got := srv.count("/v1/batch"); got != want {
				t.Fatalf("batch requests reaching the server = %d, want %d", got, want)
			}
			if code, err := post(t, c[2], srv.URL+"/v1/other"); err != nil || code != http.StatusOK {
				t.Fatalf("another route: %d, %v; want 200", code, err)
			}
		})
	}
}

// Only the replica that latched probes; the others refuse until its probe
// releases the latch, then send again. Replica 0 runs a minute (one
// cooldown) late: the deadline its 402 publishes is over by the real
// clock the others read it by, and only the probe's extension, a minute
// ahead, keeps them refusing however slow the machine.
func TestFleetProbeReleases(t *testing.T) {
	srv := newPartner(t)
	c := replicas(t, 3, true, Policy{Cooldown: time.Minute})
	clk := &clock{now: time.Now().Add(-time.Minute)}
	c[0].Transport.(*Transport).now = clk.Now
	if code, _ := post(t, c[0], srv.URL+"/v1/batch"); code != http.StatusPaymentRequired {
		t.Fatalf("first submit = %d, want 402", code)
	}
	clk.Advance(time.Minute + time.Millisecond) // replica 0's cooldown ends
	srv.batch.Store(http.StatusAccepted)
	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before the server's Close, even on a failure
	srv.mu.Lock()
	srv.hold = hold
	srv.mu.Unlock()
	done := make(chan int)
	go func() {
		code, _ := post(t, c[0], srv.URL+"/v1/batch") // the probe
		done <- code
	}()
	for srv.count("/v1/batch") < 2 {
		time.Sleep(time.Millisecond)
	}
	// The probe is out: the other replicas still refuse.
	var ce *Error
	if _, err := post(t, c[1], srv.URL+"/v1/batch"); !errors.As(err, &ce) {
		t.Fatalf("replica 1 during the probe: %v, want *Error", err)
	}
	srv.mu.Lock()
	srv.hold = nil
	srv.mu.Unlock()
	release()
	if code := <-done; code != http.StatusAccepted {
		t.Fatalf("probe = %d, want 202", code)
	}
	for i, cl := range c[1:] {
		if code, err := post(t, cl, srv.URL+"/v1/batch"); err != nil || code != http.StatusAccepted {
			t.Fatalf("replica %d after the release: %d, %v; want 202", i+1, code, err)
		}
	}
	if got := srv.count("/v1/batch"); got != 4 {
		t.Fatalf("batch requests = %d, want 4 (402, probe, two after the release)", got)
	}
}

// A host latch (routes past MaxKeys) reaches the other replicas too, and
// Reset clears what this replica published.
func TestFleetHostLatchAndReset(t *testing.T) {
	m := fleet.NewMemory()
	api := newAPI()
	api.set("POST x.test/a", http.StatusPaymentRequired)
	api.set("POST x.test/b", http.StatusPaymentRequired)
	a := New(api, Policy{MaxKeys: 1, Fleet: m.Replica()})
	b := New(api, Policy{MaxKeys: 1, Fleet: m.Replica()})
	for _, p := range []string{"/a", "/b"} {
		if _, err := a.RoundTrip(must(http.NewRequest("POST", "https://x.test"+p, nil))); err != nil {
			t.Fatal(err)
		}
	}
	// Spelled otherwise: the fleet's keys are normalised as the local ones.
	_, err := b.RoundTrip(must(http.NewRequest("POST", "HTTPS://X.test:443/c", nil)))
	var ce *Error
	if !errors.As(err, &ce) || !ce.Host || ce.Key != "POST https://x.test" {
		t.Fatalf("another route of the host on b: %v, want a host refusal", err)
	}
	if _, err := b.RoundTrip(must(http.NewRequest("GET", "https://x.test/c", nil))); err != nil {
		t.Fatalf("another method: %v, want it sent", err)
	}
	a.Reset()
	if _, err := b.RoundTrip(must(http.NewRequest("POST", "https://x.test/c", nil))); err != nil {
		t.Fatalf("after a's Reset: %v, want it sent", err)
	}
}

// With a fleet set and nothing latched, a request allocates one string:
// both keys, spelled in a pooled buffer, made one string the Store may keep.
func TestFleetNoLatchAllocs(t *testing.T) {
	resp := &http.Response{StatusCode: 200, Body: http.NoBody}
	next := rtFunc(func(*http.Request) (*http.Response, error) { return resp, nil })
	m := fleet.NewMemory()
	other := m.Replica()
	other.SetUntil(fleet.KindCredits, "POST https://partner.test/v1/other", time.Now().Add(time.Hour))
	tr := New(next, Policy{Fleet: m.Replica()})
	req := must(http.NewRequest("POST", "https://partner.test/v1/enhancements", nil))
	if n := testing.AllocsPerRun(200, func() {
		if _, err := tr.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Fatalf("RoundTrip with a fleet allocates %v times, want 1", n)
	}
}

// BenchmarkNoLatchFleet is BenchmarkNoLatch with a fleet.Memory replica:
// the cost of reading the fleet's latches on every request.
func BenchmarkNoLatchFleet(b *testing.B) {
	resp := &http.Response{StatusCode: 200, Body: http.NoBody}
	tr := New(rtFunc(func(*http.Request) (*http.Response, error) { return resp, nil }), Policy{Fleet: fleet.NewMemory().Replica()})
	req := must(http.NewRequest("POST", "https://partner.test/v1/enhancements", nil))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tr.RoundTrip(req)
		}
	})
}

// A replica with latches of its own still reads the fleet's for other
// routes.
func TestFleetLatchWithOwnLatches(t *testing.T) {
	m := fleet.NewMemory()
	api := newAPI()
	api.set("POST x.test/a", http.StatusPaymentRequired)
	api.set("POST x.test/b", http.StatusPaymentRequired)
	a := New(api, Policy{Fleet: m.Replica()})
	b := New(api, Policy{Fleet: m.Replica()})
	a.RoundTrip(must(http.NewRequest("POST", "https://x.test/a", nil)))
	b.RoundTrip(must(http.NewRequest("POST", "https://x.test/b", nil)))
	_, err := b.RoundTrip(must(http.NewRequest("POST", "https://x.test/a", nil)))
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "POST https://x.test/a" {
		t.Fatalf("b, latched on /b, sending to /a latched by a: %v, want a refusal", err)
	}
	if n := api.hits["POST x.test/a"]; n != 1 {
		t.Fatalf("requests to /a = %d, want 1", n)
	}
}

// A replica refused by another's latch cannot tell what set it: its error
// must not claim a 402 when the other replica latched on a report of no
// credits left, before any 402.
func TestFleetRefusalClaimsNoCause(t *testing.T) {
	m := fleet.NewMemory()
	p := Policy{RemainingField: "meta.imports_remaining"}
	p.Fleet = m.Replica()
	a, _, _ := newSignalTest(p, jsonReply(remainingBody(0)))
	p.Fleet = m.Replica()
	b, hits, _ := newSignalTest(p, jsonReply(remainingBody(5)))
	resp := submit(t, a)
	io.ReadAll(resp.Body)
	resp.Body.Close()
	_, err := b.RoundTrip(must(http.NewRequest("POST", "https://partner.test/v1/enhancements", nil)))
	var ce *Error
	if !errors.As(err, &ce) || hits.hits.Load() != 0 {
		t.Fatalf("replica b: %v, %d sent; want a refusal, nothing sent", err, hits.hits.Load())
	}
	if !ce.Fleet || ce.Anticipated {
		t.Errorf("refusal %+v, want Fleet and not Anticipated", ce)
	}
	if msg := ce.Error(); strings.Contains(msg, "402") || !strings.Contains(msg, "another replica") {
		t.Errorf("Error() = %q, want it to name another replica's latch and claim no 402", msg)
	}
}
