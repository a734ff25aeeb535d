package timeout

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/resilient-http/resilient/transport/internal/bodywatch"
)

// releaseOnDone returns rc wrapped so that it cancels its request's
// context when read to the end, failed or closed (a missing or empty body
// cancels at once), and, with an idle bound, cuts it when no byte arrives
// for that long. p is the Transport's policy, which outlives the body.
func releaseOnDone(rc io.ReadCloser, cancel context.CancelCauseFunc, p *Policy) io.ReadCloser {
	if rc == nil || rc == http.NoBody {
		cancel(nil)
		return rc
	}
	b := &body{cancel: cancel, p: p}
	// A 101 Switching Protocols body is a connection of another protocol,
	// whose silences are its own business: no idle bound.
	_, upgraded := rc.(io.Writer)
	if p.BodyIdle > 0 && !upgraded {
		// Armed only while a Read waits: a caller that is slow between
		// reads is not the server's silence.
		b.idleTimer = time.AfterFunc(p.BodyIdle, b.cut)
		b.idleTimer.Stop()
	}
	b.Watch(rc, b, b.idleTimer != nil)
	return bodywatch.Writable(b, rc)
}

// body is a response body that releases its request's context when it
// ends and may be cut when idle. Through its [bodywatch.Body] it is a
// [bodywatch.Notifier]: with an idle bound, a breaker above hears whether
// it was cut.
type body struct {
	bodywatch.Body
	bodywatch.Cuttable
	cancel    context.CancelCauseFunc
	p         *Policy
	idleTimer *time.Timer // nil without an idle bound
}

// cut runs when the idle timer fires: no byte for p.BodyIdle.
func (b *body) cut() {
	cause := b.p.BodyIdleErr
	if cause == nil {
		cause = ErrBodyIdle
	}
	b.Cut(cause)
}

// BeforeRead arms the idle timer. After a cut it fires in vain.
func (b *body) BeforeRead() {
	if b.idleTimer != nil {
		b.idleTimer.Reset(b.p.BodyIdle)
	}
}

// AfterRead disarms the idle timer and makes the error of a Read that a
// cut interrupted an [*Error].
func (b *body) AfterRead(_ []byte, err error, ended bodywatch.End) error {
	if b.idleTimer == nil {
		return err
	}
	b.idleTimer.Stop()
	if ended == bodywatch.Cut && err != io.EOF {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		err = &Error{Bound: ErrBodyIdle, Sentinel: b.p.BodyIdleErr, After: b.p.BodyIdle, Cause: err}
	}
	return err
}

// End releases the request's context: with the cut's cause when cut, so
// that the waiting Read below returns (the breaker was told first, so the
// cut is counted by then). A body closed before its end has its context
// canceled before the body below is closed, so that a Close below that
// reads on (to drain) does not wait on the network.
func (b *body) End(how bodywatch.End, err error) {
	if how == bodywatch.Cut {
		b.cancel(err)
		return
	}
	if b.idleTimer != nil {
		b.idleTimer.Stop()
	}
	b.cancel(nil)
}
