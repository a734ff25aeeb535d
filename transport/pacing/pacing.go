package pacing

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/fleet"
	"golang.org/x/time/rate"
)

// Transport is an http.RoundTripper that holds requests back, before
// sending them, while their key's throttle window is open (a server said to
// wait) or their key's configured rate has no token for them. It is safe
// for concurrent use. Create it with [New] or [Middleware]; the zero
// Transport is not usable.
type Transport struct {
	next http.RoundTripper
	s    *store
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport that sends requests through next (nil means
// http.DefaultTransport) and paces them according to p, whose zero fields
// take their documented defaults.
func New(next http.RoundTripper, p Policy) *Transport {
	return newTransport(next, newStore(p.withDefaults()))
}

// Middleware returns a function that wraps a RoundTripper in a Transport
// with policy p. Every Transport it makes shares one set of windows and
// rates, so a 429 seen through one paces the key through all.
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

// maxRounds bounds how often one request waits again for a window that
// another response extended while it waited.
const maxRounds = 4

// RoundTrip waits until req's key lets it go, then sends it through next
// and returns next's response and error unchanged (a response, whatever
// its status, comes with a nil error), learning from the response's
// headers when the key's next window opens. A request that would wait
// longer than [Policy.MaxWait], or past its context's deadline, is refused
// at once with an [*Error]; one whose context ends while it waits returns
// the context's error. Either way req.Body is closed and nothing is sent.
// req itself is never changed.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil || req.URL == nil {
		if req != nil {
			closeBody(req)
		}
		return nil, errInvalidRequest
	}
	if t.s.idle() {
		// No window open, no rate: no key, no clock, no lock.
		return t.send(req, "")
	}
	key := t.s.key(req)
	if t.s.p.Fleet != nil {
		return t.roundTripFleet(req, key)
	}
	var res *rate.Reservation
	for round := 0; ; round++ {
		e, ok := t.s.lookup(key)
		if !ok {
			break
		}
		now := t.s.now()
		wait := time.Duration(e.until.Load() - instant(now))
		if round == 0 && e.lim != nil {
			res = e.lim.ReserveN(now, 1)
			if !res.OK() { // a burst below 1 never lets a request through
				res = nil
				return nil, t.refuse(req, key, t.s.p.MaxWait+1, now, false)
			}
			wait = max(wait, res.DelayFrom(now))
		}
		if wait <= 0 || round == maxRounds {
			break
		}
		if err := t.wait(req, key, wait, now); err != nil {
			if res != nil {
				res.CancelAt(now)
			}
			return nil, err
		}
	}
	return t.send(req, key)
}

// wait holds req back for d, or refuses it if d is too long, or if req is
// a hedge: a hedge waiting here would leave with the attempt it hedges,
// when the window opens, and hit a server that asked for fewer requests
// twice. Refused, it is no answer, and retry sends no further hedge.
func (t *Transport) wait(req *http.Request, key string, d time.Duration, now time.Time) error {
	ctx := req.Context()
	if d > t.s.p.MaxWait {
		return t.refuse(req, key, d, now, false)
	}
	if errclass.AttemptFromContext(ctx).Hedge {
		err := t.refuse(req, key, d, now, false)
		err.hedge = true
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !now.Add(d).Before(dl) {
		return t.refuse(req, key, d, now, true)
	}
	if f := t.s.p.OnWait; f != nil {
		f(ctx, key, d)
	}
	return sleep(ctx, d, req)
}

func sleep(ctx context.Context, d time.Duration, req *http.Request) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		closeBody(req)
		return fmt.Errorf("pacing: waiting to send: %w", context.Cause(ctx))
	}
}

func (t *Transport) refuse(req *http.Request, key string, d time.Duration, now time.Time, deadline bool) *Error {
	closeBody(req)
	if f := t.s.p.OnRefuse; f != nil {
		f(req.Context(), key, d)
	}
	return &Error{Key: key, Delay: d, Until: now.Add(d), Deadline: deadline}
}

// send sends req and learns from its response. key is req's key, or "" if
// not yet computed.
func (t *Transport) send(req *http.Request, key string) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if resp == nil {
		return nil, t.nilResponse()
	}
	now := clock{now: t.s.now}
	if d, ok := signal(resp, &now); ok {
		if key == "" {
			key = t.s.key(req)
		}
		until := now.get().Add(min(d, t.s.p.MaxWindow))
		// A window kept out by MaxKeys is not published either: MaxKeys
		// bounds what this replica puts in every mirror too.
		if t.s.open(key, instant(until)) {
			if f := t.s.p.Fleet; f != nil {
				f.SetUntil(fleet.KindThrottle, key, until)
			}
		}
	}
	return resp, nil
}

// CloseIdleConnections closes the idle connections of the RoundTripper
// below, if it has such a method, as http.Client.CloseIdleConnections
// expects of its Transport.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Until returns when the window of key (as [Error.Key] spells it) ends,
// or the zero Time if it has none open: for a health endpoint or a test.
// With [Policy.Fleet] it is the later end of the window here and in the
// fleet, the one requests wait for.
func (t *Transport) Until(key string) time.Time {
	var until time.Time
	if e, ok := t.s.reg.Get(key); ok {
		if u := e.until.Load(); u > instant(t.s.now()) {
			until = timeAt(u)
		}
	}
	if f := t.s.p.Fleet; f != nil {
		if u := f.Until(fleet.KindThrottle, key); u.After(until) {
			until = u
		}
	}
	return until
}

var errInvalidRequest = fmt.Errorf("pacing: %w: nil request or URL", errclass.ErrInvalidRequest)

// nilResponse is the error returned in place of next's (nil, nil), which
// breaks the RoundTripper contract.
func (t *Transport) nilResponse() error {
	return fmt.Errorf("pacing: %T: %w", t.next, errclass.ErrNilResponse)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
