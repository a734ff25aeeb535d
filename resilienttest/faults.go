package resilienttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Faults says which faults an [Injector] injects and how often. Each Rate
// is the probability, in [0, 1], that one request gets that fault. Latency
// is drawn on its own and adds to whatever else happens; the other faults
// exclude one another, so Reset.Rate + Status.Rate + Stall.Rate +
// Truncate.Rate must not exceed 1 (each is then exactly the share of
// requests that get it). The zero Faults injects nothing.
//
// Faults is data: the same Faults and Seed give the same draws, so a test
// that fails under one seed fails again under it.
type Faults struct {
	// Seed seeds the generator (a PCG from math/rand/v2). Requests take
	// their draws in the order they reach the Injector: over N requests,
	// how many got each fault depends only on Seed and N, even when they
	// run concurrently (which request got which depends on scheduling).
	Seed uint64

	// Latency delays the request before it is sent.
	Latency LatencyFault
	// Reset sends the request, then loses the answer: the response (if
	// any) is closed and RoundTrip returns a connection reset, a
	// *net.OpError wrapping syscall.ECONNRESET. The server did the work;
	// the client cannot know it (delivery ambiguous).
	Reset RateFault
	// Status answers in place of the server: the request is not sent.
	Status StatusFault
	// Stall sends the request and hands back the response with a body
	// that stops after Stall.After bytes: the next Read blocks until the
	// request's context ends or the body is closed.
	Stall BodyFault
	// Truncate sends the request and hands back the response with a body
	// cut after Truncate.After bytes: the next Read returns
	// io.ErrUnexpectedEOF, as when a connection drops mid-body.
	Truncate BodyFault
}

// RateFault is a fault with no parameter but its rate.
type RateFault struct {
	// Rate is the probability of the fault, in [0, 1].
	Rate float64
}

// LatencyFault delays requests.
type LatencyFault struct {
	// Rate is the probability of the delay, in [0, 1].
	Rate float64
	// Delay is added before the request is sent. A request whose context
	// ends first is not sent and fails with the context's error.
	Delay time.Duration
}

// StatusFault answers requests with a status instead of the server.
type StatusFault struct {
	// Rate is the probability of the answer, in [0, 1].
	Rate float64
	// Code is the status. Zero means 503.
	Code int
	// RetryAfter, if set, is sent as the Retry-After header: seconds
	// ("2") or an HTTP date.
	RetryAfter string
}

// BodyFault damages response bodies.
type BodyFault struct {
	// Rate is the probability of the fault, in [0, 1].
	Rate float64
	// After is how many bytes of the real body are delivered before the
	// fault. Zero means none. A body shorter than After meets the fault
	// where it ends, instead of its EOF.
	After int
}

// Counts tells how many requests an [Injector] saw and what it did to
// them.
type Counts struct {
	Requests  int64 // requests that reached RoundTrip
	Latencies int64 // requests delayed
	Resets    int64 // requests whose answer was replaced by a reset
	Statuses  int64 // requests answered with Faults.Status, not sent
	Stalls    int64 // responses whose body stalls
	Truncates int64 // responses whose body is cut
}

// Injector is an http.RoundTripper that injects the faults of a [Faults]
// into the requests it passes to the RoundTripper below. It is safe for
// concurrent use. It never modifies the caller's request; it closes the
// request body of a request it does not send and the response body of a
// response it replaces. Create it with [Inject].
type Injector struct {
	next http.RoundTripper
	f    Faults

	mu  sync.Mutex // guards rng
	rng *rand.Rand

	requests, latencies, resets, statuses, stalls, truncates atomic.Int64
}

var _ http.RoundTripper = (*Injector)(nil)

// Inject returns an Injector that injects f into the requests it sends
// with next (nil next means http.DefaultTransport). It panics if a rate
// is outside [0, 1] or the exclusive rates add up to more than 1: a
// test's mistake, not a condition to handle.
func Inject(next http.RoundTripper, f Faults) *Injector {
	if next == nil {
		next = http.DefaultTransport
	}
	sum := 0.0
	for name, r := range map[string]float64{
		"Latency": f.Latency.Rate, "Reset": f.Reset.Rate, "Status": f.Status.Rate,
		"Stall": f.Stall.Rate, "Truncate": f.Truncate.Rate,
	} {
		if !(r >= 0 && r <= 1) {
			panic(fmt.Sprintf("resilienttest: %s.Rate %v is outside [0, 1]", name, r))
		}
		if name != "Latency" {
			sum += r
		}
	}
	if sum > 1+1e-9 {
		panic(fmt.Sprintf("resilienttest: Reset, Status, Stall and Truncate rates add up to %v, more than 1", sum))
	}
	if f.Status.Code == 0 {
		f.Status.Code = http.StatusServiceUnavailable
	}
	return &Injector{next: next, f: f, rng: rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))}
}

// Middleware returns a function that wraps a RoundTripper with
// Inject(next, f), for chains of middleware.
func Middleware(f Faults) func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper { return Inject(next, f) }
}

// Counts returns what the Injector has done so far.
func (in *Injector) Counts() Counts {
	return Counts{
		Requests:  in.requests.Load(),
		Latencies: in.latencies.Load(),
		Resets:    in.resets.Load(),
		Statuses:  in.statuses.Load(),
		Stalls:    in.stalls.Load(),
		Truncates: in.truncates.Load(),
	}
}

type fault uint8

const (
	faultNone fault = iota
	faultReset
	faultStatus
	faultStall
	faultTruncate
)

// draw takes the two draws of one request: every request takes both, so
// that the counts over N requests depend on the seed alone.
func (in *Injector) draw() (delay bool, f fault) {
	in.mu.Lock()
	u1, u2 := in.rng.Float64(), in.rng.Float64()
	in.mu.Unlock()
	delay = u1 < in.f.Latency.Rate
	switch acc := in.f.Reset.Rate; {
	case u2 < acc:
		f = faultReset
	case u2 < acc+in.f.Status.Rate:
		f = faultStatus
	case u2 < acc+in.f.Status.Rate+in.f.Stall.Rate:
		f = faultStall
	case u2 < acc+in.f.Status.Rate+in.f.Stall.Rate+in.f.Truncate.Rate:
		f = faultTruncate
	}
	return delay, f
}

// RoundTrip sends req through the RoundTripper below, with the faults
// drawn for it.
func (in *Injector) RoundTrip(req *http.Request) (*http.Response, error) {
	in.requests.Add(1)
	delay, f := in.draw()
	if delay {
		in.latencies.Add(1)
		if err := sleep(req.Context(), in.f.Latency.Delay); err != nil {
			closeBody(req)
			return nil, err
		}
	}
	if f == faultStatus {
		in.statuses.Add(1)
		closeBody(req) // not sent: RoundTrip still owns the body
		return in.statusResponse(req), nil
	}
	resp, err := in.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if resp == nil {
		return nil, errors.New("resilienttest: RoundTripper below returned no response and no error")
	}
	switch f {
	case faultReset:
		in.resets.Add(1)
		// Closed unread, as a reset connection leaves it: draining would
		// wait on a body that arrives slowly or never.
		resp.Body.Close()
		return nil, resetError(req)
	case faultStall:
		in.stalls.Add(1)
		resp.Body = &stallBody{ctx: req.Context(), rc: resp.Body, left: in.f.Stall.After, closed: make(chan struct{})}
	case faultTruncate:
		in.truncates.Add(1)
		resp.Body = &truncBody{rc: resp.Body, left: in.f.Truncate.After}
	}
	return resp, nil
}

func (in *Injector) statusResponse(req *http.Request) *http.Response {
	body, _ := json.Marshal(map[string]string{"detail": http.StatusText(in.f.Status.Code)})
	h := http.Header{"Content-Type": {"application/json"}, "Content-Length": {strconv.Itoa(len(body))}}
	if in.f.Status.RetryAfter != "" {
		h.Set("Retry-After", in.f.Status.RetryAfter)
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", in.f.Status.Code, http.StatusText(in.f.Status.Code)),
		StatusCode:    in.f.Status.Code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(strings.NewReader(string(body))),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// resetError looks like the error of a connection reset by the peer
// while the response was read, so that classifiers treat it as one.
func resetError(req *http.Request) error {
	return &net.OpError{Op: "read", Net: "tcp", Addr: fakeAddr(req.URL.Host), Err: os.NewSyscallError("read", syscall.ECONNRESET)}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// errBodyClosed is what a Read of a closed stalled body returns, as
// net/http's bodies do.
var errBodyClosed = errors.New("resilienttest: read on closed response body")

// stallBody delivers left bytes of rc, then blocks until ctx ends or
// Close is called.
type stallBody struct {
	ctx  context.Context
	rc   io.ReadCloser
	left int // only Read touches it; a body is not read concurrently

	once   sync.Once
	closed chan struct{}
}

func (b *stallBody) Read(p []byte) (int, error) {
	select {
	case <-b.closed:
		return 0, errBodyClosed
	default:
	}
	if b.left > 0 {
		n, err := b.rc.Read(p[:min(len(p), b.left)])
		b.left -= n
		if n > 0 || err == nil {
			return n, nil // stall at the end, not at the real EOF
		}
	}
	select {
	case <-b.ctx.Done():
		return 0, b.ctx.Err()
	case <-b.closed:
		return 0, errBodyClosed
	}
}

func (b *stallBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return b.rc.Close()
}

// truncBody delivers left bytes of rc, then io.ErrUnexpectedEOF.
type truncBody struct {
	rc   io.ReadCloser
	left int
}

func (b *truncBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n, err := b.rc.Read(p[:min(len(p), b.left)])
	b.left -= n
	if err != nil && n == 0 {
		return 0, io.ErrUnexpectedEOF // the real body ended first: cut all the same
	}
	return n, nil
}

func (b *truncBody) Close() error { return b.rc.Close() }
