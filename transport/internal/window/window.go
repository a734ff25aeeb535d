// Package window counts events over a rolling span of time, and holds the
// monotonic clock the layers read. The breaker counts successes and
// failures in a [Counter]; the retry budget counts requests and retries.
package window

import (
	"sync/atomic"
	"time"
)

// epoch anchors the clock. time.Since(epoch) reads only the monotonic
// clock, about half the cost of time.Now.
var epoch = time.Now()

// Now returns the time elapsed since the process started (strictly, since
// this package was initialized) on the monotonic clock. It never goes
// backwards and is never negative: it is the now a [Counter] expects.
func Now() time.Duration { return time.Since(epoch) }

// At returns t as a reading of the clock [Now] reads: negative if t is
// before the epoch. With a t that carries a monotonic reading (time.Now,
// and the deadlines context.WithTimeout sets), At(t) - Now() is exactly
// time.Until(t).
func At(t time.Time) time.Duration { return t.Sub(epoch) }

// A counter word holds the slot it counts for in its upper slotBits and the
// count in its lower countBits, so that moving a bucket on to a new slot
// and counting in it is one compare-and-swap.
const (
	countBits = 24
	slotBits  = 64 - countBits
	slotMask  = 1<<slotBits - 1

	// MaxCount is where a bucket's count of one kind stops: further
	// events of that kind in that bucket are not counted.
	MaxCount = 1<<countBits - 1

	// MinBucket is the shortest bucket. With 2^40 slots to number
	// buckets, a bucket of at least a millisecond lets the clock run for
	// 34 years before slot numbers wrap.
	MinBucket = time.Millisecond
)

// Counter counts events of a few kinds (numbered 0 to kinds-1) over a
// rolling span cut into buckets, without locks: recording an event is one
// atomic compare-and-swap and allocates nothing. An event counts for the
// bucket of the time it is recorded at; the counts at now cover the bucket
// holding now and the buckets-1 before it, so an event drops out between
// span-span/buckets and span after it happened.
//
// Each bucket counts up to [MaxCount] events of each kind (more are lost:
// counts saturate). An event recorded for a time older than the window a
// bucket now counts for is dropped, as it would have left the window.
//
// The zero Counter counts nothing: Add does nothing and Counts reports
// zeros. A Counter is safe for concurrent use; copies share their counts.
type Counter struct {
	period time.Duration
	n      uint64          // buckets
	words  []atomic.Uint64 // kind k, bucket b at words[k*n+b]
}

// New returns a Counter of kinds kinds (at least 1) over span, cut into
// buckets buckets (at least 1). Buckets are at least [MinBucket] long:
// when span/buckets is shorter, the span is cut into fewer buckets, and a
// span under MinBucket is one bucket of MinBucket.
func New(span time.Duration, buckets, kinds int) Counter {
	kinds, buckets = max(kinds, 1), max(buckets, 1)
	period := span / time.Duration(buckets)
	if period < MinBucket {
		period = MinBucket
		buckets = max(int(span/MinBucket), 1)
	}
	return Counter{period: period, n: uint64(buckets), words: make([]atomic.Uint64, buckets*kinds)}
}

// slot numbers the bucket-long slice of time holding now; the numbers wrap
// after 2^40 slices. Readings before the epoch count as the epoch.
func (c *Counter) slot(now time.Duration) uint64 {
	return uint64(max(now, 0)/c.period) & slotMask
}

// word returns the counter word of kind for now's bucket, and now's slot.
func (c *Counter) word(kind int, now time.Duration) (*atomic.Uint64, uint64) {
	s := c.slot(now)
	return &c.words[uint64(kind)*c.n+s%c.n], s
}

// Add records one event of kind at now, a reading of [Now] or of a clock
// that stands in for it. It panics if kind is out of range.
func (c *Counter) Add(kind int, now time.Duration) {
	if c.n == 0 {
		return
	}
	w, s := c.word(kind, now)
	for {
		old := w.Load()
		var next uint64
		switch ws := old >> countBits; {
		case ws == s:
			if old&MaxCount == MaxCount {
				return
			}
			next = old + 1
		case ws < s:
			next = s<<countBits | 1
		default:
			return // the bucket counts a later slot: this event has left the window
		}
		if w.CompareAndSwap(old, next) {
			return
		}
	}
}

// Remove takes back one event of kind recorded at now: the bucket of now
// counts one fewer, if it still counts for now's slot and holds any. It
// panics if kind is out of range.
func (c *Counter) Remove(kind int, now time.Duration) {
	if c.n == 0 {
		return
	}
	w, s := c.word(kind, now)
	for {
		old := w.Load()
		if old>>countBits != s || old&MaxCount == 0 {
			return // the event has left the window, or was never counted
		}
		if w.CompareAndSwap(old, old-1) {
			return
		}
	}
}

// Counts stores in into[k] the events of kind k in the window ending at
// now, for each k below both len(into) and the Counter's kinds.
func (c *Counter) Counts(now time.Duration, into []uint64) {
	clear(into)
	if c.n == 0 {
		return
	}
	cur := c.slot(now)
	into = into[:min(len(into), len(c.words)/int(c.n))]
	for k := range into {
		words := c.words[uint64(k)*c.n:][:c.n]
		for b := range words {
			v := words[b].Load()
			if s := v >> countBits; s <= cur && cur-s < c.n {
				into[k] += v & MaxCount
			}
		}
	}
}

// Reset forgets every event counted so far. Events recorded while it runs
// may survive it.
func (c *Counter) Reset() {
	for i := range c.words {
		c.words[i].Store(0)
	}
}
