package bench_test

import (
	"fmt"

	"github.com/resilient-http/resilient/bench"
)

// Measure runs the behaviour scenarios for one peer; cmd/compare does it for
// all of them and prints the table.
func ExampleMeasure() {
	for _, p := range bench.Peers(nil) {
		if p.Name != "resilient stack (no-op tracing)" {
			continue
		}
		b := bench.Measure(p)
		fmt.Println("429 then 200:", b.StormAttempts, "attempts, final status", b.StormStatus)
		fmt.Println("dead upstream, 50 calls:", b.DeadHits, "requests on the wire")
		fmt.Println("400/402/422:", b.ClientErrorHits, "requests for 3 calls")
		fmt.Println("POST replayed:", b.PostAttempts, "attempts, bodies identical:", b.PostBodiesIntact)
		fmt.Println("connections for 500 retried 500s:", b.NewConns)
	}
	// Output:
	// 429 then 200: 2 attempts, final status 200
	// dead upstream, 50 calls: 5 requests on the wire
	// 400/402/422: 3 requests for 3 calls
	// POST replayed: 3 attempts, bodies identical: true
	// connections for 500 retried 500s: 1
}
