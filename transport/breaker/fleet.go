package breaker

import (
	"time"

	"github.com/resilient-http/resilient/transport/fleet"
	"github.com/sony/gobreaker/v2"
)

// A fleet's breaker is a gate of ours in front of each replica's gobreaker,
// which cannot be forced open. The fleet holds, per breaker name:
//
//   - an open deadline (fleet.KindBreaker, the name): refuse until then. A
//     replica publishes now+OpenTimeout when its own breaker opens, when
//     the fleet's failures reach ConsecutiveFailures, or when a probe
//     fails; and now+ProbeTimeout when it sends the fleet's probe, so that
//     the others keep refusing while the probe is out;
//   - a half-open deadline (the name and probeSuffix), ProbeTimeout past
//     the open one: between the two, the fleet's breaker is half-open;
//   - a count: the fleet's failures in the Window since the last success
//     any replica saw (a success clears it, as one resets a run of
//     failures in a row);
//   - a lease: while half-open, the replica holding it sends the one
//     probe; the others refuse as a half-open breaker with its probes in
//     flight does.
//
// The probe's success clears both deadlines; its failure opens the
// breaker again. A half-open breaker nobody probes closes when its
// deadline passes.

// probeSuffix turns a breaker's name into the key of its half-open
// deadline. No URL or key ends with it by accident.
const probeSuffix = " \x00half-open"

// gate decides, before gobreaker, whether the fleet lets a request to e
// through, and whether it is the fleet's probe (then the caller clears
// e.probing once the probe is settled). It reads the Store's
// mirror only, except for a half-open breaker's Lease. The half-open
// deadline is never before the open one, so a closed breaker, the common
// case, costs one read.
func (r *registry) gate(e *entry) (probe bool, refusal *OpenError) {
	f := r.p.Fleet
	if f.Until(fleet.KindBreaker, e.probeKey).IsZero() {
		return false, nil
	}
	name := e.cb.Name()
	if u := f.Until(fleet.KindBreaker, name); !u.IsZero() {
		return false, &OpenError{Name: name, State: StateOpen, Until: u, Shared: true, cause: gobreaker.ErrOpenState}
	}
	now := time.Now()
	if State(e.state.Load()) == StateOpen && now.UnixNano() < e.openedAt.Load()+int64(r.p.OpenTimeout) {
		return false, nil // our own breaker is still open: gobreaker refuses
	}
	halfOpen := &OpenError{Name: name, State: StateHalfOpen, Shared: true, cause: gobreaker.ErrTooManyRequests}
	if !e.probing.CompareAndSwap(false, true) {
		return false, halfOpen // this replica's probe is out (or asking)
	}
	if !f.Lease(fleet.KindBreaker, name, r.p.ProbeTimeout) {
		e.probing.Store(false)
		return false, halfOpen
	}
	until := now.Add(r.p.ProbeTimeout)
	f.SetUntil(fleet.KindBreaker, name, until)
	f.SetUntil(fleet.KindBreaker, e.probeKey, until.Add(r.p.ProbeTimeout))
	return true, nil
}

// settleProbe publishes what the fleet's probe to e learned: counted is
// what its outcome counted as, verdict gobreaker's refusal if it was not
// sent. A success closes the fleet's breaker, a failure opens it again;
// anything else leaves it half-open until ProbeTimeout, when another
// probe may go.
func (r *registry) settleProbe(e *entry, counted, verdict error) {
	if verdict == gobreaker.ErrOpenState || verdict == gobreaker.ErrTooManyRequests {
		return
	}
	switch counted {
	case nil:
		r.fleetClose(e)
	case errFailure:
		// Clear first: SetUntil never shortens the probe's deadline.
		r.p.Fleet.Clear(fleet.KindBreaker, e.cb.Name())
		r.fleetOpen(e, time.Now())
	}
}

// fleetOpen publishes that e's breaker is open for OpenTimeout from now.
func (r *registry) fleetOpen(e *entry, now time.Time) {
	if r.p.Fleet == nil {
		return
	}
	until := now.Add(r.p.OpenTimeout)
	r.p.Fleet.SetUntil(fleet.KindBreaker, e.cb.Name(), until)
	r.p.Fleet.SetUntil(fleet.KindBreaker, e.probeKey, until.Add(r.p.ProbeTimeout))
}

// fleetClose publishes that e's breaker closed: deadlines and count go.
func (r *registry) fleetClose(e *entry) {
	if r.p.Fleet == nil {
		return
	}
	r.p.Fleet.Clear(fleet.KindBreaker, e.cb.Name())
	r.p.Fleet.Clear(fleet.KindBreaker, e.probeKey)
}

// fleetFail counts a failure of e fleet-wide, and opens the fleet's
// breaker when the fleet's failures reach ConsecutiveFailures. The count
// covers failures only (successes are not shared: that would cost a write
// per request), so the failure-rate rule stays each replica's own.
func (r *registry) fleetFail(e *entry) {
	f := r.p.Fleet
	if f == nil {
		return
	}
	if f.Add(fleet.KindBreaker, e.cb.Name(), 1, r.p.Window) >= int(r.p.ConsecutiveFailures) {
		r.fleetOpen(e, time.Now())
	}
}

// fleetSucceed resets the fleet's count of failures after a success, as a
// success resets a run of failures in a row. It publishes only when there
// is a count to reset and the fleet's breaker is not open (a late success
// does not close it). Both reads are from the mirror.
func (r *registry) fleetSucceed(e *entry) {
	f, name := r.p.Fleet, e.cb.Name()
	if f.Count(fleet.KindBreaker, name) > 0 && f.Until(fleet.KindBreaker, name).IsZero() {
		f.Clear(fleet.KindBreaker, name)
	}
}
