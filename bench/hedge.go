package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/transport/retry"
)

// Hedging is the issue-16 item-2 measurement: Requests GETs, Concurrency
// at a time, through retry with Policy.Hedge, against a server that
// answers in about 5ms, except 5% of requests (hedges included, drawn
// with a fixed seed) that take 1s unless canceled.
type Hedging struct {
	Label       string
	Hedge       retry.HedgePolicy
	Requests    int
	Concurrency int

	// Latency of the requests, until their body is read.
	P50, P99, Max time.Duration
	// Latencies holds every request's latency, sorted (for the CDF plot).
	Latencies []time.Duration
	// Hits is the requests the server received (hedges included);
	// Slow is how many of them drew the 1s answer.
	Hits, Slow int64
	// Failed counts requests that did not end in a 200.
	Failed int64
}

// Load is the server's requests per client request: 1 without hedging.
func (h Hedging) Load() float64 { return float64(h.Hits) / float64(h.Requests) }

// MeasureHedging runs n requests, concurrency at a time, with hedge (the
// zero HedgePolicy: none) against a server of their own.
func MeasureHedging(label string, hedge retry.HedgePolicy, n, concurrency int) Hedging {
	r := Hedging{Label: label, Hedge: hedge, Requests: n, Concurrency: concurrency}
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(16, 2))
	var hits, slow atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		hits.Add(1)
		mu.Lock()
		d := 5 * time.Millisecond
		if rng.Float64() < 0.05 {
			d = time.Second
			slow.Add(1)
		}
		mu.Unlock()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-req.Context().Done():
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	base := &http.Transport{MaxIdleConnsPerHost: 2 * concurrency}
	defer base.CloseIdleConnections()
	rt := retry.New(base, retry.Policy{Hedge: hedge})

	lat := make([]time.Duration, n)
	var failed atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/items", nil)
				start := time.Now()
				resp, err := rt.RoundTrip(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						failed.Add(1)
					}
				}
				if err != nil {
					failed.Add(1)
				}
				lat[i] = time.Since(start)
				cancel()
			}
		})
	}
	wg.Wait()
	slices.Sort(lat)
	r.P50, r.P99, r.Max = lat[n/2], lat[(n*99+99)/100-1], lat[n-1]
	r.Latencies = lat
	r.Hits, r.Slow, r.Failed = hits.Load(), slow.Load(), failed.Load()
	return r
}

// HedgingTable formats measurements as a markdown table.
func HedgingTable(rows []Hedging) string {
	var b strings.Builder
	b.WriteString("| hedging | GETs (concurrent) | p50 | p99 | max | server hits (load) | slow hits | failed |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d (%d) | %v | %v | %v | %d (%.2f×) | %d | %d |\n", r.Label, r.Requests, r.Concurrency,
			r.P50.Round(100*time.Microsecond), r.P99.Round(100*time.Microsecond), r.Max.Round(time.Millisecond),
			r.Hits, r.Load(), r.Slow, r.Failed)
	}
	return b.String()
}
