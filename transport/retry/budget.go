package retry

import (
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of a [Budget], the values of Finagle's RetryBudget: retries may
// add 20% to the traffic of the last 10 seconds, plus a floor of 10 retries
// per second so that low-traffic clients can still retry.
const (
	DefaultBudgetRatio        = 0.2
	DefaultBudgetMinPerSecond = 10
	DefaultBudgetWindow       = 10 * time.Second
)

// budgetBuckets is how many slices the window is cut into: the budget forgets
// old traffic one slice at a time.
const budgetBuckets = 10

// Budget limits retries to a fraction of the requests seen in a sliding
// window, shared by every request (and every Transport) that uses it. When a
// server fails most calls, retries are capped at ratio × requests +
// minPerSecond × window instead of multiplying its load by MaxAttempts.
//
// Retries are charged when they are decided, before the backoff wait, so
// retries that are waiting count against the budget (a retry that is sleeping
// is still load about to arrive). Only retries are charged: a request that
// ends with a permanent error (400, 402, 422...) costs nothing, and every
// request, whatever its outcome, adds to the allowance. The window slides, so
// the budget refills as old traffic ages out, with or without successes.
// An exhausted budget never blocks: the request ends with its last response
// or error.
//
// A Budget is safe for concurrent use. Recording a request takes no lock.
type Budget struct {
	ratio   float64
	reserve float64
	width   int64 // nanoseconds per bucket

	mu      sync.Mutex // serializes withdrawals and bucket resets
	buckets [budgetBuckets]budgetBucket
}

// budgetBucket counts one slice of time. Its counters are reset (under
// Budget.mu) before its slot moves forward, so a reader that sees the new
// slot sees fresh counters.
type budgetBucket struct {
	slot              atomic.Int64 // which slice of time the counts belong to
	requests, retries atomic.Int64
}

// NewBudget returns a Budget allowing, over any window, ratio retries per
// request plus minPerSecond retries per second. Negative values count as
// zero; a window of zero or less means [DefaultBudgetWindow].
func NewBudget(ratio, minPerSecond float64, window time.Duration) *Budget {
	if window <= 0 {
		window = DefaultBudgetWindow
	}
	b := &Budget{
		ratio:   max(ratio, 0),
		reserve: max(minPerSecond, 0) * window.Seconds(),
		width:   max(int64(window)/budgetBuckets, 1),
	}
	for i := range b.buckets {
		b.buckets[i].slot.Store(-1)
	}
	return b
}

// deposit records a new request at now (monotonic time since [epoch]).
func (b *Budget) deposit(now time.Duration) {
	b.current(now).requests.Add(1)
}

// withdraw charges one retry at now if the budget allows it.
func (b *Budget) withdraw(now time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	slot := int64(now) / b.width
	var requests, retries int64
	for i := range b.buckets {
		bk := &b.buckets[i]
		if s := bk.slot.Load(); s > slot-budgetBuckets && s <= slot {
			requests += bk.requests.Load()
			retries += bk.retries.Load()
		}
	}
	if float64(retries+1) > b.ratio*float64(requests)+b.reserve {
		return false
	}
	b.currentLocked(now).retries.Add(1)
	return true
}

// current returns the bucket for now, emptied first if it held an older
// slice of time.
func (b *Budget) current(now time.Duration) *budgetBucket {
	slot := int64(now) / b.width
	bk := &b.buckets[uint64(slot)%budgetBuckets]
	if bk.slot.Load() >= slot {
		return bk // the common case: no lock
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.currentLocked(now)
}

// currentLocked is current for a caller holding b.mu.
func (b *Budget) currentLocked(now time.Duration) *budgetBucket {
	slot := int64(now) / b.width
	bk := &b.buckets[uint64(slot)%budgetBuckets]
	if bk.slot.Load() < slot {
		bk.requests.Store(0)
		bk.retries.Store(0)
		bk.slot.Store(slot)
	}
	return bk
}
