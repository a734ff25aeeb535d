package credits

import (
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// latches is the state shared by every Transport of one New or Middleware.
type latches struct {
	p Policy

	// nRoute and nHost mirror len(route) and len(host) so that RoundTrip
	// can tell "no latch at all" with two atomic loads, before computing
	// any key. They change only under mu.
	nRoute, nHost atomic.Int64

	mu    sync.RWMutex
	route map[string]*latch
	host  map[hostKey]*latch

	// remaining holds the last remaining-credits value read per route key
	// (Policy.RemainingHeader, RemainingField); at most MaxKeys entries.
	// Guarded by mu.
	remaining map[string]int64

	// hdr is Policy.RemainingHeader in canonical form; path is
	// Policy.RemainingField split at its dots (nil when unset).
	hdr  string
	path []string

	// Changes waiting for Policy.OnLatch, oldest first, and whether some
	// goroutine is delivering them (see flush). Guarded by mu.
	events     []event
	delivering bool
}

// latch is one route's or host's latch. Its fields are guarded by
// latches.mu.
type latch struct {
	key     string // as reported: the route key, or the hostKey's String
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
	s := &latches{p: p, route: make(map[string]*latch), host: make(map[hostKey]*latch)}
	if p.RemainingHeader != "" {
		s.hdr = http.CanonicalHeaderKey(p.RemainingHeader)
	}
	if p.RemainingField != "" {
		s.path = strings.Split(p.RemainingField, ".")
	}
	if s.hdr != "" || s.path != nil {
		s.remaining = make(map[string]int64)
	}
	return s
}

// empty reports whether no latch is set. It is the whole cost of the layer
// on the success path.
func (s *latches) empty() bool { return s.nRoute.Load() == 0 && s.nHost.Load() == 0 }

// admit decides whether a request with keys k may go out. It returns the
// latches whose probe the request is (the caller must settle them), or the
// refusal when it must not go out.
func (s *latches) admit(k keys, now time.Time) (probes, *Error) {
	// Most requests meet no latch even when some are set: a read lock
	// suffices to tell.
	s.mu.RLock()
	r, h := s.route[k.route], s.host[k.host]
	s.mu.RUnlock()
	if r == nil && h == nil {
		return probes{}, nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var pr probes
	// The host latch first: it stands for routes that could not be latched
	// one by one. A request passes only if every latch it meets lets it
	// probe.
	for _, l := range [2]*latch{s.host[k.host], s.route[k.route]} {
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
		if l.isHost {
			pr.host = l
		} else {
			pr.route = l
		}
	}
	return pr, nil
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
		if pr.route != nil && s.route[pr.route.key] == pr.route {
			delete(s.route, pr.route.key)
			delete(s.remaining, pr.route.key)
			s.nRoute.Add(-1)
			s.eventLocked(pr.route.key, false)
		}
		if pr.host != nil && s.host[k.host] == pr.host {
			delete(s.host, k.host)
			s.nHost.Add(-1)
			s.eventLocked(pr.host.key, false)
		}
	case keep:
		// Space the probes: the next one waits a full cooldown.
		for _, l := range [2]*latch{pr.route, pr.host} {
			if l != nil {
				l.until = now.Add(s.p.Cooldown)
			}
		}
	}
	for _, l := range [2]*latch{pr.route, pr.host} {
		if l != nil {
			l.probing = false
		}
	}
	s.mu.Unlock()
	s.flush()
}

// latchLocked latches the route or host of a request answered 402 (or
// reported no credits left: anticipated). A latch
// already set for either is armed again (whether this request was its probe
// or was sent before it was set); otherwise the route is latched, or its
// host when MaxKeys routes already are. Requires s.mu held.
func (s *latches) latchLocked(k keys, now time.Time, anticipated bool) {
	until := now.Add(s.p.Cooldown)
	r, h := s.route[k.route], s.host[k.host]
	if r != nil {
		r.until, r.anticipated = until, anticipated
	}
	if h != nil {
		h.until, h.anticipated = until, anticipated
	}
	switch {
	case r != nil || h != nil:
	case len(s.route) < s.p.MaxKeys:
		s.route[k.route] = &latch{key: k.route, until: until, anticipated: anticipated}
		s.nRoute.Add(1)
		s.eventLocked(k.route, true)
	case len(s.host) < s.p.MaxKeys:
		hk := k.host.String()
		s.host[k.host] = &latch{key: hk, isHost: true, until: until, anticipated: anticipated}
		s.nHost.Add(1)
		s.eventLocked(hk, true)
	}
}

// reset releases every latch and forgets every remaining-credits value.
// Probes in flight settle against latches that are gone: a 402 (or a report
// of no credits left) latches afresh, other answers change nothing.
func (s *latches) reset() {
	s.mu.Lock()
	for k := range s.route {
		s.eventLocked(k, false)
	}
	for _, l := range s.host {
		s.eventLocked(l.key, false)
	}
	clear(s.route)
	clear(s.host)
	clear(s.remaining)
	s.nRoute.Store(0)
	s.nHost.Store(0)
	s.mu.Unlock()
	s.flush()
}

func (s *latches) list() []string {
	s.mu.RLock()
	out := make([]string, 0, len(s.route)+len(s.host))
	for k := range s.route {
		out = append(out, k)
	}
	for _, l := range s.host {
		out = append(out, l.key)
	}
	s.mu.RUnlock()
	sort.Strings(out)
	return out
}

// eventLocked queues a change for Policy.OnLatch. Requires s.mu held.
func (s *latches) eventLocked(key string, latched bool) {
	if s.p.OnLatch != nil {
		s.events = append(s.events, event{key, latched})
	}
}

// flush delivers queued changes to Policy.OnLatch outside the lock. One
// goroutine delivers at a time, so calls keep their order; a change queued
// meanwhile (by a hook calling back in, say) is delivered by the goroutine
// already delivering, and whoever queued it goes on without waiting.
func (s *latches) flush() {
	if s.p.OnLatch == nil {
		return
	}
	s.mu.Lock()
	if s.delivering || len(s.events) == 0 {
		s.mu.Unlock()
		return
	}
	s.delivering = true
	finished := false
	defer func() {
		if !finished { // the hook panicked: let a later flush deliver the rest
			s.mu.Lock()
			s.delivering = false
			s.mu.Unlock()
		}
	}()
	for len(s.events) > 0 {
		ev := s.events[0]
		s.events = s.events[1:]
		s.mu.Unlock()
		s.p.OnLatch(ev.key, ev.latched)
		s.mu.Lock()
	}
	s.events = nil
	s.delivering = false
	finished = true
	s.mu.Unlock()
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
// route's value replaces an arbitrary one: the gauge is for watching, and
// losing an old value loses no latch.
func (s *latches) record(k keys, n int64) {
	s.mu.Lock()
	if _, ok := s.remaining[k.route]; !ok && len(s.remaining) >= s.p.MaxKeys {
		for old := range s.remaining {
			delete(s.remaining, old)
			break
		}
	}
	s.remaining[k.route] = n
	s.mu.Unlock()
	if s.p.OnRemaining != nil {
		s.p.OnRemaining(k.route, n)
	}
}

func (s *latches) gauge() map[string]int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]int64, len(s.remaining))
	for k, n := range s.remaining {
		out[k] = n
	}
	return out
}
