package breaker

import (
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/transport/internal/notify"
	bounded "github.com/resilient-http/resilient/transport/internal/registry"
	"github.com/sony/gobreaker/v2"
)

// key identifies a breaker. The default per-host key is the URL's scheme and
// host, kept as two strings so that looking it up allocates nothing.
type key struct {
	scheme, host string
	custom       string
}

func (k key) String() string {
	if k.scheme == "" && k.host == "" {
		return k.custom
	}
	return k.scheme + "://" + k.host
}

// entry is one breaker and what the Transport tracks about it.
type entry struct {
	reg      *registry
	key      key
	cb       *gobreaker.CircuitBreaker[*http.Response]
	state    atomic.Int32 // mirrors cb's state, updated on each change
	openedAt atomic.Int64 // unix nanoseconds of the last change to open

	// While closed, outcomes are counted here (see window.go); gen changes
	// with every state change so that an outcome from before it is not
	// reported after it.
	win    window
	consec atomic.Uint32 // failures in a row
	gen    atomic.Uint64

	// probeKey names the fleet's half-open deadline of this breaker (see
	// fleet.go); made once, so that reading it allocates nothing.
	probeKey string
	// probing is set while this replica's request is the fleet's probe (or
	// is asking for the lease): a holder asking again keeps the lease, so
	// without it every request arriving meanwhile would probe too.
	probing atomic.Bool
}

// trips reports whether the closed breaker's counts call for opening it.
func (e *entry) trips(p *Policy, now time.Duration) bool {
	if e.consec.Load() >= p.ConsecutiveFailures {
		return true
	}
	ok, fail := e.win.counts(now)
	n := ok + fail
	return n >= p.MinRequests && float64(fail) >= p.FailureRatio*float64(n)
}

// stateChange is a transition waiting to be reported to OnStateChange.
type stateChange struct {
	name     string
	from, to State
}

// registry holds the breakers of one Transport (or of every Transport made
// by one Middleware), at most MaxKeys of them.
type registry struct {
	p     Policy
	clock func() time.Duration // monotonic; a hook for tests

	breakers *bounded.Registry[key, *entry]

	// State changes happen under gobreaker's lock; they are queued there
	// and delivered to p.OnStateChange after the lock is released (see
	// package notify): a hook may send requests through the Transport or
	// read States, and never waits for itself. Nil without a hook.
	events *notify.Queue[stateChange]
}

func newRegistry(p Policy) *registry {
	r := &registry{p: p, clock: sinceEpoch}
	// An open or half-open breaker is dropped only when every breaker is:
	// it protects its host.
	r.breakers = bounded.New[key](p.MaxKeys, func(e *entry) bounded.Retention {
		if State(e.state.Load()) == StateClosed {
			return bounded.Evictable
		}
		return bounded.Reluctant
	})
	if p.OnStateChange != nil {
		r.events = notify.New(func(c stateChange) { p.OnStateChange(c.name, c.from, c.to) })
	}
	return r
}

// get returns the breaker for k, creating it if needed. A breaker found
// costs no lock and no allocation.
func (r *registry) get(k key) *entry {
	if e, ok := r.breakers.Get(k); ok {
		return e
	}
	// Never full: no breaker is pinned.
	e, _ := r.breakers.GetOrCreate(k, r.newEntry)
	return e
}

// newEntry makes the breaker for k. It runs under the registry's lock.
func (r *registry) newEntry(k key) *entry {
	e := &entry{reg: r, key: k, win: newWindow(r.p.Window, windowBuckets)}
	if r.p.Fleet != nil {
		e.probeKey = k.String() + probeSuffix
	}
	e.cb = gobreaker.NewCircuitBreaker[*http.Response](gobreaker.Settings{
		Name:        k.String(),
		MaxRequests: r.p.HalfOpenProbes,
		// No Interval: while closed, the window above does the counting
		// and gobreaker only hears of failures.
		Timeout:     r.p.OpenTimeout,
		ReadyToTrip: func(gobreaker.Counts) bool { return e.trips(&r.p, r.clock()) },
		IsExcluded:  func(err error) bool { return err == errExcluded },
		OnStateChange: func(name string, from, to State) {
			// Runs under gobreaker's lock: record, never call back in.
			e.gen.Add(1)
			switch to {
			case StateOpen:
				now := time.Now()
				e.openedAt.Store(now.UnixNano())
				r.fleetOpen(e, now) // a Store's writes never block
			case StateClosed:
				e.consec.Store(0)
				e.win.reset()
				if from == StateHalfOpen {
					r.fleetClose(e)
				}
			}
			e.state.Store(int32(to)) // last: the fast path starts counting afresh
			r.events.Push(stateChange{name, from, to})
		},
	})
	return e
}

// windowBuckets is how many buckets a window is split into.
const windowBuckets = 10

// Outcomes reported to gobreaker: nil is a success.
var (
	errFailure  = errors.New("breaker: counted as failure")
	errExcluded = errors.New("breaker: not counted")
)
