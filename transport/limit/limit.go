package limit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"time"

	"github.com/resilient-http/resilient/transport/internal/origin"

	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/internal/bodywatch"
	"github.com/resilient-http/resilient/transport/internal/registry"
)

// Transport is an http.RoundTripper that lets at most [Policy.Max]
// requests of a key be in flight at once. It is safe for concurrent use.
// Create it with [New] or [Middleware]; the zero Transport is not usable.
type Transport struct {
	next http.RoundTripper
	s    *store
}

var _ http.RoundTripper = (*Transport)(nil)

// store holds the gates of a Transport (or of every Transport a
// Middleware made), one per key, at most MaxKeys of them.
type store struct {
	p   Policy
	now func() time.Time // a hook for tests, as in x/time/rate
	reg *registry.Registry[key, *gate]
}

// key is a request's key. A struct, not a string: building it allocates
// nothing, nor does looking it up.
type key struct{ scheme, host, route string }

func (k key) String() string { return k.scheme + "://" + k.host + k.route }

func newStore(p Policy) *store {
	s := &store{p: p, now: time.Now}
	s.reg = registry.New[key](p.MaxKeys, func(g *gate) registry.Retention {
		if g.busy() {
			return registry.Pinned // dropping it would forget its slots
		}
		return registry.Evictable
	})
	// A request may have looked the chosen gate up and not yet taken a
	// slot: it finds the gate dead and looks again, rather than hold a
	// slot of a gate its key no longer has (two gates, 2×Max in flight).
	s.reg.SetRetire((*gate).retire)
	return s
}

func (s *store) newGate(key) *gate {
	return &gate{lo: s.p.MinLimit, hi: s.p.Max, limit: s.p.Max}
}

// New returns a Transport that sends requests through next (nil means
// http.DefaultTransport) and limits them according to p, whose zero fields
// take their documented defaults. With p.Max zero it limits nothing.
func New(next http.RoundTripper, p Policy) *Transport {
	return newTransport(next, newStore(p.withDefaults()))
}

// Middleware returns a function that wraps a RoundTripper in a Transport
// with policy p. Every Transport it makes shares one set of limits: a key
// has Max slots in all.
func Middleware(p Policy) func(http.RoundTripper) http.RoundTripper {
	s := newStore(p.withDefaults())
	return func(next http.RoundTripper) http.RoundTripper { return newTransport(next, s) }
}

func newTransport(next http.RoundTripper, s *store) *Transport {
	if next == nil {
		next = http.DefaultTransport
	}
	return &Transport{next: next, s: s}
}

// RoundTrip waits for a slot of req's key, then sends req through next
// and returns next's response and error unchanged (a response, whatever
// its status, comes with a nil error) but for the response's body, which
// gives the slot back when it ends. A request that finds no slot within
// [Policy.MaxWait] is refused with an [*Error]; one whose context ends
// while it queues returns the context's error. Either way req.Body is
// closed and nothing is sent. req itself is never changed.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil || req.URL == nil {
		if req != nil && req.Body != nil {
			req.Body.Close()
		}
		return nil, errInvalidRequest
	}
	if t.s.p.Max <= 0 {
		return t.next.RoundTrip(req)
	}
	k := t.s.key(req)
	for {
		g, ok := t.s.reg.GetOrCreate(k, t.s.newGate)
		if !ok { // MaxKeys keys busy: unlimited rather than stuck
			return t.next.RoundTrip(req)
		}
		gen, ok, dead := g.tryAcquire(nil)
		if dead {
			continue // evicted since the lookup
		}
		if !ok {
			var err error
			if gen, err = t.queue(req, k, g); err == errGone {
				continue
			} else if err != nil {
				if req.Body != nil {
					req.Body.Close()
				}
				return nil, err
			}
		}
		return t.send(req, g, gen)
	}
}

// errGone ends a queue attempt on a gate evicted since the lookup.
var errGone = errors.New("limit: gate evicted")

// queue waits for a slot of g, for req of key k.
func (t *Transport) queue(req *http.Request, k key, g *gate) (uint64, error) {
	ctx := req.Context()
	start := t.s.now()
	hedge := errclass.AttemptFromContext(ctx).Hedge
	refuse := func() error {
		waited := t.s.now().Sub(start)
		g.mu.Lock()
		limit := g.limit
		g.mu.Unlock()
		if f := t.s.p.OnRefuse; f != nil {
			f(ctx, k.String(), waited)
		}
		return &Error{Key: k.String(), Limit: limit, Waited: waited, hedge: hedge}
	}
	if t.s.p.MaxWait < 0 || hedge {
		// A hedge never queues: queued, it adds load where every slot is
		// taken and waits behind the requests it would overtake. Refused,
		// it is no answer, and retry sends no further hedge.
		return 0, refuse()
	}
	w := &waiter{ch: make(chan struct{})}
	if gen, ok, dead := g.tryAcquire(w); ok { // a slot came free meanwhile
		return gen, nil
	} else if dead {
		return 0, errGone
	}
	gen, err := g.wait(ctx, w, t.s.p.MaxWait)
	switch {
	case err == errTimedOut:
		return 0, refuse()
	case err != nil:
		return 0, fmt.Errorf("limit: waiting for a slot: %w", err)
	}
	if f := t.s.p.OnWait; f != nil {
		t.onWait(ctx, f, k, start, g, gen)
	}
	return gen, nil
}

// onWait tells f of a request granted a slot of g in generation gen
// after queueing since start. If f panics, the slot goes back before the
// panic goes on: nothing will be sent to hold it.
func (t *Transport) onWait(ctx context.Context, f func(context.Context, string, time.Duration), k key, start time.Time, g *gate, gen uint64) {
	told := false
	defer func() {
		if !told {
			g.release(gen, neutral)
		}
	}()
	f(ctx, k.String(), t.s.now().Sub(start))
	told = true
}

// send sends req holding a slot of g taken in generation gen, and hands
// the slot to the response's body, or gives it back at once when there is
// no body to wait for (or next panics).
func (t *Transport) send(req *http.Request, g *gate, gen uint64) (resp *http.Response, err error) {
	held := true
	defer func() {
		if held { // next failed, broke the contract or panicked
			g.release(gen, neutral)
		}
	}()
	resp, err = t.next.RoundTrip(req)
	if resp == nil && err == nil {
		return nil, fmt.Errorf("limit: %T: %w", t.next, errclass.ErrNilResponse)
	}
	v := neutral
	if t.s.p.Adaptive {
		v = judge(t.s.p.Classifier(req, resp, err))
	}
	if err != nil || resp.Body == nil || resp.Body == http.NoBody {
		held = false
		g.release(gen, v)
		return resp, err
	}
	b := &slotBody{g: g, gen: gen, v: v}
	b.Watch(resp.Body, b, false)
	resp.Body = bodywatch.Writable(b, resp.Body)
	held = false
	return resp, nil
}

// judge says what an outcome tells an adaptive limit: as a breaker counts
// failures, plus a 429, which says "too many" outright.
func judge(out errclass.Outcome) verdict {
	switch {
	case out.Class == errclass.Canceled, out.Refused:
		return neutral
	case out.ServerFault, out.Timeout, out.StatusCode == http.StatusTooManyRequests:
		return overload
	case out.StatusCode != 0:
		return success // the server answered in time, whatever it thought
	}
	return neutral
}

// slotBody gives its request's slot back when it ends.
type slotBody struct {
	bodywatch.Body
	g   *gate
	gen uint64
	v   verdict
}

func (b *slotBody) BeforeRead() {}

func (b *slotBody) AfterRead(_ []byte, err error, _ bodywatch.End) error { return err }

func (b *slotBody) End(bodywatch.End, error) { b.g.release(b.gen, b.v) }

// key returns req's key: the scheme and host, lower-cased and without the
// scheme's default port; with [ScopeRoute], also [Policy.Route]'s result
// or the cleaned path. Allocation-free for URLs already in that form.
func (s *store) key(req *http.Request) key {
	u := req.URL
	var k key
	k.scheme, k.host = origin.Of(u)
	if s.p.Scope != ScopeRoute {
		return k
	}
	if s.p.Route != nil {
		if k.route = s.p.Route(req); k.route != "" {
			return k
		}
	}
	if k.route = u.EscapedPath(); k.route == "" {
		k.route = "/"
	} else {
		k.route = path.Clean(k.route)
	}
	return k
}

// Limit returns the current limit of key (as [Error.Key] spells it) and
// how many of its requests are in flight, or ok false if it has no state:
// for a health endpoint or a test.
func (t *Transport) Limit(name string) (limit, inflight int, ok bool) {
	t.s.reg.Range(func(k key, g *gate) bool {
		if k.String() != name {
			return true
		}
		g.mu.Lock()
		limit, inflight, ok = g.limit, g.inflight, true
		g.mu.Unlock()
		return false
	})
	return limit, inflight, ok
}

// CloseIdleConnections closes the idle connections of the RoundTripper
// below, if it has such a method, as http.Client.CloseIdleConnections
// expects of its Transport.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

var errInvalidRequest = fmt.Errorf("limit: %w: nil request or URL", errclass.ErrInvalidRequest)
