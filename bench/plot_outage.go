package bench

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/resilient-http/resilient/transport"
	"github.com/resilient-http/resilient/transport/breaker"
	"github.com/resilient-http/resilient/transport/retry"
)

// OutageScript is the timeline of the outage scenario: the server answers
// 200 for Healthy, 500 for Outage, then 200 again for Healed; a call
// starts every Interval, whatever the earlier ones are doing (an open
// loop, as traffic from many users is), and the breakers stay open for
// OpenTimeout.
type OutageScript struct {
	Healthy, Outage, Healed time.Duration
	Interval                time.Duration
	OpenTimeout             time.Duration
}

// DefaultOutage is the script cmd/plots runs: 1s healthy, 2.5s down, 2s
// healed, a call every 5ms (20 per 100ms), breakers open for 1s.
var DefaultOutage = OutageScript{
	Healthy: time.Second, Outage: 2500 * time.Millisecond, Healed: 2 * time.Second,
	Interval: 5 * time.Millisecond, OpenTimeout: time.Second,
}

// Total is the scenario's length.
func (s OutageScript) Total() time.Duration { return s.Healthy + s.Outage + s.Healed }

// Outage is what the server saw of one peer in the outage scenario.
type Outage struct {
	Peer   string
	Script OutageScript
	// Arrivals are the times the server received each request, from the
	// start of the scenario, sorted.
	Arrivals []time.Duration
	// Calls is how many calls the client made; Failed how many did not
	// end in a 200.
	Calls, Failed int
	// Recovery is the time from the server's heal to the first 200 a
	// caller received after it; -1 if none did.
	Recovery time.Duration
}

// Load returns the server's requests per bucket, over the whole scenario.
func (o Outage) Load(bucket time.Duration) []float64 {
	n := int((o.Script.Total() + bucket - 1) / bucket)
	load := make([]float64, n)
	for _, a := range o.Arrivals {
		if i := int(a / bucket); i < n {
			load[i]++
		}
	}
	return load
}

// OutagePeers are the peers of the outage scenario, configured as in
// Peers (at most 3 retries, 1–10 ms backoff, breakers tripping after 5
// consecutive failures) except that the breakers stay open for open
// rather than a minute, so that recovery shows within seconds.
func OutagePeers(open time.Duration) []Peer {
	rp := retry.Policy{MaxAttempts: maxRetries + 1, BaseDelay: baseDelay, MaxDelay: maxDelay}
	bp := breaker.Policy{ConsecutiveFailures: tripAfter, OpenTimeout: open}
	return []Peer{
		{Name: "bare", New: func(base http.RoundTripper) Doer { return &http.Client{Transport: base} }},
		{Name: "go-retryablehttp", Retries: true, New: newRetryableHTTP},
		{Name: "failsafe-go", Retries: true, Breaks: true, New: func(base http.RoundTripper) Doer {
			return newFailsafe(base, open)
		}},
		{Name: "hand-written gobreaker+backoff", Retries: true, Breaks: true, New: func(base http.RoundTripper) Doer {
			return &http.Client{Transport: newHandWrittenOpen(base, open)}
		}},
		{Name: "resilient stack", Retries: true, Breaks: true, New: func(base http.RoundTripper) Doer {
			c, err := transport.NewClient(&http.Client{Transport: base}, partnerConfig(noTimeouts(transport.Policy{Retry: rp, Breaker: bp})))
			if err != nil {
				panic(err)
			}
			return c
		}},
	}
}

// MeasureOutage runs script against peer p with a server of its own and
// records when each request reached the server.
func MeasureOutage(p Peer, script OutageScript) Outage {
	o := Outage{Peer: p.Name, Script: script, Recovery: -1}
	down, healed := script.Healthy, script.Healthy+script.Outage
	var mu sync.Mutex
	start := time.Now()
	s := newServer(func(_ int, w http.ResponseWriter, r *http.Request) {
		at := time.Since(start)
		mu.Lock()
		o.Arrivals = append(o.Arrivals, at)
		mu.Unlock()
		io.Copy(io.Discard, r.Body)
		if at >= down && at < healed {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"detail":"down"}`)
			return
		}
		io.WriteString(w, `{"job_id":"job_1","status":"done"}`)
	})
	defer s.Close()
	base := &http.Transport{MaxIdleConnsPerHost: 64}
	defer base.CloseIdleConnections()
	d := p.New(base)

	var wg sync.WaitGroup
	for i := 0; time.Duration(i)*script.Interval < script.Total(); i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * script.Interval)))
		o.Calls++
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/jobs/1", nil)
			resp, err := d.Do(req)
			ok := err == nil && resp.StatusCode == http.StatusOK
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			end := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			if !ok {
				o.Failed++
			} else if end >= healed && (o.Recovery < 0 || end-healed < o.Recovery) {
				o.Recovery = end - healed
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(o.Arrivals)
	return o
}
