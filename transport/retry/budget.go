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

// BudgetPolicy describes a [Budget]: what a policy file holds, and what
// [Policy.Budget] asks each Transport (or transport.Stack) to build a
// Budget from. It is data, safe to copy and compare: two Transports built
// from one BudgetPolicy get a Budget each, sharing nothing.
//
// The zero BudgetPolicy means the defaults ([DefaultBudgetRatio],
// [DefaultBudgetMinPerSecond], [DefaultBudgetWindow]). Any other is taken
// as written, as [NewBudget] takes its arguments: a zero Ratio or
// MinPerSecond means none (BudgetPolicy{MinPerSecond: 1} allows one retry
// a second whatever the traffic), negative values count as zero, and a
// Window of zero or less means DefaultBudgetWindow. Policy files spell the
// fields "ratio", "min_per_second" and "window" (a duration string).
type BudgetPolicy struct {
	// Ratio is how many retries each request seen in the window adds to
	// the allowance (0.2: retries may add 20% to the traffic).
	Ratio float64
	// MinPerSecond is a floor of retries per second, so that a client
	// with little traffic can still retry.
	MinPerSecond float64
	// Window is how long requests and retries are remembered.
	Window time.Duration
}

// New returns a new Budget as p describes it, sharing nothing with any
// other.
func (p BudgetPolicy) New() *Budget {
	if p == (BudgetPolicy{}) {
		return NewBudget(DefaultBudgetRatio, DefaultBudgetMinPerSecond, DefaultBudgetWindow)
	}
	return NewBudget(p.Ratio, p.MinPerSecond, p.Window)
}

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
// A Budget is safe for concurrent use. Recording a request takes no lock and
// reads no clock: it is counted in the time slice of the latest retry
// decision, so after a long quiet spell the first retries see only the
// per-second floor until new traffic has been counted. That errs on the side
// of fewer retries, never more.
//
// The zero Budget is valid, but it allows no retries: its ratio and floor
// are zero, as in NewBudget(0, 0, 0). Use [NewBudget] or [BudgetPolicy.New]
// for a working one, or leave [Policy.SharedBudget] nil: each Transport (each
// transport.Stack) then builds its own from [Policy.Budget].
type Budget struct {
	ratio   float64
	reserve float64
	width   int64 // nanoseconds per bucket; 0 only in the zero Budget

	cur     atomic.Int64 // newest slot seen by a withdrawal; deposits go there
	mu      sync.Mutex   // serializes withdrawals and bucket resets
	buckets [budgetBuckets]budgetBucket
}

// budgetBucket counts one slice of time. Its counters are reset (under
// Budget.mu) before its slot moves forward.
type budgetBucket struct {
	slot              atomic.Int64 // which slice of time the counts belong to
	requests, retries atomic.Int64
}

// NewBudget returns a Budget allowing, over any window, ratio retries per
// request plus minPerSecond retries per second. Negative values count as
// zero; a window of zero or less means [DefaultBudgetWindow].
func NewBudget(ratio, minPerSecond float64, window time.Duration) *Budget {
	return newBudget(ratio, minPerSecond, window, monotonic())
}

func newBudget(ratio, minPerSecond float64, window time.Duration, now time.Duration) *Budget {
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
	b.mu.Lock()
	b.advanceLocked(int64(now) / b.width)
	b.mu.Unlock()
	return b
}

// deposit records a new request.
func (b *Budget) deposit() {
	b.buckets[uint64(b.cur.Load())%budgetBuckets].requests.Add(1)
}

// withdraw charges one retry at now (monotonic time since [epoch]) if the
// budget allows it.
func (b *Budget) withdraw(now time.Duration) bool {
	if b.width == 0 {
		return false // the zero SharedBudget: nothing to divide time by, no retries to give
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	slot := int64(now) / b.width
	bk := b.advanceLocked(slot)
	var requests, retries int64
	for i := range b.buckets {
		c := &b.buckets[i]
		if s := c.slot.Load(); s > slot-budgetBuckets && s <= slot {
			requests += c.requests.Load()
			retries += c.retries.Load()
		}
	}
	if float64(retries+1) > b.ratio*float64(requests)+b.reserve {
		return false
	}
	bk.retries.Add(1)
	return true
}

// advanceLocked returns the bucket of slot, emptied first if it held an
// older slice, and moves deposits to slot if it is the newest yet.
// Requires b.mu.
func (b *Budget) advanceLocked(slot int64) *budgetBucket {
	bk := &b.buckets[uint64(slot)%budgetBuckets]
	if bk.slot.Load() < slot {
		bk.requests.Store(0)
		bk.retries.Store(0)
		bk.slot.Store(slot)
	}
	if slot > b.cur.Load() {
		b.cur.Store(slot)
	}
	return bk
}
