package breaker

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// latches remembers the endpoints that answered 402 Payment Required.
type latches struct {
	latched sync.Map // string → *latch
	nLatch  atomic.Int64
}

type latch struct {
	until   atomic.Int64 // unix nanoseconds; refuse requests before then
	probing atomic.Bool  // a probe is in flight
}

// latchKey names the endpoint of req: a 402 on POST /v1/enhancements must
// not stop GET /v1/jobs/{id}/results on the same host.
func latchKey(req *http.Request) string {
	return req.Method + " " + req.URL.Scheme + "://" + req.URL.Host + req.URL.Path
}

// admit decides whether req may go out past the 402 latch. It returns a
// non-nil latch when req is the probe of one (the caller must settle it),
// or a CreditError when req must be refused.
func (r *registry) admit(lk string, now time.Time) (*latch, *CreditError) {
	v, ok := r.latched.Load(lk)
	if !ok {
		return nil, nil
	}
	l := v.(*latch)
	until := l.until.Load()
	if now.UnixNano() < until || !l.probing.CompareAndSwap(false, true) {
		return nil, &CreditError{Key: lk, Until: time.Unix(0, until)}
	}
	return l, nil
}

// settle records the outcome of a request past the latch: status is the
// response's status, or 0 when there was no response. probe is the latch
// whose probe this was, if any.
func (r *registry) settle(lk string, probe *latch, status int, now time.Time) {
	switch {
	case status == http.StatusPaymentRequired:
		r.setLatch(lk, now)
	case probe != nil && status != 0:
		// The server answered something else: credits are back.
		if r.latched.CompareAndDelete(lk, probe) {
			r.nLatch.Add(-1)
		}
	}
	if probe != nil {
		probe.probing.Store(false)
	}
}

func (r *registry) setLatch(lk string, now time.Time) {
	until := now.Add(r.p.CreditCooldown).UnixNano()
	if v, ok := r.latched.Load(lk); ok {
		v.(*latch).until.Store(until)
		return
	}
	if r.nLatch.Load() >= int64(r.p.MaxKeys) {
		// Bounded: forget an arbitrary latch rather than grow without end.
		r.latched.Range(func(k, v any) bool {
			if r.latched.CompareAndDelete(k, v) {
				r.nLatch.Add(-1)
			}
			return false
		})
	}
	l := &latch{}
	l.until.Store(until)
	if _, loaded := r.latched.LoadOrStore(lk, l); !loaded {
		r.nLatch.Add(1)
	}
}

// resetLatches releases every latch.
func (r *registry) resetLatches() {
	r.latched.Range(func(k, v any) bool {
		if r.latched.CompareAndDelete(k, v) {
			r.nLatch.Add(-1)
		}
		return true
	})
}
