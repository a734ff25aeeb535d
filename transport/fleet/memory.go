package fleet

import (
	"context"
	"sync"
	"time"
)

// Memory is shared state held in one process: every [Memory.Replica] of one
// Memory sees the others' writes at once. It serves tests and examples
// that run several replicas in one process, and is the local mirror behind
// a networked Store.
//
// The zero value is ready to use. A Memory is safe for concurrent use; it
// never does I/O, so it never fails.
type Memory struct {
	mu     sync.RWMutex
	until  map[factKey]time.Time
	counts map[factKey]*counter
	leases map[factKey]lease
	rates  map[string]*bucket
	nextID uint64
	writes int // writes since the last sweep (see wrote)
}

// factKey names one fact: a key of one kind.
type factKey struct {
	kind Kind
	key  string
}

type lease struct {
	holder uint64
	until  time.Time
}

// sweepEvery bounds how many writes pass between sweeps of passed
// deadlines, so keys that are never cleared do not pile up.
const sweepEvery = 1024

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return new(Memory) }

// Replica returns a new replica's view of m: a [Store] with its own
// identity (for leases) over m's state.
func (m *Memory) Replica() *Replica {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextID++
	return &Replica{m: m, id: m.nextID}
}

// Replica is one replica's Store over a [Memory]. Create it with
// [Memory.Replica]; the zero value is not usable. Safe for concurrent use.
type Replica struct {
	m  *Memory
	id uint64
}

var _ Store = (*Replica)(nil)

// Until implements [Store.Until]. It reads the clock only when the key has
// a deadline: the common case is a map lookup under a read lock.
func (r *Replica) Until(kind Kind, key string) time.Time {
	r.m.mu.RLock()
	t, ok := r.m.until[factKey{kind, key}]
	r.m.mu.RUnlock()
	if !ok || !t.After(time.Now()) {
		return time.Time{}
	}
	return t
}

// SetUntil implements [Store.SetUntil].
func (r *Replica) SetUntil(kind Kind, key string, until time.Time) {
	r.m.setUntil(kind, key, until, time.Now())
}

// Clear implements [Store.Clear].
func (r *Replica) Clear(kind Kind, key string) { r.m.clear(kind, key) }

// Add implements [Store.Add].
func (r *Replica) Add(kind Kind, key string, n int, window time.Duration) int {
	return r.m.add(kind, key, n, window, time.Now())
}

// Count implements [Store.Count]. It reads the clock only when the key has
// a count.
func (r *Replica) Count(kind Kind, key string) int {
	r.m.mu.RLock()
	_, ok := r.m.counts[factKey{kind, key}]
	r.m.mu.RUnlock()
	if !ok {
		return 0
	}
	return r.m.count(kind, key, time.Now())
}

// Lease implements [Store.Lease].
func (r *Replica) Lease(kind Kind, key string, d time.Duration) bool {
	return r.m.lease(r.id, kind, key, d, time.Now())
}

// Reserve implements [Store.Reserve]. The rate is shared by every replica
// of the Memory, exactly.
func (r *Replica) Reserve(_ context.Context, key string, l Limit) (time.Duration, bool) {
	return r.m.reserve(key, l, time.Now())
}

// Deadline is one deadline a [Memory] holds: see [Memory.Deadlines].
type Deadline struct {
	Kind  Kind      // what the deadline holds back: a credits latch, a breaker, a throttle window
	Key   string    // the layer's key, as given to SetUntil
	Until time.Time // when it ends
}

// Deadlines returns the deadlines m holds that have not passed, in no
// order. With [Memory.ClearIf] it lets a networked Store that keeps m as
// its mirror drop the deadlines its backend no longer holds: Clears it
// missed while it was cut off or resubscribing.
func (m *Memory) Deadlines() []Deadline {
	now := time.Now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Deadline, 0, len(m.until))
	for k, t := range m.until {
		if t.After(now) {
			out = append(out, Deadline{Kind: k.kind, Key: k.key, Until: t})
		}
	}
	return out
}

// ClearIf clears the deadline of (d.Kind, d.Key) if it is still d.Until,
// and reports whether it did: a deadline set again since [Memory.Deadlines]
// returned d stays. Unlike [Store.Clear] it keeps the key's count.
func (m *Memory) ClearIf(d Deadline) bool {
	k := factKey{d.Kind, d.Key}
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.until[k]; !ok || !t.Equal(d.Until) {
		return false
	}
	delete(m.until, k)
	return true
}

func (m *Memory) untilAt(kind Kind, key string, now time.Time) time.Time {
	m.mu.RLock()
	t := m.until[factKey{kind, key}]
	m.mu.RUnlock()
	if !t.After(now) {
		return time.Time{}
	}
	return t
}

func (m *Memory) setUntil(kind Kind, key string, until, now time.Time) {
	if !until.After(now) {
		return
	}
	k := factKey{kind, key}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.until == nil {
		m.until = make(map[factKey]time.Time)
	}
	if old, ok := m.until[k]; ok && !until.After(old) {
		return // never shorten: only Clear does
	}
	m.until[k] = until
	m.wrote(now)
}

// wrote counts a write that may have added a key and, every sweepEvery
// writes, drops what no longer counts: passed deadlines and leases, counts
// whose window has passed, buckets full again (a new one starts full).
// The caller holds m.mu.
func (m *Memory) wrote(now time.Time) {
	if m.writes++; m.writes < sweepEvery {
		return
	}
	m.writes = 0
	for k, t := range m.until {
		if !t.After(now) {
			delete(m.until, k)
		}
	}
	for k, l := range m.leases {
		if !l.until.After(now) {
			delete(m.leases, k)
		}
	}
	for k, c := range m.counts {
		if c.sum(now) == 0 {
			delete(m.counts, k)
		}
	}
	for k, b := range m.rates {
		if !b.full.After(now) {
			delete(m.rates, k)
		}
	}
}

func (m *Memory) clear(kind Kind, key string) {
	k := factKey{kind, key}
	m.mu.Lock()
	delete(m.until, k)
	delete(m.counts, k)
	m.mu.Unlock()
}

func (m *Memory) add(kind Kind, key string, n int, window time.Duration, now time.Time) int {
	if window <= 0 {
		window = time.Second
	} else if window < slots {
		window = slots // a slot of at least 1ns: the counter divides by it
	}
	k := factKey{kind, key}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts = make(map[factKey]*counter)
	}
	c := m.counts[k]
	if c == nil {
		c = new(counter)
		m.counts[k] = c
		m.wrote(now)
	}
	c.add(now, n, window)
	return c.sum(now)
}

func (m *Memory) count(kind Kind, key string, now time.Time) int {
	m.mu.RLock() // sum only reads the counter
	defer m.mu.RUnlock()
	c := m.counts[factKey{kind, key}]
	if c == nil {
		return 0
	}
	return c.sum(now)
}

func (m *Memory) lease(holder uint64, kind Kind, key string, d time.Duration, now time.Time) bool {
	k := factKey{kind, key}
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.leases[k]; ok && l.until.After(now) {
		return l.holder == holder
	}
	if d <= 0 {
		return true // a lease of no time is held by whoever asks, and by no one after
	}
	if m.leases == nil {
		m.leases = make(map[factKey]lease)
	}
	m.leases[k] = lease{holder: holder, until: now.Add(d)}
	return true
}

func (m *Memory) reserve(key string, l Limit, now time.Time) (time.Duration, bool) {
	if l.Rate <= 0 {
		return 0, true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rates == nil {
		m.rates = make(map[string]*bucket)
	}
	b := m.rates[key]
	if b == nil {
		b = &bucket{tokens: float64(max(l.Burst, 1)), last: now}
		m.rates[key] = b
		m.wrote(now)
	}
	return b.take(l, now)
}
