package fleet_test

import (
	"fmt"
	"time"

	"github.com/resilient-http/resilient/transport/fleet"
)

// Two replicas share one Memory: a 402 latch one of them publishes stops
// the other's next submit, and a failure count sums both.
func Example() {
	m := fleet.NewMemory()
	a, b := m.Replica(), m.Replica()

	a.SetUntil(fleet.KindCredits, "POST /batch", time.Now().Add(30*time.Second))
	fmt.Println("b refuses POST /batch:", !b.Until(fleet.KindCredits, "POST /batch").IsZero())

	a.Add(fleet.KindBreaker, "api", 2, 10*time.Second)
	fmt.Println("fleet failures:", b.Add(fleet.KindBreaker, "api", 3, 10*time.Second))

	fmt.Println("a probes:", a.Lease(fleet.KindBreaker, "api", time.Second))
	fmt.Println("b probes:", b.Lease(fleet.KindBreaker, "api", time.Second))
	// Output:
	// b refuses POST /batch: true
	// fleet failures: 5
	// a probes: true
	// b probes: false
}
