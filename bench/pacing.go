package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/transport/pacing"
	"github.com/resilient-http/resilient/transport/retry"
)

// Pacing is the issue-15 measurement: Requests concurrent GETs, the i-th
// starting i×Stagger after the first, through retry (its default policy)
// to a route that answers 429 + Retry-After: 2 for two seconds after its
// first request, then 200 — without and with the pacing layer between
// retry and the base transport.
type Pacing struct {
	Requests int
	Stagger  time.Duration

	// Server hits, and requests that ended without a 200.
	UnpacedHits, PacedHits     int64
	UnpacedFailed, PacedFailed int64
	// Time for all of them to finish.
	UnpacedElapsed, PacedElapsed time.Duration
}

// MeasurePacing runs the measurement for n requests starting stagger
// apart; the unpaced and paced runs go at once, against servers of their
// own. It takes a little over two seconds.
func MeasurePacing(n int, stagger time.Duration) Pacing {
	r := Pacing{Requests: n, Stagger: stagger}
	var wg sync.WaitGroup
	wg.Go(func() { r.UnpacedHits, r.UnpacedFailed, r.UnpacedElapsed = pacingRun(false, n, stagger) })
	wg.Go(func() { r.PacedHits, r.PacedFailed, r.PacedElapsed = pacingRun(true, n, stagger) })
	wg.Wait()
	return r
}

func pacingRun(paced bool, n int, stagger time.Duration) (hits, failed int64, elapsed time.Duration) {
	var count atomic.Int64
	var once sync.Once
	var first time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		once.Do(func() { first = time.Now() })
		if time.Since(first) < 2*time.Second {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	base := srv.Client().Transport
	defer srv.Client().CloseIdleConnections()
	rt := base
	if paced {
		rt = pacing.New(base, pacing.Policy{})
	}
	rt = retry.New(rt, retry.Policy{})

	var bad atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * stagger)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/items", nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				bad.Add(1)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				bad.Add(1)
			}
		})
	}
	wg.Wait()
	return count.Load(), bad.Load(), time.Since(start)
}

// PacingTable formats measurements as a markdown table.
func PacingTable(rows []Pacing) string {
	var b strings.Builder
	b.WriteString("| GETs | arrivals | hits without pacing | hits with pacing | failed (without / with) | elapsed (without / with) |\n|---:|---|---:|---:|---|---|\n")
	for _, r := range rows {
		arrivals := "all at once"
		if r.Stagger > 0 {
			arrivals = fmt.Sprintf("one every %v", r.Stagger)
		}
		fmt.Fprintf(&b, "| %d | %s | %d | %d | %d / %d | %v / %v |\n", r.Requests, arrivals,
			r.UnpacedHits, r.PacedHits, r.UnpacedFailed, r.PacedFailed,
			r.UnpacedElapsed.Round(10*time.Millisecond), r.PacedElapsed.Round(10*time.Millisecond))
	}
	return b.String()
}
