package fleet

import (
	"context"
	"time"
)

// Kind names what a deadline or a count stands for. Keys of different
// kinds never collide: (KindCredits, "GET /a") and (KindBreaker, "GET /a")
// are two facts.
type Kind uint8

// The kinds the layers share. Their values travel between replicas: never
// renumber them.
const (
	// KindCredits is a 402 latch per route key: refuse until the deadline.
	KindCredits Kind = 1
	// KindThrottle is a throttle window per host or route key (Retry-After,
	// RateLimit reset): wait until the deadline.
	KindThrottle Kind = 2
	// KindBreaker is a breaker per breaker key: open until the deadline;
	// its count is the fleet's failures in the breaker's window; its lease
	// picks the replica that probes.
	KindBreaker Kind = 3
)

// String returns the kind's name as used in keys and logs.
func (k Kind) String() string {
	switch k {
	case KindCredits:
		return "credits"
	case KindThrottle:
		return "throttle"
	case KindBreaker:
		return "breaker"
	}
	return "unknown"
}

// Valid reports whether k is one of the kinds above.
func (k Kind) Valid() bool { return k >= KindCredits && k <= KindBreaker }

// Limit is a shared rate: Rate events per second, at most Burst at once.
// A Limit with Rate <= 0 admits everything; Burst < 1 means 1.
type Limit struct {
	Rate  float64
	Burst int
}

// Store is the state a fleet of replicas shares. Implementations are safe
// for concurrent use. Every method is answered even when the backend is
// down: the answer then comes from local state (see the package doc).
type Store interface {
	// Until returns the latest deadline any replica published for (kind,
	// key) that has not passed, or the zero Time. It reads the local
	// mirror: no I/O, no allocation.
	Until(kind Kind, key string) time.Time

	// SetUntil publishes "refuse or wait until until" for (kind, key). It
	// never shortens a deadline the fleet holds (use Clear for that) and
	// ignores a deadline already past. It returns at once: the mirror
	// holds the deadline before it returns, other replicas see it later.
	SetUntil(kind Kind, key string, until time.Time)

	// Clear forgets what the fleet knows about (kind, key): its deadline
	// and its count. It returns at once, as SetUntil.
	Clear(kind Kind, key string)

	// Add counts n events (a breaker's failures) for (kind, key) over a
	// rolling window and returns the fleet's count in that window as the
	// mirror knows it, this replica's n included. It returns at once.
	Add(kind Kind, key string, n int, window time.Duration) int

	// Count returns the fleet's count for (kind, key) in the window of the
	// last Add, from the mirror.
	Count(kind Kind, key string) int

	// Lease asks for the fleet-wide lease on (kind, key) for d and reports
	// whether this replica holds it: exactly one replica does until it
	// expires (a holder asking again keeps it, without extending it). It
	// may cost one round trip, bounded by the store.
	Lease(kind Kind, key string, d time.Duration) bool

	// Reserve asks the shared rate l for key for one event. When ok, the
	// event is granted: send now. Otherwise the rate has none left; wait is
	// how long until one may be, and the caller waits (bounded by its own
	// deadline) and asks again. It may cost one round trip, bounded by the
	// store and by ctx; when that fails the answer comes from a local
	// bucket of l divided by the number of replicas.
	Reserve(ctx context.Context, key string, l Limit) (wait time.Duration, ok bool)
}
