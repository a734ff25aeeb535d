package timeout

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// releaseOnDone returns rc wrapped so that it cancels its request's
// context when read to the end or closed (a missing or empty body cancels
// at once), and, with an idle bound, cuts it when no byte arrives for that
// long.
func releaseOnDone(rc io.ReadCloser, cancel context.CancelCauseFunc, p *Policy) io.ReadCloser {
	if rc == nil || rc == http.NoBody {
		cancel(nil)
		return rc
	}
	b := &body{rc: rc, cancel: cancel}
	if w, ok := rc.(io.Writer); ok {
		// 101 Switching Protocols: a connection of another protocol, whose
		// silences are its own business; no idle bound.
		return rwBody{b, w}
	}
	if p.BodyIdle > 0 {
		b.idle, b.idleErr = p.BodyIdle, p.BodyIdleErr
		// Armed only while a Read waits: a caller that is slow between
		// reads is not the server's silence.
		b.idleTimer = time.AfterFunc(p.BodyIdle, b.cut)
		b.idleTimer.Stop()
	}
	return b
}

// body is a response body that releases its request's context when done
// and may be cut when idle. It is safe for a Close to race with a Read.
type body struct {
	rc     io.ReadCloser
	cancel context.CancelCauseFunc

	idle      time.Duration
	idleErr   error       // the policy's BodyIdleErr, or nil
	idleTimer *time.Timer // nil without an idle bound
	cutDone   atomic.Bool

	mu       sync.Mutex // guards what follows, set and read on two goroutines
	reporter interface{ BodyDone(token uint64, cut bool) }
	token    uint64
	ended    bool // the body is done (or cut); the reporter was told
	eof      bool // the body was read to its end
}

// NotifyCut makes the body tell r, once, how it ends: cut by its idle
// bound, or otherwise (read to the end, failed, or closed). It reports
// whether it will: false without an idle bound (nothing to watch) or once
// the body has ended. The breaker uses it, through the internal cutoff
// package's Notifier, to count a response only once its body is done; the
// parameter is an interface literal so that the method matches that
// interface without this package importing it.
func (b *body) NotifyCut(r interface{ BodyDone(token uint64, cut bool) }, token uint64) bool {
	if b.idleTimer == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return false
	}
	b.reporter, b.token = r, token
	return true
}

// cut runs when the idle timer fires: no byte for b.idle.
func (b *body) cut() {
	if b.cutDone.Swap(true) {
		return
	}
	// Tell the reporter first: the blocked Read returns once the context
	// is canceled, and by then the cut is counted.
	b.end(true)
	cause := b.idleErr
	if cause == nil {
		cause = ErrBodyIdle
	}
	b.cancel(cause)
}

// end tells the reporter, if any and once, how the body ended.
func (b *body) end(cut bool) {
	b.mu.Lock()
	r, token, told := b.reporter, b.token, b.ended
	b.ended = true
	b.mu.Unlock()
	if r != nil && !told {
		r.BodyDone(token, cut)
	}
}

func (b *body) release() {
	if b.idleTimer != nil {
		b.idleTimer.Stop()
		b.end(false)
	}
	b.cancel(nil)
}

// Read reads from the body. With an idle bound, a Read that waits longer
// than it for its first byte cuts the body and fails with an [*Error].
func (b *body) Read(p []byte) (int, error) {
	if b.idleTimer == nil {
		n, err := b.rc.Read(p)
		if err != nil {
			b.done(err)
		}
		return n, err
	}
	if !b.cutDone.Load() {
		b.idleTimer.Reset(b.idle)
	}
	n, err := b.rc.Read(p)
	b.idleTimer.Stop()
	if b.cutDone.Load() && err != io.EOF {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		err = &Error{Bound: ErrBodyIdle, Sentinel: b.idleErr, After: b.idle, Cause: err}
	}
	if err != nil {
		b.done(err)
	}
	return n, err
}

// done releases the body after a Read returned err.
func (b *body) done(err error) {
	if err == io.EOF {
		b.mu.Lock()
		b.eof = true
		b.mu.Unlock()
	}
	b.release()
}

// Close closes the body and releases its context. A body closed before
// its end has its request's context canceled first, so that a body below
// whose Close reads on (to drain it) does not wait on the network.
func (b *body) Close() error {
	b.mu.Lock()
	eof := b.eof
	b.mu.Unlock()
	if !eof {
		b.cancel(nil)
	}
	err := b.rc.Close()
	b.release()
	return err
}

type rwBody struct {
	*body
	w io.Writer
}

func (b rwBody) Write(p []byte) (int, error) { return b.w.Write(p) }
