package breaker

import (
	"sync/atomic"
	"time"
)

// A closed breaker's counting is done here rather than in gobreaker: a
// success in the closed state only has to be added to a rolling window,
// which takes one atomic compare-and-swap instead of gobreaker's two
// mutexed sections and two wall-clock reads. gobreaker still owns the state
// machine: failures are reported to it (they are what can trip it), and in
// the open and half-open states every request goes through it.

// epoch anchors the monotonic clock the windows read.
var epoch = time.Now()

// sinceEpoch reads the monotonic clock only, which is cheaper than
// time.Now.
func sinceEpoch() time.Duration { return time.Since(epoch) }

const (
	countBits = 24
	countMask = 1<<countBits - 1
)

// window counts successes and failures over a rolling period split into
// len(buckets) slots, without locks. Each counter is one word holding the
// slot number it belongs to (the upper 40 bits) and the count (the lower
// 24 bits, saturating), so that moving a bucket to a new slot and counting
// in it is a single compare-and-swap.
type window struct {
	period  time.Duration
	buckets []bucket
}

type bucket struct {
	ok, fail atomic.Uint64
}

func newWindow(span time.Duration, n int) window {
	period := span / time.Duration(n)
	if period <= 0 {
		period = 1
	}
	return window{period: period, buckets: make([]bucket, n)}
}

func (w *window) slot(now time.Duration) uint64 { return uint64(now / w.period) }

func (w *window) bucket(slot uint64) *bucket { return &w.buckets[slot%uint64(len(w.buckets))] }

// add counts one event in the slot of now.
func add(c *atomic.Uint64, slot uint64) {
	for {
		old := c.Load()
		var n uint64
		switch s := old >> countBits; {
		case s == slot:
			if old&countMask == countMask {
				return // saturated
			}
			n = old + 1
		case s < slot:
			n = slot<<countBits | 1
		default:
			return // the bucket has moved on: this event is older than the window
		}
		if c.CompareAndSwap(old, n) {
			return
		}
	}
}

func (w *window) success(now time.Duration) {
	s := w.slot(now)
	add(&w.bucket(s).ok, s)
}

func (w *window) failure(now time.Duration) {
	s := w.slot(now)
	add(&w.bucket(s).fail, s)
}

// counts returns the successes and failures in the window ending at now.
func (w *window) counts(now time.Duration) (ok, fail uint32) {
	cur := w.slot(now)
	n := uint64(len(w.buckets))
	in := func(v uint64) uint32 {
		s := v >> countBits
		if s > cur || cur-s >= n {
			return 0
		}
		return uint32(v & countMask)
	}
	for i := range w.buckets {
		ok += in(w.buckets[i].ok.Load())
		fail += in(w.buckets[i].fail.Load())
	}
	return ok, fail
}

// reset empties the window.
func (w *window) reset() {
	for i := range w.buckets {
		w.buckets[i].ok.Store(0)
		w.buckets[i].fail.Store(0)
	}
}
