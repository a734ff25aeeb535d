package retry

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/transport/internal/window"
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

// Kinds of event a Budget counts.
const (
	kindRequest = iota
	kindRetry
	budgetKinds
)

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
// or error. Each tenth of the window counts up to 16,777,215 requests and as
// many retries; beyond that the allowance stops growing.
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

	win  window.Counter // requests and retries; zero (counting nothing) in the zero Budget
	last atomic.Int64   // the latest time a withdrawal was made at; deposits count there
	mu   sync.Mutex     // makes a withdrawal's check and charge one step
}

// NewBudget returns a Budget allowing, over any window, ratio retries per
// request plus minPerSecond retries per second. Negative values (and NaN)
// count as zero; a window of zero or less means [DefaultBudgetWindow].
func NewBudget(ratio, minPerSecond float64, window time.Duration) *Budget {
	return newBudget(ratio, minPerSecond, window, monotonic())
}

func newBudget(ratio, minPerSecond float64, span time.Duration, now time.Duration) *Budget {
	if span <= 0 {
		span = DefaultBudgetWindow
	}
	b := &Budget{
		ratio:   nonNegative(ratio),
		reserve: nonNegative(minPerSecond) * span.Seconds(),
		win:     window.New(span, budgetBuckets, budgetKinds),
	}
	b.last.Store(int64(now))
	return b
}

// nonNegative returns x, or 0 for a negative x or NaN: max(NaN, 0) is
// NaN, which every comparison in withdraw would let through.
func nonNegative(x float64) float64 {
	if !(x > 0) {
		return 0
	}
	return x
}

// deposit records a new request.
func (b *Budget) deposit() {
	b.win.Add(kindRequest, time.Duration(b.last.Load()))
}

// withdraw charges one retry at now (a reading of the clock [window.Now]
// reads) if the budget allows it. A now older than an earlier withdrawal's
// counts as that one's.
func (b *Budget) withdraw(now time.Duration) bool {
	_, ok := b.withdrawAt(now)
	return ok
}

// withdrawAt is withdraw, also returning the time the retry was charged
// at, for [Budget.refund].
func (b *Budget) withdrawAt(now time.Duration) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if last := time.Duration(b.last.Load()); now > last {
		b.last.Store(int64(now))
	} else {
		now = last
	}
	var n [budgetKinds]uint64
	b.win.Counts(now, n[:])
	if float64(n[kindRetry]+1) > b.ratio*float64(n[kindRequest])+b.reserve {
		return 0, false
	}
	b.win.Add(kindRetry, now)
	return now, true
}

// refund gives back a retry charged at at (by withdrawAt) that was never
// sent, while it is still in its bucket.
func (b *Budget) refund(at time.Duration) {
	b.win.Remove(kindRetry, at)
}
