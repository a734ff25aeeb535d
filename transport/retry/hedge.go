package retry

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resilient-http/resilient/transport/errclass"
	"github.com/resilient-http/resilient/transport/internal/bodywatch"
)

// Defaults of a [HedgePolicy] that is on.
const (
	// DefaultHedgeMax is the number of hedges per request when Max is
	// zero.
	DefaultHedgeMax = 1
	// DefaultHedgeDelay is the delay of a policy with a Quantile but no
	// Delay, until its route has enough samples.
	DefaultHedgeDelay = 100 * time.Millisecond
)

// Bounds of the latencies a Transport keeps for HedgePolicy.Quantile.
const (
	hedgeSamples    = 128 // latest samples kept per route
	hedgeMinSamples = 32  // samples before the quantile replaces the fallback
	hedgeRefresh    = 16  // the quantile is recomputed every hedgeRefresh samples
	hedgeRoutes     = 256 // routes whose latencies are kept
)

// HedgePolicy describes hedging: when an attempt of a request that may be
// sent twice has no answer after a delay, the [Transport] sends another
// attempt (a hedge) without canceling the first, and the first answer
// that is not retryable wins. It cuts the tail latency that a few slow
// servers or connections add, at the cost of a few more requests.
//
// Only requests that [errclass.Idempotent] reports true for (idempotent
// methods, or any request with an Idempotency-Key header, which every
// hedge carries too) and whose body can be replayed are hedged; others
// are sent as without hedging. Only the first attempt of a request is
// hedged: when every attempt of that race fails retryably, the ordinary
// retries follow, after their backoff, without hedges. An answer that
// asks for a wait (Retry-After) ends the hedging: the attempts in flight
// go on, but no further hedge is sent.
//
// Each hedge is a copy of the request with a fresh body (GetBody), made
// like a retry: [Policy.PrepareRetry] runs for it (its error cancels that
// hedge alone), it counts toward the attempt limit (MaxAttempts, or a
// call's [WithMaxAttempts]: a request limited to one attempt is not
// hedged), and it spends the retry budget: when the budget refuses, no
// hedge is sent. A hedge that a layer below refuses (an [errclass.Refusal]:
// a half-open breaker whose probe is the first attempt, an open one, a
// throttle window) sent nothing: it is no answer, so it neither wins nor
// ends the race, and no further hedge follows it. A panic in a layer
// below, on an attempt's goroutine, comes back on the caller's. Its
// context carries an [errclass.Attempt] with Hedge set,
// and an observer that implements [errclass.HedgeObserver] hears, once
// the race is decided, about each hedge and whether it won.
//
// Every attempt of the race has a context of its own, below the caller's.
// The losers' contexts are canceled (their attempts end as
// [errclass.Canceled], which a breaker does not count, and which never
// reaches the caller); a loser that had answered is drained (bounded, as
// a discarded retry is) or closed. The winner's context stays live until
// its body is read to the end or closed, so its body stays readable
// after RoundTrip returns.
//
// The zero HedgePolicy hedges nothing and costs nothing. Policy files
// spell it "hedge", with "delay" (a duration), "quantile" and "max".
type HedgePolicy struct {
	// Delay is how long an attempt waits for its answer before a hedge is
	// sent (and, with Max above 1, between hedges). With a Quantile it is
	// the floor of the measured delay, and its fallback until the route
	// has enough samples (zero: DefaultHedgeDelay).
	Delay time.Duration

	// Quantile, between 0 and 1 (0.95, say), measures the delay instead:
	// that quantile of the latency, until response headers, of this
	// Transport's successful attempts to the route (method and host) of
	// the request, over its latest 128 attempts. Attempts canceled as
	// losers count with the time they had taken. At most 256 routes are
	// remembered. Zero means the fixed Delay; values above 1 count as 1.
	Quantile float64

	// Max bounds the hedges sent per request. Zero means
	// DefaultHedgeMax (1) when Delay or Quantile turns hedging on.
	Max int
}

// on reports whether h hedges anything.
func (h HedgePolicy) on() bool { return h.Delay > 0 || h.Quantile > 0 }

// withDefaults returns h with its zero fields filled in, or the zero
// HedgePolicy when h hedges nothing (Max zero then says "off").
func (h HedgePolicy) withDefaults() HedgePolicy {
	if !h.on() {
		return HedgePolicy{}
	}
	if h.Max <= 0 {
		h.Max = DefaultHedgeMax
	}
	h.Delay = max(h.Delay, 0)
	h.Quantile = min(max(h.Quantile, 0), 1)
	return h
}

// hedgeKey is the route whose latencies a quantile is measured over.
type hedgeKey struct{ method, host string }

// latencies holds the latest samples of one route, and the quantile last
// computed from them.
type latencies struct {
	q   float64
	cur atomic.Int64 // the quantile as a time.Duration; 0 until enough samples

	mu  sync.Mutex
	n   uint64 // samples ever added
	buf [hedgeSamples]time.Duration
}

// add records a sample, recomputing the quantile every hedgeRefresh
// samples once there are hedgeMinSamples.
func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf[l.n%hedgeSamples] = d
	l.n++
	if l.n < hedgeMinSamples || l.n%hedgeRefresh != 0 {
		return
	}
	k := int(min(l.n, hedgeSamples))
	var s [hedgeSamples]time.Duration
	copy(s[:], l.buf[:k])
	slices.Sort(s[:k])
	i := min(max(int(math.Ceil(l.q*float64(k)))-1, 0), k-1)
	l.cur.Store(int64(max(s[i], 1)))
}

// hedges returns how many hedges req may get: none unless hedging is on,
// req may be sent twice, and its attempt limit leaves room.
func (t *Transport) hedges(req *http.Request) int {
	if !errclass.Idempotent(req) || !replayable(req) {
		return 0
	}
	return min(t.p.Hedge.Max, t.limit(req)-1)
}

// hedgeDelay returns the delay before req's hedges, and the samples of its
// route when the delay is measured.
func (t *Transport) hedgeDelay(req *http.Request) (time.Duration, *latencies) {
	h := t.p.Hedge
	if t.lat == nil {
		return h.Delay, nil
	}
	q := h.Quantile
	l, ok := t.lat.GetOrCreate(hedgeKey{req.Method, req.URL.Host}, func(hedgeKey) *latencies { return &latencies{q: q} })
	if !ok {
		l = nil
	}
	if l != nil {
		if d := time.Duration(l.cur.Load()); d > 0 {
			return max(d, h.Delay), l
		}
	}
	if h.Delay > 0 {
		return h.Delay, l
	}
	return DefaultHedgeDelay, l
}

// flight is one attempt of a hedged race.
type flight struct {
	a       errclass.Attempt
	req     *http.Request
	cancel  context.CancelFunc
	start   time.Duration
	charged time.Duration // a hedge: when its retry was charged to the budget

	// Set by the flight's goroutine before it hands the flight back.
	resp     *http.Response
	err      error
	out      errclass.Outcome
	took     time.Duration
	panicked any // what the RoundTripper below panicked with, if it did

	done bool // handed back: read by the race loop only
}

// fly sends f's request on a goroutine of its own, which hands f back on
// results when it is done.
func (t *Transport) fly(f *flight, results chan<- *flight) {
	f.start = t.clock()
	go func() {
		// A panic below would crash the process from this goroutine:
		// hand it to the caller's, where an unhedged request's panic
		// would have surfaced.
		ok := false
		defer func() {
			if !ok {
				f.panicked = recover()
				if f.panicked == nil {
					f.panicked = "retry: RoundTripper panicked" // panic(nil) or Goexit
				}
				results <- f
			}
		}()
		resp, err := t.next.RoundTrip(f.req)
		if resp == nil && err == nil {
			err = fmt.Errorf("retry: %T: %w", t.next, errclass.ErrNilResponse)
		}
		f.resp, f.err = resp, err
		f.out = t.p.Classifier(f.req, resp, err)
		f.took = t.clock() - f.start
		ok = true
		results <- f
	}()
}

// hedge sends attempt a of req as a hedge, if the context, the budget,
// the body and PrepareRetry allow: nil otherwise.
func (t *Transport) hedge(req *http.Request, a errclass.Attempt, results chan<- *flight) *flight {
	ctx := req.Context()
	if ctx.Err() != nil {
		return nil
	}
	charged, ok := t.p.SharedBudget.withdrawAt(t.clock())
	if !ok {
		return nil
	}
	body, err := replayBody(req)
	if err != nil {
		t.p.SharedBudget.refund(charged) // nothing sent
		return nil
	}
	actx, cancel := context.WithCancel(errclass.WithAttempt(ctx, a))
	r := t.attemptRequest(req, actx, body)
	if t.p.PrepareRetry != nil && !t.prepareHedge(r, a.Number, cancel, charged) {
		return nil
	}
	f := &flight{a: a, req: r, cancel: cancel, charged: charged}
	t.fly(f, results)
	return f
}

// prepareHedge runs PrepareRetry for hedge r. When it fails, or panics
// (the panic goes on to the caller), r's body is closed, its context
// released and the retry charged for it at charged refunded: the hedge is
// not sent.
func (t *Transport) prepareHedge(r *http.Request, attempt int, cancel context.CancelFunc, charged time.Duration) (ok bool) {
	defer func() {
		if !ok {
			cancel()
			t.p.SharedBudget.refund(charged)
		}
	}()
	return t.prepare(r, attempt) == nil
}

// hedged sends req, hedging it at most hedges times, and goes on with
// the retry loop when every attempt of the race failed retryably.
func (t *Transport) hedged(req *http.Request, hedges int) (*http.Response, error) {
	ctx := req.Context()
	delay, lat := t.hedgeDelay(req)
	results := make(chan *flight, hedges+1)
	flights := make([]*flight, 0, hedges+1)

	actx, cancel := context.WithCancel(ctx)
	first := &flight{a: errclass.Attempt{Number: 1}, req: req.WithContext(actx), cancel: cancel}
	t.fly(first, results)
	flights = append(flights, first)
	inFlight := 1

	timer := time.NewTimer(delay)
	defer timer.Stop()
	var winner, last *flight // last: the latest retryable answer
	decided := false
	defer func() {
		if !decided { // a panic (PrepareRetry's, or from below): let every attempt go
			for _, f := range flights {
				if !f.done {
					f.cancel()
				}
			}
			if last != nil {
				go t.release(last)
			}
			go collect(results, inFlight)
		}
	}()
	for winner == nil && inFlight > 0 {
		tick := timer.C
		if len(flights) > hedges {
			tick = nil // every hedge sent, or no more allowed
		}
		select {
		case f := <-results:
			inFlight--
			f.done = true
			if f.panicked != nil {
				f.cancel()
				panic(f.panicked) // the deferred cleanup lets the others go
			}
			if f.a.Hedge && f.out.Refused {
				// Refused below (an open or half-open breaker, pacing,
				// a full limit): nothing was sent, so this is no answer
				// and costs no retry. The others go on; the layer would
				// refuse further hedges too.
				t.p.SharedBudget.refund(f.charged)
				go t.release(f)
				hedges = len(flights) - 1
				continue
			}
			if !t.retryable(f.out) {
				winner = f
				continue
			}
			// Retryable: the others go on. Keep this answer in case all
			// fail; the one it replaces is freed.
			if last != nil {
				go t.release(last)
			}
			last = f
			if f.out.RetryAfter > 0 {
				// The server asked for a wait (429 or 503 with
				// Retry-After): a hedge sent now would ignore it.
				hedges = len(flights) - 1
			}
		case <-tick:
			a := errclass.Attempt{Number: len(flights) + 1, Delay: delay, Hedge: true}
			f := t.hedge(req, a, results)
			if f == nil {
				hedges = len(flights) - 1
				continue
			}
			flights = append(flights, f)
			inFlight++
			timer.Reset(delay)
		}
	}

	// Decided: keep the winner, or the last retryable answer when there
	// is none, and let every other attempt go.
	decided = true
	keep := winner
	if keep == nil {
		keep = last
	} else if last != nil {
		go t.release(last)
	}
	now := t.clock()
	for _, f := range flights {
		if f != keep && !f.done {
			f.cancel()
			if lat != nil {
				// Canceled: it would have taken at least this long.
				lat.add(now - f.start)
			}
		}
	}
	if inFlight > 0 {
		go collect(results, inFlight)
	}
	if lat != nil && keep.out.Class == errclass.Success {
		lat.add(keep.took)
	}
	if obs, ok := t.observer(ctx).(errclass.HedgeObserver); ok {
		t.tellHedged(obs, flights, winner, keep)
	}
	hold(keep)
	if winner == nil {
		return t.retry(req, keep.resp, keep.err, keep.out, len(flights))
	}
	return result(len(flights), keep.resp, keep.err, "")
}

// tellHedged tells obs of each hedge of a decided race. Should obs panic,
// keep, which the caller then never gets, is released on the way up.
func (t *Transport) tellHedged(obs errclass.HedgeObserver, flights []*flight, winner, keep *flight) {
	told := false
	defer func() {
		if !told {
			go t.release(keep)
		}
	}()
	for _, f := range flights[1:] {
		obs.Hedged(f.a, f == winner && winner.out.Class != errclass.Canceled)
	}
	told = true
}

// release frees the answer of an attempt that lost: its body drained, as
// bounded as a discarded retry's, or closed; then its context.
func (t *Transport) release(f *flight) {
	if f.resp != nil {
		t.discard(f.req.Context(), f.resp)
	}
	f.cancel()
}

// collect receives the n attempts still in flight once their race is
// decided (their contexts canceled) and closes what they return.
func collect(results <-chan *flight, n int) {
	for range n {
		f := <-results
		if f.resp != nil && f.resp.Body != nil {
			f.resp.Body.Close()
		}
	}
}

// hold hands f's answer on: its context is released when its body ends
// (read to the end, failed or closed), at once if it has none.
func hold(f *flight) {
	if f.resp == nil || f.resp.Body == nil || f.resp.Body == http.NoBody {
		f.cancel()
		return
	}
	b := &releasing{cancel: f.cancel}
	b.Watch(f.resp.Body, b, false)
	f.resp.Body = bodywatch.Writable(b, f.resp.Body)
}

// releasing is the body of a race's winner: it cancels the winner's
// context when it ends.
type releasing struct {
	bodywatch.Body
	cancel context.CancelFunc
}

func (b *releasing) BeforeRead() {}

func (b *releasing) AfterRead(_ []byte, err error, _ bodywatch.End) error { return err }

func (b *releasing) End(bodywatch.End, error) { b.cancel() }
