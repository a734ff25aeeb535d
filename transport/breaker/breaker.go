package breaker

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/transport/internal/origin"

	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/internal/bodywatch"
	"github.com/resilient-http/resilient/transport/timeout"
	"github.com/sony/gobreaker/v2"
)

// Transport is an http.RoundTripper with a circuit breaker per key. It is
// safe for concurrent use. Create it with [New] or [Middleware]. The zero
// Transport is usable and behaves as New(nil, Policy{}): breakers per host
// with the default Policy, made on first use, over http.DefaultTransport.
// A Transport must not be copied after first use.
type Transport struct {
	next http.RoundTripper // nil only in the zero Transport
	reg  atomic.Pointer[registry]
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport that sends requests through next (nil means
// http.DefaultTransport) and breaks circuits according to p, whose zero
// fields take their documented defaults.
func New(next http.RoundTripper, p Policy) *Transport {
	return newTransport(next, newRegistry(p.withDefaults()))
}

// Middleware returns a function that wraps a RoundTripper in a Transport
// with policy p. Every Transport it makes shares one set of breakers.
func Middleware(p Policy) func(http.RoundTripper) http.RoundTripper {
	reg := newRegistry(p.withDefaults())
	return func(next http.RoundTripper) http.RoundTripper { return newTransport(next, reg) }
}

func newTransport(next http.RoundTripper, reg *registry) *Transport {
	if next == nil {
		next = http.DefaultTransport
	}
	t := &Transport{next: next}
	t.reg.Store(reg)
	return t
}

// registry returns t's breakers, making the default ones if t is the zero
// Transport.
func (t *Transport) registry() *registry {
	if r := t.reg.Load(); r != nil {
		return r
	}
	t.reg.CompareAndSwap(nil, newRegistry(Policy{}.withDefaults()))
	return t.reg.Load()
}

// nextRT returns the RoundTripper below t: http.DefaultTransport for the
// zero Transport.
func (t *Transport) nextRT() http.RoundTripper {
	if t.next == nil {
		return http.DefaultTransport
	}
	return t.next
}

// RoundTrip sends req unless its breaker is open (or half-open with its
// probes in flight); then it returns an [*OpenError] without sending
// anything (closing req.Body, as RoundTrippers must). Otherwise it returns
// next's response and error unchanged, after counting the outcome. A
// half-open probe is bounded by Policy.ProbeTimeout until its headers.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil || req.URL == nil {
		if req != nil {
			closeBody(req)
		}
		return nil, errInvalidRequest
	}
	r := t.registry()
	e := r.get(r.key(req))
	probe := false
	if r.p.Fleet != nil {
		var refusal *OpenError
		if probe, refusal = r.gate(e); refusal != nil {
			closeBody(req)
			if r.events.Pending() {
				r.events.Flush()
			}
			return nil, refusal
		}
		if probe {
			defer e.probing.Store(false) // after settleProbe, even on a panic below
		}
	}
	var (
		resp         *http.Response
		err, verdict error
		counted      = errExcluded // what the outcome counted as, for a fleet probe
	)
	if State(e.state.Load()) == StateClosed {
		next := t.nextRT()
		if probe {
			// The fleet's probe, sent while this replica's own breaker is
			// closed: bounded as a local probe is, or a hang would hold
			// the fleet's half-open breaker.
			next = r.probeRT(next)
		}
		resp, err, counted = t.sendClosed(r, e, req, next)
	} else {
		// Open or half-open: gobreaker decides. Execute (rather than the
		// two-step Allow, whose done callback is a fresh closure per
		// request) allocates nothing of its own: this closure does not
		// escape. A probe that hangs would hold its half-open slot, and
		// with it every request to the key, so it is bounded.
		resp, verdict = e.cb.Execute(func() (*http.Response, error) {
			var resp *http.Response
			resp, err = r.probeRT(t.nextRT()).RoundTrip(req)
			counted = r.p.verdict(r.p.Classifier(req, resp, err))
			return resp, counted
		})
	}
	if probe {
		r.settleProbe(e, counted, verdict)
	}
	if r.events.Pending() {
		r.flushWith(resp)
	}
	if verdict == gobreaker.ErrOpenState || verdict == gobreaker.ErrTooManyRequests {
		closeBody(req)
		return nil, r.openError(e, verdict)
	}
	return resp, err
}

// sendClosed sends req through a breaker that was closed when it started.
// A success is counted in the entry's window; a failure is counted there
// and reported to gobreaker, which asks the window whether to trip.
func (t *Transport) sendClosed(r *registry, e *entry, req *http.Request, next http.RoundTripper) (resp *http.Response, err, counted error) {
	gen := e.gen.Load()
	returned := false
	defer func() {
		if !returned { // next panicked: a failure, as gobreaker would count it
			r.fail(e, gen)
		}
	}()
	resp, err = next.RoundTrip(req)
	returned = true
	if resp == nil && err == nil {
		err = fmt.Errorf("breaker: %T: %w", next, errclass.ErrNilResponse)
	}
	counted = r.p.verdict(r.p.Classifier(req, resp, err))
	switch counted {
	case nil:
		if resp != nil {
			if n, ok := resp.Body.(bodywatch.Notifier); ok && n.NotifyCut(e, gen) {
				// A layer below watches the body for stalling: count the
				// response when the body is done, a failure if it was cut.
				break
			}
		}
		if e.gen.Load() == gen { // else late: dropped, as a late failure is
			e.succeed(r.clock())
		}
	case errFailure:
		r.fail(e, gen)
	}
	return resp, err, counted
}

// flushWith delivers the pending state changes for a request whose
// response is resp. If a hook panics, the panic goes on to the caller
// without the response, so its body is closed first.
func (r *registry) flushWith(resp *http.Response) {
	delivered := false
	defer func() {
		if !delivered && resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
	}()
	r.events.Flush()
	delivered = true
}

// probeRT returns next bounded by ProbeTimeout until its headers, for a
// half-open probe.
func (r *registry) probeRT(next http.RoundTripper) http.RoundTripper {
	return timeout.New(next, timeout.Policy{Headers: r.p.ProbeTimeout, HeadersErr: ErrProbeTimeout})
}

// fail counts a failure of a request sent while e was closed in generation
// gen, unless the breaker has changed state since.
func (r *registry) fail(e *entry, gen uint64) {
	if e.gen.Load() != gen {
		return
	}
	e.consec.Add(1)
	e.win.failure(r.clock())
	r.fleetFail(e)
	// The report may trip the breaker (gobreaker calls e.trips). If the
	// breaker has moved on meanwhile, gobreaker refuses the report or, in a
	// new generation, counts it as excluded.
	e.cb.Execute(func() (*http.Response, error) {
		if e.gen.Load() != gen {
			return nil, errExcluded
		}
		return nil, errFailure
	})
}

// succeed counts a success of a closed breaker.
func (e *entry) succeed(now time.Duration) {
	e.win.success(now)
	if e.consec.Load() != 0 { // spare the shared cache line a write
		e.consec.Store(0)
	}
	if e.reg.p.Fleet != nil {
		e.reg.fleetSucceed(e)
	}
}

// BodyDone counts a response whose headers looked a success once its body
// is done: a failure if a layer below cut it for stalling (the transport
// package's body idle timeout), a success otherwise. token is the
// generation the response was received in; an outcome from an older
// generation is dropped, as for any late outcome.
func (e *entry) BodyDone(token uint64, cut bool) {
	r := e.reg
	if !cut {
		if e.gen.Load() == token {
			e.succeed(r.clock())
		}
		return
	}
	r.fail(e, token)
	if r.events.Pending() {
		r.events.Flush()
	}
}

// verdict maps an outcome to what gobreaker counts: nil for a success,
// errFailure or errExcluded. The classifier decides: server faults are
// failures, other answers successes, and what is neither (cancellations,
// refusals, TLS or DNS misconfiguration, errors the classifier does not
// recognise) is not counted.
func (p *Policy) verdict(out errclass.Outcome) error {
	switch {
	case out.Class == errclass.Canceled, out.Refused:
		return errExcluded
	case out.StatusCode == http.StatusTooManyRequests && p.CountRateLimited:
		return errFailure
	case out.ServerFault:
		return errFailure
	case out.StatusCode != 0 && out.StatusCode != http.StatusTooManyRequests:
		return nil // the server answered: it is up, whatever it thought of the request
	}
	return errExcluded
}

func (r *registry) key(req *http.Request) key {
	if r.p.Key != nil {
		return key{custom: r.p.Key(req)}
	}
	// A host names the same server in any case and with or without its
	// scheme's default port: one breaker for all, as pacing, credits and
	// limit key them. Allocation-free for URLs already in that form.
	scheme, host := origin.Of(req.URL)
	return key{scheme: scheme, host: host}
}

func (r *registry) openError(e *entry, cause error) *OpenError {
	oe := &OpenError{Name: e.cb.Name(), State: StateOpen, cause: cause}
	if cause == gobreaker.ErrTooManyRequests {
		oe.State = StateHalfOpen
		return oe
	}
	if at := e.openedAt.Load(); at != 0 {
		oe.Until = time.Unix(0, at).Add(r.p.OpenTimeout)
	}
	return oe
}

// States returns the current state of every breaker, by name. It suits a
// health endpoint; an open breaker whose timeout has passed reports
// half-open.
func (t *Transport) States() map[string]State {
	r := t.registry()
	out := make(map[string]State)
	r.breakers.Range(func(_ key, e *entry) bool {
		out[e.cb.Name()] = e.cb.State()
		return true
	})
	if r.events.Pending() {
		r.events.Flush()
	}
	return out
}

// CloseIdleConnections closes the idle connections of the RoundTripper
// below, if it keeps any, as http.Client expects of its transport.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.nextRT().(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// errInvalidRequest is made once: a nil request costs no allocation.
var errInvalidRequest = fmt.Errorf("breaker: %w: nil request or URL", errclass.ErrInvalidRequest)

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
