package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/transport/limit"
)

// Overload is the server of the issue-16 item-3 measurement: it serves
// Capacity requests at once in Base each; beyond that, every request it
// accepts takes Base·(n/Capacity)², n being the requests in flight as it
// arrives (contention: locks, a database pool, garbage collection), and a
// request that would take longer than Deadline is worked on for Deadline,
// then answered 503 (the server's own timeout). So the more callers push,
// the less gets done: without a limit, it collapses.
type Overload struct {
	Capacity       int
	Base, Deadline time.Duration
}

// Limiting is one row of the measurement: Callers callers, each sending
// one GET after another for Duration through a limit.Transport of Policy
// (the zero Policy: no limit) against an Overload server of its own.
type Limiting struct {
	Label    string
	Policy   limit.Policy
	Callers  int
	Duration time.Duration

	// OK counts 200s; Shed the server's 503s; Refused the limit's
	// refusals (not sent).
	OK, Shed, Refused int64
	// P50 and P99 are the latencies of the successful requests, queueing
	// included.
	P50, P99 time.Duration
	// Peak is the most requests the server had in flight at once.
	Peak int64
}

// Goodput is the successful requests a second.
func (l Limiting) Goodput() float64 { return float64(l.OK) / l.Duration.Seconds() }

// MeasureLimiting runs one row.
func MeasureLimiting(label string, srv Overload, p limit.Policy, callers int, d time.Duration) Limiting {
	r := Limiting{Label: label, Policy: p, Callers: callers, Duration: d}
	var inflight, peak, shed atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		work, status := srv.Base, http.StatusOK
		if c := int64(srv.Capacity); n > c {
			ratio := float64(n) / float64(c)
			work = time.Duration(float64(srv.Base) * ratio * ratio)
		}
		if work > srv.Deadline {
			work, status = srv.Deadline, http.StatusServiceUnavailable
		}
		t := time.NewTimer(work)
		defer t.Stop()
		select {
		case <-t.C:
		case <-req.Context().Done():
			return
		}
		if status != http.StatusOK {
			shed.Add(1)
		}
		w.WriteHeader(status)
		io.WriteString(w, "ok")
	}))
	defer ts.Close()
	base := &http.Transport{MaxIdleConnsPerHost: 2 * callers, MaxConnsPerHost: 0}
	defer base.CloseIdleConnections()
	var rt http.RoundTripper = base
	if p.Max > 0 {
		rt = limit.New(base, p)
	}

	var mu sync.Mutex
	var lat []time.Duration
	var ok, refused atomic.Int64
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(end) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/v1/items", nil)
				start := time.Now()
				resp, err := rt.RoundTrip(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						ok.Add(1)
						mine = append(mine, time.Since(start))
					}
				} else if errors.Is(err, limit.ErrLimited) {
					refused.Add(1)
				}
				cancel()
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		r.P50, r.P99 = lat[n/2], lat[(n*99+99)/100-1]
	}
	r.OK, r.Shed, r.Refused, r.Peak = ok.Load(), shed.Load(), refused.Load(), peak.Load()
	return r
}

// LimitingTable formats measurements as a markdown table.
func LimitingTable(rows []Limiting) string {
	var b strings.Builder
	b.WriteString("| limit | goodput (req/s) | p50 | p99 | server peak in flight | shed (503) | refused by the limit |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %.0f | %v | %v | %d | %d | %d |\n", r.Label, r.Goodput(),
			r.P50.Round(100*time.Microsecond), r.P99.Round(100*time.Microsecond), r.Peak, r.Shed, r.Refused)
	}
	return b.String()
}
