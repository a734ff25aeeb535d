package bench

import (
	"testing"
	"time"

	"github.com/resilient-http/resilient/transport/limit"
)

// TestLimiting prints the issue-16 item-3 figure and checks it: 100
// callers against a server that serves 10 at once in 10ms and collapses
// beyond (latency grows with the square of its load, and what would take
// over 100ms is shed with a 503). Without a limit the server is pushed
// past its deadline and goodput collapses; a fixed limit at its capacity
// keeps it at about Capacity/Base; the adaptive limit, starting at 100,
// finds a level the server copes with. Mutation caught: a limit that lets
// more than Max through (the server's peak shows it), or an adaptive one
// that never decreases (it collapses as no limit does).
func TestLimiting(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds")
	}
	srv := Overload{Capacity: 10, Base: 10 * time.Millisecond, Deadline: 100 * time.Millisecond}
	const callers, d = 100, 1500 * time.Millisecond
	rows := []Limiting{
		MeasureLimiting("none", srv, limit.Policy{}, callers, d),
		MeasureLimiting("fixed 10", srv, limit.Policy{Max: 10}, callers, d),
		MeasureLimiting("adaptive ≤ 100", srv, limit.Policy{Max: 100, Adaptive: true}, callers, d),
	}
	t.Logf("server: capacity %d, %v each, latency × (in flight/capacity)² beyond, shed past %v; %d callers for %v\n%s",
		srv.Capacity, srv.Base, srv.Deadline, callers, d, LimitingTable(rows))
	none, fixed, adaptive := rows[0], rows[1], rows[2]
	if fixed.Peak > 10 {
		t.Errorf("fixed 10: the server saw %d in flight", fixed.Peak)
	}
	if adaptive.Peak > 100 {
		t.Errorf("adaptive: the server saw %d in flight, above Max", adaptive.Peak)
	}
	if fixed.Goodput() < 3*none.Goodput() {
		t.Errorf("goodput fixed %.0f/s, none %.0f/s: want the limit to beat the collapse threefold", fixed.Goodput(), none.Goodput())
	}
	if adaptive.Goodput() < 2*none.Goodput() {
		t.Errorf("goodput adaptive %.0f/s, none %.0f/s: want it to beat the collapse twofold", adaptive.Goodput(), none.Goodput())
	}
}
