package breaker

import (
	"math"
	"time"

	rolling "github.com/resilient-http/resilient/transport/internal/window"
)

// A closed breaker's counting is done here rather than in gobreaker: a
// success in the closed state only has to be added to a rolling window,
// which takes one atomic compare-and-swap instead of gobreaker's two
// mutexed sections and two wall-clock reads. gobreaker still owns the state
// machine: failures are reported to it (they are what can trip it), and in
// the open and half-open states every request goes through it.

// sinceEpoch reads the monotonic clock the windows (and retry's budget)
// read.
func sinceEpoch() time.Duration { return rolling.Now() }

// Kinds of event a window counts.
const (
	kindSuccess = iota
	kindFailure
	kinds
)

// window counts successes and failures over a rolling span cut into
// buckets, without locks (see package internal/window).
type window struct{ c rolling.Counter }

func newWindow(span time.Duration, n int) window {
	return window{rolling.New(span, n, kinds)}
}

func (w *window) success(now time.Duration) { w.c.Add(kindSuccess, now) }

func (w *window) failure(now time.Duration) { w.c.Add(kindFailure, now) }

// counts returns the successes and failures in the window ending at now.
func (w *window) counts(now time.Duration) (ok, fail uint32) {
	var n [kinds]uint64
	w.c.Counts(now, n[:])
	return clamp32(n[kindSuccess]), clamp32(n[kindFailure])
}

// clamp32 saturates rather than wraps: a window of many full buckets can
// hold more than 2^32 events.
func clamp32(n uint64) uint32 { return uint32(min(n, math.MaxUint32)) }

// reset empties the window.
func (w *window) reset() { w.c.Reset() }
