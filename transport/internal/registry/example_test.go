package registry_test

import (
	"fmt"

	"github.com/resilient-http/resilient/transport/internal/registry"
)

// A latch per route, at most two of them; set latches are pinned, so a
// third route is refused and its caller falls back to a coarser key.
func Example() {
	type latch struct{ route string }
	routes := registry.New[string](2, func(*latch) registry.Retention { return registry.Pinned })
	mk := func(route string) *latch { return &latch{route} }
	for _, route := range []string{"POST /v1/jobs", "POST /v1/exports", "POST /v1/imports"} {
		if l, ok := routes.GetOrCreate(route, mk); ok {
			fmt.Println("latched", l.route)
		} else {
			fmt.Println("full: latch the host for", route)
		}
	}
	// Output:
	// latched POST /v1/jobs
	// latched POST /v1/exports
	// full: latch the host for POST /v1/imports
}
