package resilienttest

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server is an httptest.Server on 127.0.0.1 that counts requests and
// connections and ends its blocking handlers when the test ends. Its
// methods are safe for concurrent use. Create it with [New] or
// [NewUnstarted]; the zero Server is not usable.
//
// Every request reaches the handler with a context that is canceled when
// the client goes away, when the test ends or when [Server.Close] is
// called, whichever comes first. The server's error log is discarded
// (resets and aborted handlers are the point here, not news).
type Server struct {
	*httptest.Server

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	hits   atomic.Int64

	mu    sync.Mutex
	conns int                         // connections accepted so far
	open  map[net.Conn]http.ConnState // tracked connections, by state
	peak  int                         // most connections open at once
}

// New starts a Server running h (HTTP/1.1, no TLS) and registers its
// Close with t.Cleanup.
func New(t testing.TB, h http.Handler) *Server {
	t.Helper()
	s := NewUnstarted(t, h)
	s.Start()
	return s
}

// NewUnstarted returns a Server running h that is not started yet, so
// that its Config (IdleTimeout, say) or EnableHTTP2 can be set first;
// start it with Start or StartTLS (EnableHTTP2 with StartTLS serves
// HTTP/2). Its Close is registered with t.Cleanup, started or not.
func NewUnstarted(t testing.TB, h http.Handler) *Server {
	t.Helper()
	s := &Server{open: make(map[net.Conn]http.ConnState)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(s.ctx, cancel)
		defer stop()
		h.ServeHTTP(w, r.WithContext(ctx))
	}))
	// httptest chains its own ConnState hook in front of this one.
	s.Config.ConnState = s.connState
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(s.Close)
	return s
}

// Close ends every handler still running (their request contexts are
// canceled, which [Server.Done] reports), then closes the server and
// waits for its handlers, as httptest.Server.Close does. It may be called
// more than once.
func (s *Server) Close() {
	s.cancel()
	s.Server.Close()
}

// Done returns a channel that is closed when the test ends or Close is
// called, before the server waits for its handlers: a handler of a test's
// own that blocks on something other than its request's context should
// select on it too.
func (s *Server) Done() <-chan struct{} { return s.ctx.Done() }

// Hits returns how many requests have reached the handler.
func (s *Server) Hits() int { return int(s.hits.Load()) }

// Conns returns how many TCP connections the server has accepted.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Open returns how many connections are open now, as the server sees them.
// A hijacked connection stops counting when it is hijacked: the handlers
// of this package that hijack close it at once (or at the end of the test).
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// PeakOpen returns the largest number of connections that were open at
// once.
func (s *Server) PeakOpen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// CloseIdle closes the connections that are idle between requests (as a
// server's idle timeout or a load balancer would, without telling the
// client) and returns how many it closed. A client that sends its next
// request on one of them meets a stale connection.
func (s *Server) CloseIdle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c, st := range s.open {
		if st == http.StateIdle {
			c.Close() // the server reports StateClosed later, which removes it
			n++
		}
	}
	return n
}

func (s *Server) connState(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st {
	case http.StateNew:
		s.conns++
		s.open[c] = st
		s.peak = max(s.peak, len(s.open))
	case http.StateActive, http.StateIdle:
		s.open[c] = st
	case http.StateHijacked, http.StateClosed:
		delete(s.open, c)
	}
}

// Eventually polls cond every millisecond until it holds or timeout has
// passed, and reports whether it held: for counts that settle after the
// fact, such as Open after a client closed its connections, or
// runtime.NumGoroutine after a run.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// Within runs f and fails the test if f has not returned after d, so that
// a hang or a deadlock shows as a failure rather than a stuck suite. f
// runs on a goroutine of its own; a test that fails this way leaves it
// behind until whatever blocks it ends (the test's servers close at
// cleanup).
func Within(t testing.TB, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("still running after %v: a hang", d)
	}
}
