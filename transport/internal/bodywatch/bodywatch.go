// Package bodywatch is the one mechanism by which a layer watches a
// response body it hands up: it sees each Read, learns exactly once how the
// body ended (read to its end, failed, closed, or cut by the layer itself),
// and can tell a breaker above it how the body ended ([Notifier]).
//
// A layer embeds a [Body] in its own wrapper struct, so that a watched body
// costs that one allocation, and implements [Hooks] on that struct:
//
//	type tracked struct {
//		bodywatch.Body
//		span trace.Span
//	}
//
//	func (b *tracked) BeforeRead() {}
//	func (b *tracked) AfterRead(p []byte, err error, _ bodywatch.End) error { return err }
//	func (b *tracked) End(how bodywatch.End, err error) { b.span.End() }
//
//	t := &tracked{span: span}
//	t.Watch(resp.Body, t, false)
//	resp.Body = bodywatch.Writable(t, resp.Body)
package bodywatch

import (
	"io"
	"strconv"
	"sync"
)

// End says how a watched body ended.
type End uint8

// How a body ends. The zero End is none: the body has not ended.
const (
	// EOF: a Read returned io.EOF.
	EOF End = iota + 1
	// Failed: a Read returned an error other than io.EOF.
	Failed
	// Closed: the body was closed before either.
	Closed
	// Cut: the layer ended it itself with [Body.Cut] (an idle timer).
	Cut
)

var endNames = [...]string{"none", "eof", "failed", "closed", "cut"}

// String returns "eof", "failed", "closed", "cut", or "none" for the zero End.
func (e End) String() string {
	if int(e) < len(endNames) {
		return endNames[e]
	}
	return "End(" + strconv.Itoa(int(e)) + ")"
}

// Hooks is what a layer does as its body is read. A Body calls them; they
// must not call back into the Body's methods, except Cut from another
// goroutine.
type Hooks interface {
	// BeforeRead runs before each Read of the body below, outside the
	// Body's lock.
	BeforeRead()
	// AfterRead runs after each Read of the body below, under the Body's
	// lock (keep it short), with the bytes that Read returned and its
	// error; what it returns is what the caller's Read returns. ended is
	// how the body has ended already, or 0 while it is live; p is nil
	// once it has ended, as End has run, or is running, with what it saw.
	// AfterRead runs even then, so that a layer can still shape the error
	// of a Read its Cut interrupted.
	AfterRead(p []byte, err error, ended End) error
	// End runs once, outside the lock, when the body ends: how, and for
	// Failed the Read's error (after AfterRead), for Cut the error given
	// to Cut; nil otherwise. A Reporter registered by NotifyCut has been
	// told already.
	End(how End, err error)
}

// A Reporter hears how a watched body ended: cut (true) or otherwise (read
// to its end, failed, or closed). token is what it passed to
// [Notifier.NotifyCut]. The breaker's per-key entries are Reporters.
type Reporter interface {
	BodyDone(token uint64, cut bool)
}

// A Notifier is a body that may be cut: every [Body] (see
// [Body.NotifyCut]). A breaker uses it to count a response only once its
// body is done, as a failure if it was cut.
type Notifier interface {
	NotifyCut(r Reporter, token uint64) bool
}

// Body is the part of a response-body wrapper that every layer shares: it
// forwards Read and Close to the body below, calls the layer's [Hooks], and
// ends exactly once, whether a Read reaches the end, a Read fails, the
// caller closes the body (possibly from another goroutine while a Read
// waits, as http.Client does on timeout) or the layer cuts it. Close is
// idempotent: the body below is closed once.
//
// A layer embeds Body in its own struct and calls [Body.Watch] before
// handing the struct up. The zero Body is not ready for use.
type Body struct {
	rc    io.ReadCloser
	hooks Hooks
	mu    sync.Mutex
	// guarded by mu
	ended  End
	closed bool
	cuts   bool // the layer may Cut: hooks embeds a Cuttable
}

// A Cuttable holds the [Reporter] of a body whose layer may end it with
// [Body.Cut]: such a layer embeds a Cuttable next to its Body. It lives
// apart from Body so that the bodies of layers that never cut are three
// words smaller. Its zero value is ready; the Body's lock guards it.
type Cuttable struct {
	rep   Reporter
	token uint64
}

func (c *Cuttable) cuttable() *Cuttable { return c }

// cutter is a Hooks that embeds a Cuttable.
type cutter interface{ cuttable() *Cuttable }

// Watch makes b watch rc for h, which is usually the struct that embeds b.
// cuts says whether the layer may end the body with [Body.Cut] and wants a
// breaker above told how it ends (see [Body.NotifyCut]); h must then embed
// a [Cuttable].
func (b *Body) Watch(rc io.ReadCloser, h Hooks, cuts bool) {
	if _, ok := h.(cutter); cuts && !ok {
		panic("bodywatch: Watch(cuts=true) with hooks that do not embed a Cuttable")
	}
	b.rc, b.hooks, b.cuts = rc, h, cuts
}

// reporter returns the Reporter to tell and its token; the caller holds
// b.mu.
func (b *Body) reporter() (Reporter, uint64) {
	if !b.cuts {
		return nil, 0
	}
	c := b.hooks.(cutter).cuttable()
	return c.rep, c.token
}

// Read reads from the body below, between the hooks BeforeRead and
// AfterRead. The Read that returns io.EOF or another error ends the body.
func (b *Body) Read(p []byte) (int, error) {
	b.hooks.BeforeRead()
	n, err := b.rc.Read(p)
	b.mu.Lock()
	seen := p[:n]
	if b.ended != 0 {
		seen = nil
	}
	err = b.hooks.AfterRead(seen, err, b.ended)
	how := End(0)
	if err != nil && b.ended == 0 {
		how = Failed
		if err == io.EOF {
			how = EOF
		}
		b.ended = how
	}
	r, token := b.reporter()
	b.mu.Unlock()
	if how != 0 {
		if how == EOF {
			b.finish(how, nil, r, token)
		} else {
			b.finish(how, err, r, token)
		}
	}
	return n, err
}

// Close ends the body, if it has not ended, then closes the body below,
// once: a later Close returns nil. Ending first lets a layer release what
// the body below may wait on while it closes (a context). The body below
// is closed even when ending panics (a user's hook, a span processor):
// the panic goes on to the caller, the connection is not left open.
func (b *Body) Close() (err error) {
	defer func() {
		b.mu.Lock()
		closed := b.closed
		b.closed = true
		b.mu.Unlock()
		if !closed {
			err = b.rc.Close()
		}
	}()
	b.end(Closed, nil)
	return nil
}

// Cut ends the body as [Cut], with err, unless it has ended already, and
// reports whether it did. A layer calls it from its own goroutine (a
// timer); a Read that was waiting returns when the layer makes the body
// below fail, and its error goes through AfterRead as usual.
func (b *Body) Cut(err error) bool {
	return b.end(Cut, err)
}

// end ends the body as how unless it has ended, and reports whether it
// did.
func (b *Body) end(how End, err error) bool {
	b.mu.Lock()
	if b.ended != 0 {
		b.mu.Unlock()
		return false
	}
	b.ended = how
	r, token := b.reporter()
	b.mu.Unlock()
	b.finish(how, err, r, token)
	return true
}

// finish tells the Reporter, then the layer, how the body ended. It runs
// once, on the goroutine that ended the body, outside the lock. The layer
// hears it even if the Reporter panics (a user's hook it runs may): its
// span still ends and its context is still released.
func (b *Body) finish(how End, err error, r Reporter, token uint64) {
	defer b.hooks.End(how, err)
	if r != nil {
		r.BodyDone(token, how == Cut)
	}
}

// IfLive runs f under b's lock if b has not ended, and returns what f
// returns (false if b has ended). What f writes, the hooks read safely:
// AfterRead runs under the same lock and End after it.
func (b *Body) IfLive(f func() bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ended == 0 && f()
}

// NotifyCut asks b to tell r, once, how it ends (see [Reporter]), and
// reports whether it will. A body whose layer may cut it takes r unless it
// has ended; any other body passes the request to the body below it, so
// that a layer between a breaker and the one that cuts does not hide cuts.
// It reports false when nothing below may cut either.
func (b *Body) NotifyCut(r Reporter, token uint64) bool {
	if !b.cuts {
		if n, ok := b.rc.(Notifier); ok {
			return n.NotifyCut(r, token)
		}
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.hooks.(cutter).cuttable()
	if b.ended != 0 || c.rep != nil {
		return false
	}
	c.rep, c.token = r, token
	return true
}

// Watched is what a layer's body wrapper is: a ReadCloser that passes on
// [Notifier] requests. A struct that embeds [Body] is one.
type Watched interface {
	io.ReadCloser
	Notifier
}

// readWriter keeps the io.Writer of a 101 Switching Protocols body, which
// callers reach by type assertion.
type readWriter struct {
	Watched
	io.Writer
}

// Writable returns w, or, when below (the body w watches) is also an
// io.Writer, as a 101 Switching Protocols body is, w with below's Write.
func Writable(w Watched, below io.ReadCloser) io.ReadCloser {
	if bw, ok := below.(io.Writer); ok {
		return readWriter{w, bw}
	}
	return w
}

// Unwrap returns the Watched that rc is or that [Writable] made rc from, or
// nil.
func Unwrap(rc io.ReadCloser) Watched {
	switch w := rc.(type) {
	case readWriter:
		return w.Watched
	case Watched:
		return w
	}
	return nil
}

// Keep appends to buf what fits of p within limit bytes, and reports
// whether p did not fit whole. Layers use it to keep a bounded prefix of
// what the caller reads.
func Keep(buf, p []byte, limit int) ([]byte, bool) {
	room := limit - len(buf)
	if room < 0 {
		room = 0
	}
	if len(p) > room {
		return append(buf, p[:room]...), true
	}
	return append(buf, p...), false
}
