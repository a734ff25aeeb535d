// Package notify delivers a layer's events (a breaker's state changes, a
// latch set or released) to the caller's hook in the order they happened,
// outside every lock.
//
// An event is queued with [Queue.Push] under whatever lock made the change,
// and delivered by [Queue.Flush] once that lock is released. One goroutine
// delivers at a time; a Flush that finds another goroutine delivering
// leaves its events to it and returns at once. So a hook may call back into
// the layer (making new events) without waiting for itself, and a request
// never waits for a hook run by another request.
package notify

import (
	"sync"
	"sync/atomic"
)

// Queue holds events waiting for a hook. It is safe for concurrent use.
// Create it with [New]; a nil *Queue, like one with a nil hook, drops every
// event.
type Queue[E any] struct {
	hook func(E)

	mu      sync.Mutex
	pending []E         // oldest first; guarded by mu
	has     atomic.Bool // len(pending) > 0, changed under mu
	busy    atomic.Bool // a goroutine is delivering
}

// New returns a Queue that delivers events to hook.
func New[E any](hook func(E)) *Queue[E] { return &Queue[E]{hook: hook} }

// Push queues e. It never calls the hook, so it may be called under the
// caller's locks.
func (q *Queue[E]) Push(e E) {
	if q == nil || q.hook == nil {
		return
	}
	q.mu.Lock()
	q.pending = append(q.pending, e)
	q.has.Store(true)
	q.mu.Unlock()
}

// Pending reports whether events wait for delivery: one atomic load, for
// callers to skip Flush on the common path.
func (q *Queue[E]) Pending() bool { return q != nil && q.has.Load() }

// Flush delivers the queued events, in order, unless another goroutine is
// delivering them; call it holding no lock. If a hook panics, the panic
// goes on from Flush with the events after it still queued: the next Flush
// delivers them.
func (q *Queue[E]) Flush() {
	// The second look catches an event queued after the deliverer's last
	// look but before it let go.
	for q.Pending() && q.busy.CompareAndSwap(false, true) {
		q.deliver()
	}
}

// deliver runs the hook on queued events until none is left. The caller
// has set q.busy; deliver clears it, also when the hook panics.
func (q *Queue[E]) deliver() {
	defer q.busy.Store(false)
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.pending = nil // let go of the array a burst grew
			q.has.Store(false)
			q.mu.Unlock()
			return
		}
		e := q.pending[0]
		var zero E
		q.pending[0] = zero
		q.pending = q.pending[1:]
		q.mu.Unlock()
		q.hook(e)
	}
}
