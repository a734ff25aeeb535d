package credits

import (
	"fmt"
	"net/http"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
)

// Transport is an http.RoundTripper that refuses, without sending them,
// requests to routes that answered 402 Payment Required, until a probe finds
// them paying again or [Transport.Reset] is called. It is safe for
// concurrent use. Create it with [New] or [Middleware]; the zero Transport
// is not usable.
type Transport struct {
	next http.RoundTripper
	s    *latches
	now  func() time.Time // a hook for tests, as in x/time/rate
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport that sends requests through next (nil means
// http.DefaultTransport) and latches routes according to p, whose zero
// fields take their documented defaults.
func New(next http.RoundTripper, p Policy) *Transport {
	return newTransport(next, newLatches(p.withDefaults()))
}

// Middleware returns a function that wraps a RoundTripper in a Transport
// with policy p. Every Transport it makes shares one set of latches, so a
// 402 seen through one refuses the route through all.
func Middleware(p Policy) func(http.RoundTripper) http.RoundTripper {
	s := newLatches(p.withDefaults())
	return func(next http.RoundTripper) http.RoundTripper { return newTransport(next, s) }
}

func newTransport(next http.RoundTripper, s *latches) *Transport {
	if next == nil {
		next = http.DefaultTransport
	}
	return &Transport{next: next, s: s, now: time.Now}
}

// RoundTrip sends req unless a latch refuses it; then it returns an
// [*Error] without sending anything, after closing req.Body as
// RoundTrippers must. Otherwise it returns next's response and error
// unchanged (a response, whatever its status, comes with a nil error), and
// a 402 response latches req's route, as does a report of no credits left
// (see [Policy.RemainingField]). When the policy sets RemainingField, the
// body of a successful JSON response is wrapped to watch what the caller
// reads of it.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil || req.URL == nil {
		if req != nil {
			closeBody(req)
		}
		return nil, errInvalidRequest
	}
	if t.s.empty() {
		// No latch anywhere: no key, no clock, no lock. Only a 402, or
		// signals of credits left when the policy reads them, cost. With a
		// fleet, what other replicas latched is read from its mirror.
		if t.s.p.Fleet != nil {
			if refusal := t.fleetRefusal(req); refusal != nil {
				closeBody(req)
				return nil, refusal
			}
		}
		resp, err := t.next.RoundTrip(req)
		if err == nil && resp == nil {
			return nil, t.nilResponse()
		}
		if err == nil {
			t.answered(req, keys{}, false, resp)
		}
		return resp, err
	}

	k := t.keys(req)
	pr, refusal := t.s.admit(k, t.now())
	if refusal != nil {
		closeBody(req)
		return nil, refusal
	}
	if pr.any() {
		return t.probe(req, k, pr)
	}
	// No latch of ours for req: the fleet's, if any, still refuse it. (A
	// latch of ours decides alone: its probe is this replica's to send.)
	if t.s.p.Fleet != nil {
		if refusal := t.fleetRefusal(req); refusal != nil {
			closeBody(req)
			return nil, refusal
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err == nil && resp == nil {
		return nil, t.nilResponse()
	}
	if err == nil {
		t.answered(req, k, true, resp)
	}
	return resp, err
}

// answered learns from resp, the response to req outside any probe: a 402
// latches req's route, and so does a remaining-credits header at zero or
// less. k holds req's keys if known is set; they are computed otherwise,
// only when needed.
func (t *Transport) answered(req *http.Request, k keys, known bool, resp *http.Response) {
	n, signal := t.s.header(resp)
	out := outcome(-1)
	switch {
	case resp.StatusCode == http.StatusPaymentRequired:
		out = latchAgain
	case signal && n <= 0:
		out = exhausted
	}
	if out >= 0 || signal {
		if !known {
			k = t.keys(req)
		}
		if signal {
			t.s.record(k, n)
		}
		if out >= 0 {
			t.s.settle(k, probes{}, out, t.now())
		}
	}
	t.watch(req, resp)
}

// probe sends req as the probe of the latches in pr and settles them by its
// outcome. If next panics, the latches are kept (and their cooldown starts
// again) and the probe slot is freed before the panic goes on: otherwise no
// request would ever probe them again.
func (t *Transport) probe(req *http.Request, k keys, pr probes) (resp *http.Response, err error) {
	returned := false
	defer func() {
		if !returned {
			t.s.settle(k, pr, keep, t.now())
		}
	}()
	resp, err = t.next.RoundTrip(req)
	returned = true
	if err == nil && resp == nil {
		err = t.nilResponse()
	}
	var out outcome
	switch {
	case err != nil && req.Context().Err() != nil:
		out = unknown
	case err != nil:
		out = keep
	case resp.StatusCode == http.StatusPaymentRequired:
		out = latchAgain
	default:
		classify := t.s.p.Classifier
		if classify == nil {
			classify = errclass.Classify
		}
		if o := classify(req, resp, nil); o.Class == errclass.Retryable || o.ServerFault {
			out = keep // says nothing about credits
		} else {
			out = release
		}
	}
	var (
		n      int64
		signal bool
	)
	if err == nil {
		if n, signal = t.s.header(resp); signal && n <= 0 && out == release {
			// The account pays again, but this was its last credit.
			out = exhausted
		}
	}
	t.s.settle(k, pr, out, t.now())
	if err == nil {
		if signal { // after the settling: a release forgets the old count
			t.s.record(k, n)
		}
		t.watch(req, resp)
	}
	return resp, err
}

// Reset releases every latch: call it when the account can pay again (credits
// were bought, the card was updated).
func (t *Transport) Reset() { t.s.reset() }

// Remaining returns the last count of credits left that a response
// reported for each route (see [Policy.RemainingHeader] and
// [Policy.RemainingField]), by route key as [Transport.Latched] lists
// them: a gauge for a health endpoint. A route released by a probe, and
// every route after [Transport.Reset], has no value until a response
// reports one again. It is empty when the policy reads no signal.
func (t *Transport) Remaining() map[string]int64 { return t.s.gauge() }

// Latched returns the keys of the latches set, sorted: route keys such as
// "POST https://api.example.com/v1/jobs" (or what [Policy.Key] returned),
// and host keys such as "POST https://api.example.com" when routes
// overflowed MaxKeys. It suits a health endpoint.
func (t *Transport) Latched() []string { return t.s.list() }

// CloseIdleConnections closes the idle connections of the RoundTripper
// below, if it has such a method, as http.Client.CloseIdleConnections
// expects of its Transport.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

var errInvalidRequest = fmt.Errorf("credits: %w: nil request or URL", errclass.ErrInvalidRequest)

// nilResponse is the error returned in place of next's (nil, nil), which
// breaks the RoundTripper contract.
func (t *Transport) nilResponse() error {
	return fmt.Errorf("credits: %T: %w", t.next, errclass.ErrNilResponse)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
