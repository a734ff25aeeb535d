// Package registry keeps per-route state that must stay bounded: one entry
// per key (a host, a route, a method and host), at most a fixed number of
// them, created on first use. Every layer that keeps state per key uses it:
// breakers per host, credit latches and remaining-credits gauges per route,
// and, as they come, a pacer's throttle windows, a concurrency limit per
// route and hedging's latency per route.
//
// Lookups that find their entry take no lock and allocate nothing; the
// entry used last is checked first, as most clients talk to one host.
// Creation and removal take a short lock. When the registry is full, the
// owner's [Registry.Keep] function says which entries may make room: a
// pinned entry (an open latch) is never evicted, and when every entry is
// pinned, [Registry.GetOrCreate] says so and the caller falls back (to a
// coarser key, say).
package registry

import (
	"sync"
	"sync/atomic"
)

// Retention says whether an entry may be evicted to make room for a new one.
type Retention uint8

const (
	// Evictable entries may go; one not used since the last eviction is
	// preferred (an approximation of least recently used that costs a
	// lookup nothing).
	Evictable Retention = iota
	// Reluctant entries go only when no Evictable entry is left (an open
	// breaker: dropping it forgets a failing host, but a new key must go
	// somewhere).
	Reluctant
	// Pinned entries are never evicted (a set latch: dropping it would let
	// refused requests through).
	Pinned
)

// Registry maps keys to values, holding at most a fixed number of entries.
// It is safe for concurrent use. Create it with [New]; the zero Registry
// is not usable. Values are shared: whatever in them changes after creation
// is the owner's to synchronise.
type Registry[K comparable, V any] struct {
	max    int
	keep   func(V) Retention
	retire func(V) bool // nil: every victim may go

	m    sync.Map // K → *node[K, V]
	last atomic.Pointer[node[K, V]]
	size atomic.Int64 // changes only under mu
	mu   sync.Mutex   // serialises creation and removal
}

type node[K comparable, V any] struct {
	key  K
	val  V
	used atomic.Bool // set by lookups, cleared by eviction sweeps
	gone atomic.Bool // removed: a stale last pointer must not return it
}

// New returns a Registry of at most limit entries (at least one). keep says
// which entries may be evicted when it is full; nil means every entry is
// Evictable. keep is called under the Registry's lock and must not call
// back into it.
func New[K comparable, V any](limit int, keep func(V) Retention) *Registry[K, V] {
	if keep == nil {
		keep = func(V) Retention { return Evictable }
	}
	return &Registry[K, V]{max: max(limit, 1), keep: keep}
}

// SetRetire sets f, called under the Registry's lock on the entry that
// eviction chose, just before it is removed: f returning false keeps the
// entry (it became busy since keep was asked) and eviction looks further.
// An owner whose keep depends on state that lookups change uses it to
// decide and retire in one step under its own lock. Call it before the
// Registry is used.
func (r *Registry[K, V]) SetRetire(f func(V) bool) { r.retire = f }

// Get returns the value for k, if there is one, and marks it used. It takes
// no lock and allocates nothing.
func (r *Registry[K, V]) Get(k K) (V, bool) {
	if n := r.last.Load(); n != nil && n.key == k && !n.gone.Load() {
		if !n.used.Load() { // spare the shared cache line a write
			n.used.Store(true)
		}
		return n.val, true
	}
	v, ok := r.m.Load(k)
	if !ok {
		var zero V
		return zero, false
	}
	n := v.(*node[K, V])
	if !n.used.Load() {
		n.used.Store(true)
	}
	r.last.Store(n)
	return n.val, true
}

// GetOrCreate returns the value for k, storing create(k) first if there is
// none. When the Registry is full it evicts an entry to make room, as Keep
// allows. If every entry is Pinned, it stores nothing and returns ok false:
// the caller falls back. create runs under the Registry's lock and must
// not call back into it.
func (r *Registry[K, V]) GetOrCreate(k K, create func(K) V) (v V, ok bool) {
	if v, ok := r.Get(k); ok {
		return v, true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n, ok := r.m.Load(k); ok {
		return n.(*node[K, V]).val, true
	}
	if r.size.Load() >= int64(r.max) && !r.evictLocked() {
		return v, false
	}
	n := &node[K, V]{key: k, val: create(k)}
	n.used.Store(true)
	r.m.Store(k, n)
	r.size.Add(1)
	r.last.Store(n)
	return n.val, true
}

// evictLocked removes one entry: the first Evictable one not used since the
// last sweep, else the first Evictable one, else the first Reluctant one.
// The sweep clears the used marks of the Evictable entries it passes over.
// It reports false when every entry is Pinned. Requires r.mu.
func (r *Registry[K, V]) evictLocked() bool {
	var victim, evictable, reluctant *node[K, V]
	r.m.Range(func(_, v any) bool {
		n := v.(*node[K, V])
		switch r.keep(n.val) {
		case Evictable:
			if evictable == nil {
				evictable = n
			}
			if !n.used.Swap(false) {
				victim = n
				return false
			}
		case Reluctant:
			if reluctant == nil {
				reluctant = n
			}
		}
		return true
	})
	for _, n := range [...]*node[K, V]{victim, evictable, reluctant} {
		if n != nil && (r.retire == nil || r.retire(n.val)) {
			r.removeLocked(n)
			return true
		}
	}
	return false
}

// removeLocked removes n. Requires r.mu.
func (r *Registry[K, V]) removeLocked(n *node[K, V]) {
	n.gone.Store(true)
	r.m.Delete(n.key)
	r.size.Add(-1)
	r.last.CompareAndSwap(n, nil)
}

// Delete removes the entry for k, if any, whatever its Retention.
func (r *Registry[K, V]) Delete(k K) {
	r.mu.Lock()
	if v, ok := r.m.Load(k); ok {
		r.removeLocked(v.(*node[K, V]))
	}
	r.mu.Unlock()
}

// Clear removes every entry.
func (r *Registry[K, V]) Clear() {
	r.mu.Lock()
	r.m.Range(func(_, v any) bool {
		r.removeLocked(v.(*node[K, V]))
		return true
	})
	r.mu.Unlock()
}

// Len returns the number of entries. It takes no lock.
func (r *Registry[K, V]) Len() int { return int(r.size.Load()) }

// Range calls f for each entry, in no particular order, until f returns
// false. As with [sync.Map.Range], f sees each entry present throughout at
// most once, and may call back into the Registry.
func (r *Registry[K, V]) Range(f func(K, V) bool) {
	r.m.Range(func(_, v any) bool {
		n := v.(*node[K, V])
		return f(n.key, n.val)
	})
}
