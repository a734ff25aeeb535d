package window_test

import (
	"fmt"
	"time"

	"github.com/resilient-http/resilient/transport/internal/window"
)

func Example() {
	const (
		ok = iota
		failed
	)
	// Ten one-second buckets: events count for ten seconds at most.
	c := window.New(10*time.Second, 10, 2)
	now := time.Hour // a reading of window.Now, or of a test's clock
	c.Add(ok, now)
	c.Add(failed, now+2*time.Second)
	c.Add(failed, now+2*time.Second)

	var n [2]uint64
	c.Counts(now+5*time.Second, n[:])
	fmt.Println("after 5s:", n[ok], "ok,", n[failed], "failed")
	c.Counts(now+11*time.Second, n[:])
	fmt.Println("after 11s:", n[ok], "ok,", n[failed], "failed")
	// Output:
	// after 5s: 1 ok, 2 failed
	// after 11s: 0 ok, 2 failed
}
