package breaker

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

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
	used     atomic.Bool  // set on use, cleared by eviction sweeps

	// While closed, outcomes are counted here (see window.go); gen changes
	// with every state change so that an outcome from before it is not
	// reported after it.
	win    window
	consec atomic.Uint32 // failures in a row
	gen    atomic.Uint64
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
// by one Middleware).
type registry struct {
	p     Policy
	clock func() time.Duration // monotonic; a hook for tests

	entries sync.Map              // key → *entry
	last    atomic.Pointer[entry] // the entry used last: most clients talk to one host
	size    atomic.Int64
	mu      sync.Mutex // serializes creation and eviction of entries

	// State changes happen under gobreaker's lock; they are queued there
	// and delivered to p.OnStateChange after the lock is released, by one
	// goroutine at a time (see flush).
	pendingMu  sync.Mutex
	pending    []stateChange // guarded by pendingMu
	hasPending atomic.Bool
	delivering atomic.Bool // a goroutine is in flush's delivery loop
}

func newRegistry(p Policy) *registry {
	return &registry{p: p, clock: sinceEpoch}
}

// get returns the breaker for k, creating it if needed.
func (r *registry) get(k key) *entry {
	if e := r.last.Load(); e != nil && e.key == k {
		if !e.used.Load() { // avoid writing a shared cache line on every call
			e.used.Store(true)
		}
		return e
	}
	var e *entry
	if v, ok := r.entries.Load(k); ok {
		e = v.(*entry)
		e.used.Store(true)
	} else {
		e = r.create(k)
	}
	r.last.Store(e)
	return e
}

func (r *registry) create(k key) *entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.entries.Load(k); ok {
		return v.(*entry)
	}
	if r.size.Load() >= int64(r.p.MaxKeys) {
		r.evictLocked()
	}
	e := &entry{reg: r, key: k, win: newWindow(r.p.Window, windowBuckets)}
	e.used.Store(true)
	name := k.String()
	e.cb = gobreaker.NewCircuitBreaker[*http.Response](gobreaker.Settings{
		Name:        name,
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
				e.openedAt.Store(time.Now().UnixNano())
			case StateClosed:
				e.consec.Store(0)
				e.win.reset()
			}
			e.state.Store(int32(to)) // last: the fast path starts counting afresh
			if r.p.OnStateChange != nil {
				r.pendingMu.Lock()
				r.pending = append(r.pending, stateChange{name, from, to})
				r.hasPending.Store(true)
				r.pendingMu.Unlock()
			}
		},
	})
	r.entries.Store(k, e)
	r.size.Add(1)
	return e
}

// evictLocked drops one breaker to make room, preferring a closed one not
// used since the last sweep (an approximation of least recently used that
// costs nothing on lookups), so that open breakers keep protecting their
// hosts. Requires r.mu.
func (r *registry) evictLocked() {
	var victim, closed, first key
	found, haveClosed, haveFirst := false, false, false
	r.entries.Range(func(k, v any) bool {
		e := v.(*entry)
		if !haveFirst {
			first, haveFirst = k.(key), true
		}
		if State(e.state.Load()) != StateClosed {
			return true
		}
		if !haveClosed {
			closed, haveClosed = k.(key), true
		}
		if e.used.Swap(false) {
			return true // used lately: spare it this time
		}
		victim, found = k.(key), true
		return false
	})
	switch {
	case found:
	case haveClosed:
		victim = closed
	case haveFirst:
		victim = first
	default:
		return
	}
	r.entries.Delete(victim)
	r.size.Add(-1)
	if e := r.last.Load(); e != nil && e.key == victim {
		r.last.Store(nil)
	}
}

// flush delivers queued state changes to OnStateChange, in order, holding
// no lock while a hook runs: a hook may send requests through the
// Transport (changing other breakers' states) or read States. One
// goroutine delivers at a time; a flush that finds another one delivering
// leaves its changes to it, so a hook that calls back in never waits for
// itself, and a request never waits for a hook run by another.
func (r *registry) flush() {
	// The second look catches a change queued after the deliverer's last
	// look but before it let go.
	for r.hasPending.Load() && r.delivering.CompareAndSwap(false, true) {
		r.deliver()
	}
}

// deliver runs the hooks of queued changes until none is left. The caller
// has set r.delivering; deliver clears it, also when a hook panics.
func (r *registry) deliver() {
	defer r.delivering.Store(false)
	for {
		r.pendingMu.Lock()
		changes := r.pending
		r.pending = nil
		r.hasPending.Store(false)
		r.pendingMu.Unlock()
		if len(changes) == 0 {
			return
		}
		for _, c := range changes {
			r.p.OnStateChange(c.name, c.from, c.to)
		}
	}
}

// windowBuckets is how many buckets a window is split into.
const windowBuckets = 10

// Outcomes reported to gobreaker: nil is a success.
var (
	errFailure  = errors.New("breaker: counted as failure")
	errExcluded = errors.New("breaker: not counted")
)
