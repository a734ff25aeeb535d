package bench

import (
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/retry"
)

// TestHedging prints the issue-16 item-2 figure and checks it: without
// hedging, the 5% of requests that take 1s make p99 about 1s; with a
// 50ms hedge, p99 falls to about the delay plus p50, for a few percent
// more server hits. Mutation caught: hedges that never fire, or losers
// not canceled (the load then counts a full slow request each, and the
// winner waits), show as a p99 near 1s.
func TestHedging(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds")
	}
	const n, c = 400, 16
	rows := []Hedging{
		MeasureHedging("none", retry.HedgePolicy{}, n, c),
		MeasureHedging("delay 50ms", retry.HedgePolicy{Delay: 50 * time.Millisecond}, n, c),
		MeasureHedging("quantile 0.9", retry.HedgePolicy{Quantile: 0.9}, n, c),
	}
	t.Logf("\n%s", HedgingTable(rows))
	none, fixed, quant := rows[0], rows[1], rows[2]
	for _, r := range rows {
		if r.Failed != 0 {
			t.Errorf("%s: %d requests failed", r.Label, r.Failed)
		}
	}
	if none.P99 < 900*time.Millisecond {
		t.Errorf("without hedging p99 = %v: the slow requests should show", none.P99)
	}
	for _, r := range []Hedging{fixed, quant} {
		if r.P99 > 300*time.Millisecond {
			t.Errorf("%s: p99 = %v, want well under 1s", r.Label, r.P99)
		}
	}
	if fixed.Load() > 1.15 {
		t.Errorf("delay 50ms: load %.2f×, want a few percent more", fixed.Load())
	}
}
