package limit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errTimedOut ends a wait that lasted MaxWait.
var errTimedOut = errors.New("limit: no slot in time")

// verdict is what an outcome tells an adaptive limit.
type verdict uint8

const (
	neutral  verdict = iota // canceled, refused, a client error: nothing learnt
	success                 // the server coped
	overload                // a server fault, a timeout or a 429
)

// gate is one key's limit: a counting semaphore with a FIFO queue.
type gate struct {
	lo, hi int // the bounds of an adaptive limit (both Max when fixed)

	mu sync.Mutex
	// guarded by mu
	inflight   int
	limit      int    // Max, or the adaptive limit
	successes  int    // since the limit last moved
	gen        uint64 // counts decreases: only a request sent since the last may decrease again
	dead       bool   // evicted: its key has, or will have, another gate
	head, tail *waiter
}

// waiter is a request queued for a slot. Its fields are guarded by the
// gate's mu, except ch, closed when the slot is granted.
type waiter struct {
	ch         chan struct{}
	granted    bool
	gen        uint64
	prev, next *waiter
}

// busy reports whether g has requests in flight or queued.
func (g *gate) busy() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight > 0 || g.head != nil
}

// retire marks g dead unless it is busy, and reports whether it did: the
// registry evicts it only then, so no request holds or waits for a slot
// of a gate no longer its key's.
func (g *gate) retire() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inflight > 0 || g.head != nil {
		return false
	}
	g.dead = true
	return true
}

// tryAcquire takes a slot if one is free and no one queues, returning the
// generation the request was sent in; otherwise it queues w (when w is not
// nil) and reports false. A dead gate grants and queues nothing, and says
// so: the caller looks its key up again.
func (g *gate) tryAcquire(w *waiter) (gen uint64, ok, dead bool) {
	g.mu.Lock()
	if g.dead {
		g.mu.Unlock()
		return 0, false, true
	}
	if g.head == nil && g.inflight < g.limit {
		g.inflight++
		gen := g.gen
		g.mu.Unlock()
		return gen, true, false
	}
	if w != nil {
		w.prev = g.tail
		if g.tail != nil {
			g.tail.next = w
		} else {
			g.head = w
		}
		g.tail = w
	}
	g.mu.Unlock()
	return 0, false, false
}

// wait waits, for at most d, for queued w's slot or ctx's end. It returns
// the generation the request is sent in and nil when it got a slot (also
// when the slot came as d passed), errTimedOut when d passed first, or
// ctx's cause when ctx ended first; then w is out of the queue, and a slot
// granted as ctx ended is handed on.
func (g *gate) wait(ctx context.Context, w *waiter, d time.Duration) (uint64, error) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	var err error
	select {
	case <-w.ch:
		return w.gen, nil // gen was written before ch closed
	case <-tm.C:
		err = errTimedOut
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	g.mu.Lock()
	if w.granted {
		g.mu.Unlock()
		if err == errTimedOut {
			return w.gen, nil // granted as the timer fired: use the slot
		}
		g.release(w.gen, neutral) // hand it on
		return 0, err
	}
	g.removeLocked(w)
	g.mu.Unlock()
	return 0, err
}

// removeLocked unlinks w from the queue. Requires g.mu.
func (g *gate) removeLocked(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		g.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		g.tail = w.prev
	}
	w.prev, w.next = nil, nil
}

// release gives a slot back, lets an adaptive limit learn from v, and
// grants free slots to the queue in order.
func (g *gate) release(gen uint64, v verdict) {
	g.mu.Lock()
	g.inflight--
	switch v {
	case success:
		if g.successes++; g.successes >= g.limit {
			g.successes = 0
			if g.limit < g.hi {
				g.limit++
			}
		}
	case overload:
		if gen == g.gen { // sent since the last decrease
			g.gen++
			g.successes = 0
			g.limit = max(g.limit/2, g.lo)
		}
	}
	for g.head != nil && g.inflight < g.limit {
		w := g.head
		g.removeLocked(w)
		w.granted, w.gen = true, g.gen
		g.inflight++
		close(w.ch)
	}
	g.mu.Unlock()
}
