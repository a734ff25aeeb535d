package pacing

import (
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/transport/internal/registry"
	"golang.org/x/time/rate"
)

// epoch anchors the instants windows are kept at (see instant): a century
// ago, so that every time a test clock gives is after it.
var epoch = time.Now().Add(-100 * 365 * 24 * time.Hour)

// instant returns t as nanoseconds since epoch. time.Now's readings carry
// the monotonic clock and Sub uses it: a step of the wall clock (NTP, a
// VM resumed) neither lengthens nor shortens an open window, as it would
// if windows were kept as Unix nanoseconds.
func instant(t time.Time) int64 { return int64(t.Sub(epoch)) }

// timeAt returns the time of instant n.
func timeAt(n int64) time.Time { return epoch.Add(time.Duration(n)) }

// store holds the windows and rates of a Transport (or of every Transport
// a Middleware made), one entry per key, at most MaxKeys of them.
type store struct {
	p   Policy
	now func() time.Time // a hook for tests, as in x/time/rate
	reg *registry.Registry[string, *entry]

	// latest is the end of the furthest window opened, as an instant, or
	// 0 once it has passed (or none was opened): while it
	// is 0 and no Rate is set, a request needs no key and no lookup.
	latest atomic.Int64
}

// entry is one key's state.
type entry struct {
	until atomic.Int64  // end of the window, an instant; 0 if none
	lim   *rate.Limiter // nil without Policy.Rate
}

func newStore(p Policy) *store {
	s := &store{p: p, now: time.Now}
	s.reg = registry.New[string](p.MaxKeys, s.retention)
	return s
}

// retention pins the entries whose window is open: dropping one would let
// requests through that the server asked to hold back. An entry with only
// a rate may go, reluctantly: its next request finds a full bucket.
func (s *store) retention(e *entry) registry.Retention {
	if e.until.Load() > instant(s.now()) {
		return registry.Pinned
	}
	if e.lim != nil {
		return registry.Reluctant
	}
	return registry.Evictable
}

// idle reports that no request needs to look at its key: no rate is set
// and no window is open. While nothing was ever opened it is one atomic
// load; the first call after the last window ends resets latest.
func (s *store) idle() bool {
	if s.p.Rate > 0 || s.p.Fleet != nil {
		return false
	}
	l := s.latest.Load()
	if l == 0 {
		return true
	}
	if instant(s.now()) < l {
		return false
	}
	s.latest.CompareAndSwap(l, 0) // fails only if a window opened since
	return s.latest.Load() == 0
}

func (s *store) newEntry(string) *entry {
	e := &entry{}
	if s.p.Rate > 0 {
		e.lim = rate.NewLimiter(rate.Limit(s.p.Rate), s.p.Burst)
	}
	return e
}

// lookup returns key's entry, creating it when a Rate is set (every key
// has a bucket then). It reports false when there is none, or no room.
func (s *store) lookup(key string) (*entry, bool) {
	if s.p.Rate > 0 {
		return s.reg.GetOrCreate(key, s.newEntry)
	}
	return s.reg.Get(key)
}

// open extends key's window to until (an instant); a window never
// shrinks. It reports false when MaxKeys windows are open already.
func (s *store) open(key string, until int64) bool {
	e, ok := s.reg.GetOrCreate(key, s.newEntry)
	if !ok {
		return false
	}
	raise(&e.until, until)
	raise(&s.latest, until)
	return true
}

// raise sets v to x if x is larger.
func raise(v *atomic.Int64, x int64) {
	for {
		cur := v.Load()
		if x <= cur || v.CompareAndSwap(cur, x) {
			return
		}
	}
}
