package credits

import (
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/transport/fleet"
	"github.com/resilient-http/resilient/transport/internal/notify"
	"github.com/resilient-http/resilient/transport/internal/registry"
)

// latches is the state shared by every Transport of one New or Middleware.
type latches struct {
	p Policy

	// mu guards the fields of every latch, and orders the setting and
	// releasing of latches. Lookups in route and host take no lock, so a
	// request that meets no latch takes none either; creation and removal
	// happen under mu.
	mu sync.Mutex
	// route holds at most MaxKeys route latches, host at most MaxKeys
	// latches per method and host (for routes past MaxKeys). Every entry
	// is a set latch, pinned: a released latch is deleted, never evicted.
	route *registry.Registry[string, *latch]
	host  *registry.Registry[hostKey, *latch]

	// remaining holds the last remaining-credits value read per route key
	// (Policy.RemainingHeader, RemainingField); at most MaxKeys entries, a
	// route not written lately making room for a new one. Nil when the
	// policy reads no signal.
	remaining *registry.Registry[string, *atomic.Int64]

	// hdr is Policy.RemainingHeader in canonical form; path is
	// Policy.RemainingField split at its dots (nil when unset).
	hdr  string
	path []string

	// events holds changes waiting for Policy.OnLatch (nil without one).
	events *notify.Queue[event]
}

// latch is one route's or host's latch. Its fields are guarded by
// latches.mu.
type latch struct {
	key     string // as reported: the route key, or the hostKey's String
	fkey    string // the key in Policy.Fleet: key, or "host:" and key
	isHost  bool
	until   time.Time // refuse every request before then
	probing bool      // a probe is in flight
	// anticipated: set by a response reporting no credits left, not by a
	// 402 (the latest of either counts).
	anticipated bool
}

type event struct {
	key     string
	latched bool
}

// probes holds the latches whose probe a request is; the zero value means
// the request is not a probe.
type probes struct{ route, host *latch }

func (pr probes) any() bool { return pr.route != nil || pr.host != nil }

// outcome is what a probe's answer says about the latch.
type outcome int

const (
	latchAgain outcome = iota // 402: payment still refused
	exhausted                 // a response reported no credits left: latch (again) as a 402 does
	release                   // any other answer but 5xx and 429: the account pays again
	keep                      // 5xx, 429, no response, a panic: nothing learned; wait another cooldown
	unknown                   // the caller gave up: nothing learned; the next request may probe
)

func newLatches(p Policy) *latches {
	pinned := func(*latch) registry.Retention { return registry.Pinned }
	s := &latches{
		p:     p,
		route: registry.New[string](p.MaxKeys, pinned),
		host:  registry.New[hostKey](p.MaxKeys, pinned),
	}
	if p.RemainingHeader != "" {
		s.hdr = http.CanonicalHeaderKey(p.RemainingHeader)
	}
	if p.RemainingField != "" {
		s.path = strings.Split(p.RemainingField, ".")
	}
	if s.hdr != "" || s.path != nil {
		s.remaining = registry.New[string, *atomic.Int64](p.MaxKeys, nil)
	}
	if p.OnLatch != nil {
		s.events = notify.New(func(e event) { p.OnLatch(e.key, e.latched) })
	}
	return s
}

// empty reports whether no latch is set. It is the whole cost of the layer
// on the success path: two atomic loads, before any key is computed.
func (s *latches) empty() bool { return s.route.Len() == 0 && s.host.Len() == 0 }

// admit decides whether a request with keys k may go out. It returns the
// latches whose probe the request is (the caller must settle them), or the
// refusal when it must not go out.
func (s *latches) admit(k keys, now time.Time) (probes, *Error) {
	// Most requests meet no latch even when some are set: lookups without
	// a lock suffice to tell.
	r, h := s.lookup(k)
	if r == nil && h == nil {
		return probes{}, nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	r, h = s.lookup(k) // again: either may have been released meanwhile
	var pr probes
	// The host latch first: it stands for routes that could not be latched
	// one by one. A request passes only if every latch it meets lets it
	// probe.
	for _, l := range [2]*latch{h, r} {
		if l == nil {
			continue
		}
		if now.Before(l.until) || l.probing {
			if pr.host != nil {
				pr.host.probing = false
			}
			return probes{}, l.refusal(now)
		}
		l.probing = true
		// The other replicas keep refusing while this probe is out: they
		// would each spend a request to learn what it will tell.
		s.publish(l, now.Add(s.p.Cooldown))
		if l.isHost {
			pr.host = l
		} else {
			pr.route = l
		}
	}
	return pr, nil
}

// lookup returns the route and host latches of keys k, nil where unset.
func (s *latches) lookup(k keys) (r, h *latch) {
	r, _ = s.route.Get(k.route)
	h, _ = s.host.Get(k.host)
	return r, h
}

// settle records what a request with keys k learned: out, for the latches
// in pr whose probe it was. A 402 outside any probe is settled with
// latchAgain and no probes, a report of no credits left with exhausted.
// A released route forgets its remaining-credits value.
func (s *latches) settle(k keys, pr probes, out outcome, now time.Time) {
	s.mu.Lock()
	switch out {
	case latchAgain, exhausted:
		s.latchLocked(k, now, out == exhausted)
	case release:
		r, h := s.lookup(k)
		if pr.route != nil && r == pr.route {
			s.route.Delete(k.route)
			if s.remaining != nil {
				s.remaining.Delete(k.route)
			}
			s.unpublish(pr.route)
			s.events.Push(event{pr.route.key, false})
		}
		if pr.host != nil && h == pr.host {
			s.host.Delete(k.host)
			s.unpublish(pr.host)
			s.events.Push(event{pr.host.key, false})
		}
	case keep:
		// Space the probes: the next one waits a full cooldown.
		for _, l := range [2]*latch{pr.route, pr.host} {
			if l != nil {
				l.until = now.Add(s.p.Cooldown)
				s.publish(l, l.until)
			}
		}
	}
	for _, l := range [2]*latch{pr.route, pr.host} {
		if l != nil {
			l.probing = false
		}
	}
	s.mu.Unlock()
	s.events.Flush()
}

// latchLocked latches the route or host of a request answered 402 (or
// reported no credits left: anticipated). A latch
// already set for either is armed again (whether this request was its probe
// or was sent before it was set); otherwise the route is latched, or its
// host when MaxKeys routes already are (the route registry, every entry
// of it pinned, answers full). Requires s.mu held.
func (s *latches) latchLocked(k keys, now time.Time, anticipated bool) {
	r, h := s.lookup(k)
	if r == nil && h == nil {
		var ok bool
		if r, ok = s.route.GetOrCreate(k.route, newRouteLatch); !ok {
			h, _ = s.host.GetOrCreate(k.host, newHostLatch) // nil when both are full
		}
		for _, l := range [2]*latch{r, h} {
			if l != nil {
				s.events.Push(event{l.key, true})
			}
		}
	}
	until := now.Add(s.p.Cooldown)
	for _, l := range [2]*latch{r, h} {
		if l != nil {
			l.until, l.anticipated = until, anticipated
			s.publish(l, until)
		}
	}
}

func newRouteLatch(k string) *latch { return &latch{key: k, fkey: k} }

func newHostLatch(k hostKey) *latch {
	key := k.String()
	return &latch{key: key, fkey: hostPrefix + key, isHost: true}
}

// hostPrefix starts the Policy.Fleet key of a host latch, so that it never
// meets a route key.
const hostPrefix = "host:"

// publish tells the fleet, if any, that l refuses until then. A Store's
// writes never block, so this may run under s.mu.
func (s *latches) publish(l *latch, until time.Time) {
	if s.p.Fleet != nil {
		s.p.Fleet.SetUntil(fleet.KindCredits, l.fkey, until)
	}
}

// unpublish tells the fleet, if any, that l was released.
func (s *latches) unpublish(l *latch) {
	if s.p.Fleet != nil {
		s.p.Fleet.Clear(fleet.KindCredits, l.fkey)
	}
}

// reset releases every latch and forgets every remaining-credits value.
// Probes in flight settle against latches that are gone: a 402 (or a report
// of no credits left) latches afresh, other answers change nothing.
func (s *latches) reset() {
	s.mu.Lock()
	s.each(func(l *latch) {
		s.unpublish(l)
		s.events.Push(event{l.key, false})
	})
	s.route.Clear()
	s.host.Clear()
	if s.remaining != nil {
		s.remaining.Clear()
	}
	s.mu.Unlock()
	s.events.Flush()
}

// each calls f with every latch set: routes, then hosts.
func (s *latches) each(f func(*latch)) {
	s.route.Range(func(_ string, l *latch) bool { f(l); return true })
	s.host.Range(func(_ hostKey, l *latch) bool { f(l); return true })
}

func (s *latches) list() []string {
	out := make([]string, 0, s.route.Len()+s.host.Len())
	s.each(func(l *latch) { out = append(out, l.key) })
	sort.Strings(out)
	return out
}

// refusal describes why l refuses a request at now. Requires s.mu held.
func (l *latch) refusal(now time.Time) *Error {
	e := &Error{Key: l.key, Host: l.isHost, Anticipated: l.anticipated}
	if now.Before(l.until) {
		e.Until = l.until
	}
	return e
}

// record stores n as the credits left on the route of keys k and tells
// Policy.OnRemaining. When MaxKeys routes have a value already, a new
// route's value replaces the value of a route not written lately: the gauge
// is for watching, and losing an old value loses no latch.
func (s *latches) record(k keys, n int64) {
	if g, ok := s.remaining.GetOrCreate(k.route, newGauge); ok { // never full: nothing is pinned
		g.Store(n)
	}
	if s.p.OnRemaining != nil {
		s.p.OnRemaining(k.route, n)
	}
}

func newGauge(string) *atomic.Int64 { return new(atomic.Int64) }

func (s *latches) gauge() map[string]int64 {
	out := make(map[string]int64)
	if s.remaining != nil {
		s.remaining.Range(func(k string, g *atomic.Int64) bool {
			out[k] = g.Load()
			return true
		})
	}
	return out
}
