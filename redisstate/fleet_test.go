package redisstate

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/credits"
	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/fleet"
	"github.com/resilient-http/resilient/transport/pacing"
)

// layers is what one replica runs: credits → breaker → pacer, each
// sharing through store (nil: local only).
type layers struct {
	Credits credits.Policy
	Breaker breaker.Policy
	Pacing  pacing.Policy
}

// client returns one replica's client of the layers over its own
// connections.
func (l layers) client(t testing.TB, store fleet.Store) *http.Client {
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	return &http.Client{Transport: l.chain(base, store), Timeout: 10 * time.Second}
}

// chain returns the layers over base, sharing through store.
func (l layers) chain(base http.RoundTripper, store fleet.Store) http.RoundTripper {
	l.Credits.Fleet, l.Breaker.Fleet, l.Pacing.Fleet = store, store, store
	return transport.Chain(base,
		credits.Middleware(l.Credits),
		breaker.Middleware(l.Breaker),
		pacing.Middleware(l.Pacing),
	)
}

// fleetOf returns 3 clients of l: sharing through 3 Stores on srv when srv
// is set, local only otherwise.
func fleetOf(t *testing.T, srv *server, l layers, o Options) ([]*http.Client, []replica) {
	t.Helper()
	var stores []replica
	if srv != nil {
		stores = replicas(t, srv, 3, o)
	}
	out := make([]*http.Client, 3)
	for i := range out {
		var s fleet.Store
		if stores != nil {
			s = stores[i].Store
		}
		out[i] = l.client(t, s)
	}
	return out, stores
}

// partner is the test server: status answers every request (200 at
// first), a limit past which it answers 429 if set; it counts requests.
type partner struct {
	*httptest.Server
	status     atomic.Int32
	hits, over atomic.Int64
	limit      *rate.Limiter
	delay      time.Duration // before each answer; set before the first request
}

func newPartner(t testing.TB, limit *rate.Limiter) *partner {
	p := &partner{limit: limit}
	p.status.Store(http.StatusOK)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		p.hits.Add(1)
		time.Sleep(p.delay)
		if p.limit != nil && !p.limit.Allow() {
			p.over.Add(1)
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(int(p.status.Load()))
	}))
	t.Cleanup(p.Close)
	return p
}

func send(c *http.Client, ctx context.Context, method, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Scenario 1: a 402 in one replica stops the others' next submits to the
// route, one pub/sub hop later.
func TestFleet402StopsOtherReplicas(t *testing.T) {
	srv := startRedis(t)
	p := newPartner(t, nil)
	p.status.Store(http.StatusPaymentRequired)
	c, s := fleetOf(t, srv, layers{}, Options{Namespace: "f402", OpTimeout: slow})
	ctx := context.Background()
	if code, err := send(c[0], ctx, "POST", p.URL+"/v1/batch"); code != 402 || err != nil {
		t.Fatalf("replica 0: %d, %v; want 402", code, err)
	}
	start := time.Now()
	key := "POST " + p.URL + "/v1/batch"
	for _, o := range s[1:] {
		eventually(t, 2*time.Second, "latch propagated", func() bool { return !o.Until(fleet.KindCredits, key).IsZero() })
	}
	t.Logf("402 latch seen by both other replicas %v after replica 0's response", time.Since(start))
	for i, cl := range c[1:] {
		_, err := send(cl, ctx, "POST", p.URL+"/v1/batch")
		var ce *credits.Error
		if !errors.As(err, &ce) || ce.RetryIn() <= 0 {
			t.Fatalf("replica %d: %v, want a credits refusal", i+1, err)
		}
	}
	if n := p.hits.Load(); n != 1 {
		t.Fatalf("server hits = %d, want 1", n)
	}
	p.status.Store(http.StatusOK)
	if code, err := send(c[1], ctx, "GET", p.URL+"/v1/jobs"); code != 200 || err != nil {
		t.Fatalf("another route: %d, %v; want 200", code, err)
	}
}

// outageCalls runs 3 replicas, one sender each, 20 requests each, against
// a server failing everything in 5ms; it returns the calls that reached
// it.
func outageCalls(t *testing.T, srv *server) int64 {
	p := newPartner(t, nil)
	p.delay = 5 * time.Millisecond
	p.status.Store(http.StatusInternalServerError)
	c, _ := fleetOf(t, srv, layers{Breaker: breaker.Policy{ConsecutiveFailures: 10, OpenTimeout: time.Minute}},
		Options{Namespace: "outage", OpTimeout: slow})
	var wg sync.WaitGroup
	for _, cl := range c {
		wg.Go(func() {
			for range 20 {
				code, err := send(cl, context.Background(), "GET", p.URL)
				if err != nil && !errors.Is(err, breaker.ErrOpen) || err == nil && code != 500 {
					t.Errorf("during the outage: %d, %v; want 500 or ErrOpen", code, err)
				}
			}
		})
	}
	wg.Wait()
	return p.hits.Load()
}

// Scenario 2: during an outage the fleet sends about one trip threshold
// of calls, not one per replica.
func TestFleetOutage(t *testing.T) {
	local := outageCalls(t, nil)
	shared := outageCalls(t, startRedis(t))
	t.Logf("calls reaching a dead server, 3 replicas, threshold 10: local %d, shared %d", local, shared)
	if local < 30 {
		t.Errorf("local: %d calls, want at least 30 (10 per replica)", local)
	}
	if shared > 16 {
		t.Errorf("shared: %d calls, want about 10 (at most 16)", shared)
	}
}

// share429 runs 3 replicas, 3 senders each, for d against a server that
// admits r requests a second, each pacer with Rate r; it returns the
// share of requests answered 429 and how many were sent.
func share429(t *testing.T, srv *server, r float64, d time.Duration) (float64, int64) {
	p := newPartner(t, rate.NewLimiter(rate.Limit(r), 5))
	c, _ := fleetOf(t, srv, layers{Pacing: pacing.Policy{Rate: r, Burst: 1}}, Options{Namespace: "rate", Replicas: 3, OpTimeout: slow})
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for _, cl := range c {
		for range 3 {
			wg.Go(func() {
				for ctx.Err() == nil {
					send(cl, ctx, "GET", p.URL)
				}
			})
		}
	}
	wg.Wait()
	return float64(p.over.Load()) / float64(p.hits.Load()), p.hits.Load()
}

// Scenario 3: with a server limit of R requests a second per account,
// 429s stay a small fraction with the rate shared.
func TestFleetSharedLimit(t *testing.T) {
	const r = 40
	local, nl := share429(t, nil, r, 2*time.Second)
	shared, ns := share429(t, startRedis(t), r, 2*time.Second)
	t.Logf("429 share at a server limit of %d/s, 3 replicas × 3 senders, 2s: local %.1f%% of %d, shared %.1f%% of %d",
		r, 100*local, nl, 100*shared, ns)
	if local < 0.4 {
		t.Errorf("local 429 share = %.2f, want about 2/3", local)
	}
	if shared > 0.05 {
		t.Errorf("shared 429 share = %.2f, want under 5%%", shared)
	}
}

// Scenario 4: Redis killed mid-run and restarted: every request gets the
// server's answer or a local decision, and sharing resumes.
func TestFleetRedisKilled(t *testing.T) {
	srv := startRedis(t)
	p := newPartner(t, nil)
	c, s := fleetOf(t, srv, layers{Pacing: pacing.Policy{Rate: 300, Burst: 10}},
		Options{Namespace: "kill", Replicas: 3, OpTimeout: 100 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	var answered, decided atomic.Int64
	var wg sync.WaitGroup
	for _, cl := range c {
		wg.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				code, err := send(cl, context.Background(), "GET", p.URL+"/v1/jobs")
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("a request took %v", d)
				}
				var ref errclass.Refusal
				switch {
				case err == nil && code == 200:
					answered.Add(1)
				case errors.As(err, &ref):
					decided.Add(1)
				default:
					t.Errorf("a request failed: %d, %v", code, err)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	srv.kill()
	for _, o := range s {
		eventually(t, 5*time.Second, "replica notices the loss", func() bool { return !o.Healthy() })
	}
	time.Sleep(300 * time.Millisecond)
	srv.start()
	for _, o := range s {
		eventually(t, 10*time.Second, "replica resumes", o.Healthy)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	wg.Wait()
	t.Logf("Redis killed and restarted under load: %d answered, %d decided locally, 0 failed", answered.Load(), decided.Load())
	if answered.Load() == 0 {
		t.Fatal("no request answered")
	}
	// Sharing resumes: a 402 on replica 0 stops replica 2's next submit.
	// (Retried: a replica's resubscription may trail its first ping.)
	p.status.Store(http.StatusPaymentRequired)
	key := "POST " + p.URL + "/v1/batch"
	eventually(t, 10*time.Second, "sharing resumes", func() bool {
		send(c[0], context.Background(), "POST", p.URL+"/v1/batch")
		time.Sleep(10 * time.Millisecond)
		return !s[2].Until(fleet.KindCredits, key).IsZero()
	})
	var ce *credits.Error
	if _, err := send(c[2], context.Background(), "POST", p.URL+"/v1/batch"); !errors.As(err, &ce) {
		t.Fatalf("replica 2 after Redis came back: %v, want a credits refusal", err)
	}
}
