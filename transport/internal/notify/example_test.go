package notify_test

import (
	"fmt"
	"sync"

	"github.com/resilient-http/resilient/transport/internal/notify"
)

// Changes are pushed under the layer's lock and delivered after it is
// released, so the hook may call back into the layer.
func Example() {
	var (
		mu    sync.Mutex
		state = map[string]bool{}
	)
	events := notify.New(func(key string) {
		mu.Lock() // calling back in: the lock is free
		fmt.Println(key, "latched:", state[key])
		mu.Unlock()
	})
	mu.Lock()
	state["POST /v1/jobs"] = true
	events.Push("POST /v1/jobs")
	mu.Unlock()
	events.Flush()
	// Output: POST /v1/jobs latched: true
}
