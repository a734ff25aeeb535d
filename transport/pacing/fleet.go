package pacing

import (
	"net/http"
	"time"

	"github.com/resilient-http/resilient/transport/fleet"
)

// roundTripFleet is RoundTrip with Policy.Fleet set: req waits for the
// later end of key's window here and in the fleet, then, with a Rate, for
// a grant of the fleet's rate. Waits add up against MaxWait: a request
// that would wait longer in all is refused.
func (t *Transport) roundTripFleet(req *http.Request, key string) (*http.Response, error) {
	f := t.s.p.Fleet
	var waited time.Duration
	for round := 0; ; round++ {
		// The clock is read only when some window is open.
		var now time.Time
		wait := time.Duration(0)
		if e, ok := t.s.reg.Get(key); ok {
			if u := e.until.Load(); u != 0 {
				now = t.s.now()
				wait = time.Duration(u - instant(now))
			}
		}
		if u := f.Until(fleet.KindThrottle, key); !u.IsZero() {
			if now.IsZero() {
				now = t.s.now()
			}
			wait = max(wait, u.Sub(now))
		}
		if wait <= 0 || round >= maxRounds {
			if t.s.p.Rate <= 0 {
				break
			}
			d, ok := f.Reserve(req.Context(), key, fleet.Limit{Rate: t.s.p.Rate, Burst: t.s.p.Burst})
			if ok {
				break
			}
			wait = max(d, time.Millisecond) // never ask again in a busy loop
		}
		if now.IsZero() {
			now = t.s.now()
		}
		if err := t.waitFleet(req, key, wait, waited, now); err != nil {
			return nil, err
		}
		waited += wait
	}
	return t.send(req, key)
}

// waitFleet is wait for the fleet: waited is how long req waited already,
// counted against MaxWait.
func (t *Transport) waitFleet(req *http.Request, key string, d, waited time.Duration, now time.Time) error {
	if waited+d > t.s.p.MaxWait {
		return t.refuse(req, key, d, now, false)
	}
	return t.wait(req, key, d, now)
}
